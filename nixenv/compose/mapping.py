"""A loaded compose `Project` -> nixenv.toml `[services]` tables, secrets to store, a report.

Pure: reads the Dockerfiles and scripts the compose file points at, writes nothing. Service
hostnames become 127.0.0.1 and the port the service really gets natively, written as
`${services.NAME.port}` (expanded by the services pipeline when it starts the service).
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from nixenv.compose.dockerfile import Dockerfile, expand_args, read_dockerfile
from nixenv.compose.images import ImageRef, PresetMatch, parse_image, preset_for, runtime_for, suggestion_for
from nixenv.compose.model import ComposeService, Project, Volume, parse_duration
from nixenv.config.load import ENV_NAME, RESERVED_ENV, SIGNALS, service_name_problem
from nixenv.config.presets import ALIASES, PRESETS

# names whose values are credentials: they go to the encrypted secrets file, never to nixenv.toml
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE|CREDENTIAL|API_?KEY|ACCESS_KEY|_KEY$|^KEY$|_PASS$|_PWD$",
                         re.IGNORECASE)
# a command that finishes (a migration, a build step): a one-shot task, not a restarting server
ONE_SHOT_COMMAND = re.compile(
    r"\b(migrate|collectstatic|db:migrate|db:setup|db:prepare|alembic\s+upgrade|flask\s+db\s+upgrade|"
    r"prisma\s+(migrate|db\s+push)|knex\s+migrate|sequelize\s+db:migrate|typeorm\s+migration:run|loaddata|"
    r"compilemessages|npm\s+(ci|install)|yarn\s+install|pnpm\s+install|pip\s+install)\b")
_SYSTEM_DIRS = ("/usr/local/bin/", "/usr/local/sbin/", "/usr/bin/", "/usr/sbin/", "/bin/", "/sbin/")
_HOST_FLAG = re.compile(r"^(--?[A-Za-z-]*host(name)?|-h|-H)$", re.IGNORECASE)
_HOSTISH = re.compile(r"HOST|SERVER|ADDR|_URL$|_DSN$|ENDPOINT|BROKER", re.IGNORECASE)
_HOSTLIKE_SUFFIXES = ("_HOST", "_HOSTNAME", "_SERVER", "_ADDR", "_ADDRESS")

# what a preset's image reads from its environment: (users, passwords, databases) per preset
_PRESET_ENV: dict[str, dict[str, tuple[str, ...]]] = {
    "postgres": {"user": ("POSTGRES_USER", "POSTGRESQL_USERNAME"),
                 "password": ("POSTGRES_PASSWORD", "POSTGRESQL_PASSWORD"),
                 "database": ("POSTGRES_DB", "POSTGRESQL_DATABASE")},
    "mysql": {"user": ("MYSQL_USER", "MARIADB_USER"), "password": ("MYSQL_PASSWORD", "MARIADB_PASSWORD"),
              "database": ("MYSQL_DATABASE", "MARIADB_DATABASE")},
    "rabbitmq": {"user": ("RABBITMQ_DEFAULT_USER", "RABBITMQ_USERNAME"),
                 "password": ("RABBITMQ_DEFAULT_PASS", "RABBITMQ_PASSWORD"), "database": ()},
}
# read by the image's entrypoint only; nothing to carry over, nothing to report
_PRESET_ENV_SILENT = frozenset({"PGDATA", "ALLOW_EMPTY_PASSWORD", "TZ", "LANG", "LC_ALL", "POSTGRES_HOST_AUTH_METHOD",
                                "MYSQL_ALLOW_EMPTY_PASSWORD", "MARIADB_ALLOW_EMPTY_ROOT_PASSWORD",
                                "MYSQL_RANDOM_ROOT_PASSWORD", "MARIADB_RANDOM_ROOT_PASSWORD"})

# compose keys that need nothing natively (or are read elsewhere in this module)
_HANDLED = frozenset({
    "image", "build", "command", "entrypoint", "environment", "env_file", "ports", "expose", "depends_on",
    "healthcheck", "volumes", "profiles", "restart", "stop_signal", "stop_grace_period", "working_dir",
    "container_name", "hostname", "links", "labels", "tty", "stdin_open", "init", "develop", "pull_policy",
    "platform", "logging", "extends", "annotations", "label_file",
})
_REASONS = {
    "networks": "natively every service shares the host's network and reaches the others on 127.0.0.1: nothing to do",
    "network_mode": "natively every service shares the host's network: nothing to do",
    "user": "a native service runs as you, not as a container user: nothing to do unless it needs another account",
    "cap_add": "container capabilities do not apply to a native process (it has your privileges)",
    "cap_drop": "container capabilities do not apply to a native process (it has your privileges)",
    "privileged": "a native process has your privileges, no more: run what needs root separately",
    "security_opt": "container security options do not apply natively",
    "devices": "devices are the host's own natively: nothing to do",
    "deploy": "resource limits and replicas are not applied to native services",
    "mem_limit": "memory limits are not applied to native services",
    "mem_reservation": "memory limits are not applied to native services",
    "memswap_limit": "memory limits are not applied to native services",
    "cpus": "CPU limits are not applied to native services",
    "cpu_shares": "CPU limits are not applied to native services",
    "cpuset": "CPU limits are not applied to native services",
    "ulimits": "set limits in the command (`ulimit -n 65536; exec ...`) if it needs them",
    "shm_size": "a native process uses the host's /dev/shm: nothing to do",
    "sysctls": "kernel settings are the host's natively",
    "extra_hosts": "add the names to /etc/hosts, or use 127.0.0.1",
    "dns": "the host's DNS is used natively",
    "dns_search": "the host's DNS is used natively",
    "tmpfs": "use a directory under .nixenv/ (or $TMPDIR) instead",
    "secrets": "compose mounts these as files under /run/secrets: store them with `nixenv secrets set NAME` "
               "and read them from the environment",
    "configs": "compose mounts these as files: point the service at the file in the project instead",
    "volumes_from": "natively the services share the filesystem: nothing to do",
    "external_links": "point the service at 127.0.0.1 and the other project's port",
    "read_only": "a read-only root filesystem has no native equivalent",
    "pid": "no native equivalent", "ipc": "no native equivalent", "userns_mode": "no native equivalent",
    "group_add": "a native service runs with your groups", "gpus": "the host's GPUs are used natively",
    "runtime": "no native equivalent", "isolation": "no native equivalent", "cgroup_parent": "no native equivalent",
    "scale": "nixenv runs one instance of each service", "oom_score_adj": "no native equivalent",
    "domainname": "no native equivalent", "mac_address": "no native equivalent", "storage_opt": "no native equivalent",
}


@dataclass(frozen=True)
class Note:
    """One report line: what a compose service became, or one thing not carried over."""
    service: str
    text: str
    kind: str = "info"  # became | skipped | secret | info

    def __str__(self) -> str:
        return f"{self.service}: {self.text}" if self.service else self.text


@dataclass(frozen=True)
class MappingResult:
    services: Mapping[str, Mapping[str, Any]]  # [services.NAME] tables, plain data
    secrets: Mapping[str, str]  # NAME -> value, for the encrypted secrets file
    notes: tuple[Note, ...]

    @property
    def report(self) -> list[str]:
        return [str(note) for note in self.notes]


@dataclass(frozen=True)
class _Kind:
    kind: str  # preset | app | unmapped
    preset: PresetMatch | None = None
    dockerfile: Dockerfile | None = None
    image: ImageRef | None = None
    why: str = ""  # for `preset`: where it came from (image, or the Dockerfile's FROM)


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name))


def map_project(project: Project, *, secrets_enabled: bool = False) -> MappingResult:
    return _Mapper(project, secrets_enabled).run()


class _Mapper:
    def __init__(self, project: Project, secrets_enabled: bool):
        self.project = project
        self.root = project.root
        self.secrets_enabled = secrets_enabled
        self.notes: list[Note] = []
        self.secrets: dict[str, str] = {}
        self.secret_owner: dict[str, str] = {}
        self.kinds = {name: self._classify(svc) for name, svc in project.services.items()}
        self.out: dict[str, dict[str, Any]] = {}
        # hostnames of every compose service -> its name
        self.hosts: dict[str, str] = {}
        for name, svc in project.services.items():
            for host in (name, *svc.hostnames):
                self.hosts.setdefault(host, name)
        self.ports: dict[str, int] = {}  # fixed native ports of app services
        self.waits_noted = False

    # ----------------------------------------------------------------- classification

    def _classify(self, svc: ComposeService) -> _Kind:
        if svc.build is not None:
            dockerfile = read_dockerfile(svc.build.dockerfile, svc.build.dockerfile_inline)
            if dockerfile and dockerfile.first_from:
                args = {k: str(v) for k, v in _build_args(svc).items() if v is not None}
                base = parse_image(expand_args(dockerfile.first_from, args))
                match = preset_for(base)
                if match is not None:
                    return _Kind("preset", match, dockerfile, base, f"build from {base.repository}:{base.tag}")
            return _Kind("app", dockerfile=dockerfile)
        if svc.image:
            ref = parse_image(svc.image)
            match = preset_for(ref)
            if match is not None:
                return _Kind("preset", match, image=ref, why=f"image {svc.image}")
            if runtime_for(ref) and (svc.command or svc.entrypoint):
                return _Kind("app", image=ref)
            return _Kind("unmapped", image=ref)
        return _Kind("unmapped")

    # ----------------------------------------------------------------- driver

    def run(self) -> MappingResult:
        services = self.project.services
        for name, svc in services.items():
            problem = service_name_problem(name)
            if problem:
                self.kinds[name] = _Kind("unmapped")
                self.note(name, f"not imported: {problem}; rename it", "skipped")
        for name, svc in services.items():
            kind = self.kinds[name]
            if kind.kind == "app":
                port = self._app_port(svc)
                if port is not None:
                    owner = next((n for n, p in self.ports.items() if p == port), None)
                    if owner:
                        self.note(name, f"port {port} is also {owner}'s: it gets no fixed port; change its command "
                                  "to listen on $PORT and set `port`", "info")
                    else:
                        self.ports[name] = port
        oneshots = {dep for svc in services.values() for dep, cond in svc.depends_on.items()
                    if cond == "service_completed_successfully"}
        for name, svc in services.items():
            kind = self.kinds[name]
            if kind.kind == "preset":
                table = self._preset(svc, kind)
            elif kind.kind == "app":
                table = self._app(svc, kind, oneshot=name in oneshots)
            else:
                table = None
                self._unmapped(svc, kind)
            if table is not None:
                self.out[name] = table
        for name, table in self.out.items():
            self._depends(services[name], table)
            self._other_keys(services[name])
        self._use_preset_exports()
        for name, profiles in self.project.inactive.items():
            self.note(name, f"not imported: only in profile {', '.join(profiles)} (compose starts it with "
                      f"`--profile {profiles[0]}`); re-run with `--profile {profiles[0]}` to import it", "skipped")
        for warning in self.project.warnings:
            self.note("", f"compose: {warning}", "info")
        order = {"became": 0, "secret": 1, "info": 1, "skipped": 1}
        notes = sorted(enumerate(self.notes), key=lambda item: (self._service_index(item[1].service),
                                                                 order[item[1].kind], item[0]))
        return MappingResult(self.out, dict(self.secrets), tuple(n for _, n in notes))

    def _use_preset_exports(self) -> None:
        """A service's DATABASE_URL / REDIS_URL ... that names what a preset exports anyway (the
        same user and database) is left to the preset: its export carries the real port and the
        password from the secrets, and nixenv.toml then holds no password."""
        url = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*)://(?:(?P<user>[^:@/]+)(?::[^@/]*)?@)?127\.0\.0\.1:"
                         r"\$\{services\.(?P<target>[^}]+)\.port\}(?:/(?P<path>[^?#]*))?\Z")
        for name, table in self.out.items():
            env = table.get("env") or {}
            for variable, value in list(env.items()):
                match = url.match(value)
                target = self.out.get(match.group("target")) if match else None
                if not match or not target or "preset" not in target:
                    continue
                preset = ALIASES.get(target["preset"], target["preset"])
                exported = {target.get("export", {}).get(n, n) for n in PRESETS[preset].exports}
                if variable not in exported:
                    continue
                databases = target.get("databases") or []
                users = target.get("users") or []
                database = databases[0] if databases else None
                owner = next((u for u in users if database in u.get("databases", [])), users[0] if users else None)
                path = match.group("path") or ""
                same = (path in ("", "0") if preset in ("redis", "valkey") else
                        path == (database or "") and match.group("user") == (owner or {}).get("name"))
                if same:
                    del env[variable]
                    self.note(name, f"{variable}: the {match.group('target')} preset exports it (to the shell and "
                              "every service) with its real port and the password from the secrets; not written "
                              "in nixenv.toml", "info")
            if "env" in table and not table["env"]:
                del table["env"]

    def _service_index(self, name: str) -> int:
        names = list(self.project.services) + list(self.project.inactive)
        return names.index(name) if name in names else len(names)

    def note(self, service: str, text: str, kind: str = "info") -> None:
        self.notes.append(Note(service, text, kind))

    # ----------------------------------------------------------------- presets

    def _preset(self, svc: ComposeService, kind: _Kind) -> dict[str, Any] | None:
        match = kind.preset
        assert match is not None
        schema = PRESETS[ALIASES.get(match.preset, match.preset)]
        table: dict[str, Any] = {"preset": match.preset}
        if match.version:
            table["version"] = match.version
        if match.extensions:
            table["extensions"] = list(match.extensions)
        if match.note:
            self.note(svc.name, f"version: {match.note}")
        details: list[str] = []
        self._preset_env(svc, schema.name, table, details)
        self._preset_command(svc, schema.name, table)
        self._preset_volumes(svc, schema.name, table, kind)
        if schema.name == "nginx" and "config_file" not in table:
            self.note(svc.name, "not imported: an nginx preset needs its configuration, and no nginx.conf is mounted "
                      "from the project; add [services.%s] preset = \"nginx\" with config_file = \"PATH\"" % svc.name,
                      "skipped")
            return None
        if svc.ports:
            published = ", ".join(p.published or str(p.target) for p in svc.ports)
            details.append(f"port chosen per project (compose published {published}; `nixenv services status` "
                           "shows it, the shell has it in the preset's variables)")
        if svc.healthcheck is not None:
            details.append("readiness: the preset's own check (the healthcheck is not needed)")
        self._stop(svc, table)
        version = f" {match.version}" if match.version else ""
        self.note(svc.name, f"{kind.why} -> preset {match.preset}{version}" +
                  (f": {'; '.join(details)}" if details else ""), "became")
        return table

    def _preset_env(self, svc: ComposeService, preset: str, table: dict[str, Any], details: list[str]) -> None:
        keys = _PRESET_ENV.get(preset, {"user": (), "password": (), "database": ()})
        env = dict(svc.environment)
        pick = lambda names: next((env[n] for n in names if env.get(n)), None)  # noqa: E731
        user = pick(keys["user"])
        password_name = next((n for n in keys["password"] if env.get(n)), None)
        database = pick(keys["database"])
        if preset == "postgres" and (user or password_name) and not database:
            database = user or "postgres"  # the postgres image's default: POSTGRES_DB = POSTGRES_USER
        if database:
            table["databases"] = [database]
            details.append(f"database {database}")
        if user or password_name:
            name = user or {"postgres": "postgres", "rabbitmq": "guest", "mysql": None}.get(preset)
            if name is None:
                self.note(svc.name, f"{password_name} has no user to go with (MYSQL_USER): it is the root "
                          "password; not carried over, the preset manages root")
            else:
                entry: dict[str, Any] = {"name": name}
                if password_name:
                    secret = self._secret(svc.name, password_name, env[password_name], user_of=name)
                    entry["password_env"] = secret
                if database and preset != "rabbitmq":
                    entry["databases"] = [database]
                table["users"] = [entry]
                details.append(f"user {name}")
        consumed = {n for group in keys.values() for n in group}
        unread: list[str] = []
        for name, value in env.items():
            if name in consumed or name in _PRESET_ENV_SILENT:
                continue
            if name.endswith("ROOT_PASSWORD") or name.endswith("POSTGRES_PASSWORD"):
                self.note(svc.name, f"{name}: not carried over: the preset manages its administrator account "
                          "(nixenv creates the users listed in `users`)")
            elif name.endswith("_FILE"):
                self.note(svc.name, f"{name}: a password file inside the container; store the password with "
                          f"`nixenv secrets set NAME` and use `password_env` in `users`")
            else:
                unread.append(name)
        if unread:
            self.note(svc.name, f"{', '.join(unread)}: container environment the {preset} preset does not read; "
                      "not carried over (server settings go in `settings`)")

    def _preset_command(self, svc: ComposeService, preset: str, table: dict[str, Any]) -> None:
        if svc.command is None and svc.entrypoint is None:
            return
        words = svc.command if isinstance(svc.command, list) else shlex.split(svc.command or "")
        settings: dict[str, Any] = {}
        rest: list[str] = []
        if preset == "postgres" and words[:1] == ["postgres"]:
            words = words[1:]
            index = 0
            while index < len(words):
                word = words[index]
                if word == "-c" and index + 1 < len(words) and "=" in words[index + 1]:
                    key, _, value = words[index + 1].partition("=")
                    settings[key] = _setting(value)
                    index += 2
                elif word.startswith("-c") and "=" in word[2:]:
                    key, _, value = word[2:].partition("=")
                    settings[key] = _setting(value)
                    index += 1
                else:
                    rest.append(word)
                    index += 1
        elif preset in ("redis", "valkey") and words[:1] in (["redis-server"], ["valkey-server"]):
            words = words[1:]
            index = 0
            while index < len(words):
                word = words[index]
                if word.startswith("--"):
                    values = []
                    index += 1
                    while index < len(words) and not words[index].startswith("--"):
                        values.append(words[index])
                        index += 1
                    if is_secret_name(word[2:]) or word == "--requirepass":
                        self.note(svc.name, f"{word}: a password in the command is not carried over; "
                                  "configure it with `settings` from a secret by hand")
                        continue
                    settings[word[2:]] = _setting(" ".join(values))
                else:
                    rest.append(word)
                    index += 1
        else:
            rest = list(words)
        if svc.entrypoint is not None:
            self.note(svc.name, "entrypoint: not carried over (the preset starts the server itself)")
        if settings:
            table["settings"] = settings
        if rest:
            self.note(svc.name, f"command {shlex.join(rest)!r}: not carried over (the preset starts the server "
                      "itself); put server settings in `settings`")

    def _preset_volumes(self, svc: ComposeService, preset: str, table: dict[str, Any], kind: _Kind) -> None:
        init_sql: list[str] = []
        initdb = "/docker-entrypoint-initdb.d"
        if kind.dockerfile is not None and svc.build is not None:
            for target, source in kind.dockerfile.copies.items():
                if target.startswith(initdb):
                    self._init_file(svc, svc.build.context / source, init_sql)
        for volume in svc.volumes:
            if volume.type == "volume":
                continue  # the preset keeps its data in its own directory under .nixenv/
            if volume.type != "bind" or not volume.source:
                self.note(svc.name, f"volume {volume.target} ({volume.type}): not carried over")
                continue
            source = Path(volume.source)
            if preset in ("postgres", "mysql") and (volume.target == initdb or volume.target.startswith(initdb + "/")):
                self._init_file(svc, source, init_sql)
            elif preset == "nginx" and volume.target.startswith("/etc/nginx/") and source.is_file() \
                    and source.suffix == ".conf" and self._inside(source) and "config_file" not in table:
                table["config_file"] = self._rel(source)
                if volume.target != "/etc/nginx/nginx.conf":
                    self.note(svc.name, f"config_file {self._rel(source)} was mounted at {volume.target} (a server "
                              "block, not a whole nginx.conf): check it suits the preset; its upstream hostnames "
                              "must become 127.0.0.1 and the services' ports")
                else:
                    self.note(svc.name, f"config_file {self._rel(source)}: its upstream hostnames must become "
                              "127.0.0.1 and the services' ports")
            elif self._is_data_dir(preset, volume):
                self.note(svc.name, f"bind mount {volume.source}:{volume.target}: the preset keeps its data under "
                          ".nixenv/ (the old data is not moved)")
            else:
                self.note(svc.name, f"bind mount {volume.source}:{volume.target}: not carried over (a file inside "
                          f"the container); use `settings` or `init_sql` for what it did")
        if init_sql:
            table["init_sql"] = init_sql

    def _init_file(self, svc: ComposeService, source: Path, init_sql: list[str]) -> None:
        files = sorted(source.iterdir()) if source.is_dir() else [source]
        for file in files:
            if file.suffix == ".sql" and self._inside(file):
                init_sql.append(self._rel(file))
            else:
                self.note(svc.name, f"init script {self._rel(file) if self._inside(file) else file}: only .sql files "
                          "inside the project become `init_sql`; run it by hand or as a one-shot service")

    @staticmethod
    def _is_data_dir(preset: str, volume: Volume) -> bool:
        return volume.target.rstrip("/") in ("/var/lib/postgresql/data", "/var/lib/postgresql", "/var/lib/mysql",
                                             "/data", "/var/lib/rabbitmq", "/bitnami/postgresql", "/bitnami")

    # ----------------------------------------------------------------- app services

    def _app_port(self, svc: ComposeService) -> int | None:
        tcp = [p for p in svc.ports if p.protocol == "tcp"]
        if tcp:
            return tcp[0].target
        return svc.expose[0] if svc.expose else None

    def _app(self, svc: ComposeService, kind: _Kind, *, oneshot: bool) -> dict[str, Any] | None:
        dockerfile = kind.dockerfile
        entrypoint = svc.entrypoint if svc.entrypoint is not None else (dockerfile.entrypoint if dockerfile else None)
        if svc.command is not None:
            command = svc.command
        else:
            command = dockerfile.cmd if dockerfile and svc.entrypoint is None else None
        if entrypoint in ("", []):
            entrypoint = None
        # docker: a shell-form ENTRYPOINT runs as `sh -c` and ignores CMD and command
        parts = [entrypoint] if isinstance(entrypoint, str) and svc.entrypoint is None else [entrypoint, command]
        text = " ".join(shlex.join(p) if isinstance(p, list) else str(p) for p in parts if p not in (None, "", []))
        if not text.strip():
            self.note(svc.name, "not imported: no command (neither the compose file nor its Dockerfile gives one); "
                      f"add [services.{svc.name}] command = \"...\"", "skipped")
            return None
        table: dict[str, Any] = {}
        mounts = self._source_mounts(svc)
        cwd = self._cwd(svc, dockerfile, mounts)
        text = self._native_paths(svc, text, dockerfile, mounts, cwd)
        text = self._rewrite(svc.name, text, in_command=True)
        table["command"] = text
        if cwd != ".":
            table["cwd"] = cwd
        port = self.ports.get(svc.name)
        if port is not None:
            table["port"] = port
        extra_ports = [p for p in svc.ports if p.target != port]
        for p in extra_ports:
            self.note(svc.name, f"port {p.target}: only one port per service is carried over ({port}); "
                      "reach the other one on 127.0.0.1 directly")
        for p in svc.ports:
            if p.target == port and p.published and p.published != str(port):
                self.note(svc.name, f"port: compose published {port} as {p.published}; natively it is {port}")
        env = self._app_env(svc, table)
        if env:
            table["env"] = env
        restart = svc.restart
        if not oneshot and restart in (None, "no") and ONE_SHOT_COMMAND.search(text) and restart is None:
            oneshot = True
            self.note(svc.name, "a one-shot task (its command finishes: a migration or install step); "
                      "dependants wait for it to exit 0")
        if oneshot:
            table["oneshot"] = True
        else:
            self._restart(svc, table)
            self._ready(svc, table)
        self._stop(svc, table)
        self._volumes(svc, mounts)
        origin = "build " + self._rel(svc.build.context) if svc.build else f"image {svc.image}"
        what = "one-shot task" if oneshot else "service"
        self.note(svc.name, f"{origin} -> {what} `{text}`" + (f" on port {port}" if port else "") +
                  (f" in {cwd}" if cwd != "." else ""), "became")
        if kind.image is not None:
            runtime = runtime_for(kind.image)
            self.note(svc.name, f"image {svc.image}: the command runs natively; the devshell needs {runtime} "
                      f"({kind.image.tag}) ([python]/[node] or [packages] in nixenv.toml)")
        return table

    def _source_mounts(self, svc: ComposeService) -> list[tuple[str, Path]]:
        """Bind mounts of the project's own files: container path -> host path."""
        return sorted(((v.target.rstrip("/") or "/", Path(v.source)) for v in svc.volumes
                       if v.type == "bind" and v.source and self._inside(Path(v.source))),
                      key=lambda m: -len(m[0]))

    def _cwd(self, svc: ComposeService, dockerfile: Dockerfile | None, mounts: list[tuple[str, Path]]) -> str:
        workdir = svc.working_dir or (dockerfile.workdir if dockerfile else None)
        if workdir:
            host = _host_path(workdir, mounts)
            if host is not None:
                return self._rel(host)
        if svc.build is not None and self._inside(svc.build.context):
            if workdir:
                self.note(svc.name, f"working directory {workdir} is not mounted from the project: the command "
                          f"runs in the build context {self._rel(svc.build.context)}")
            return self._rel(svc.build.context)
        return "."

    def _native_paths(self, svc: ComposeService, text: str, dockerfile: Dockerfile | None,
                      mounts: list[tuple[str, Path]], cwd: str) -> str:
        """Container paths in the command -> the project's files (bind mounts, then COPY sources)."""
        try:
            words = shlex.split(text)
        except ValueError:
            return text
        base = self.root / cwd
        replaced: dict[str, str] = {}
        for index, word in enumerate(words):
            if not word.startswith("/") or word in replaced:
                continue
            host = _host_path(word, mounts)
            via = "bind mount"
            if host is None and dockerfile is not None and svc.build is not None:
                source = dockerfile.copies.get(word)
                if source is not None:
                    host = (svc.build.context / source).resolve()
                    via = f"COPY in {self._rel(svc.build.dockerfile) if svc.build.dockerfile else 'the Dockerfile'}"
            if host is not None and self._inside(host):
                rel = os.path.relpath(host, base)
                native = rel if "/" in rel else f"./{rel}"
                if host.is_file() and not os.access(host, os.X_OK):
                    interpreter = _interpreter(host)
                    native = f"{interpreter} {shlex.quote(native)}" if interpreter else native
                replaced[word] = native
                self.note(svc.name, f"`{word}` is the container's copy of {self._rel(host)} ({via}): the command "
                          f"runs `{native}` from the project; check that script for container paths and hostnames")
            elif index == 0 and word.startswith(_SYSTEM_DIRS):
                replaced[word] = shlex.quote(word.rsplit("/", 1)[-1])
                self.note(svc.name, f"`{word}`: a program of the image; natively `{replaced[word]}` from the devshell's "
                          "PATH (add its package to [packages] if it is missing)")
            elif index == 0:
                self.note(svc.name, f"`{word}` points into the container and its source was not found "
                          "(no bind mount or COPY of it): write the native command in nixenv.toml")
        if not replaced:
            return text
        for old, new in replaced.items():
            text = re.sub(r"(?<![^\s'\"=])" + re.escape(old) + r"(?![^\s'\";])", lambda _: new, text)
        return text

    def _volumes(self, svc: ComposeService, mounts: list[tuple[str, Path]]) -> None:
        for volume in svc.volumes:
            if volume.type == "bind" and volume.source and self._inside(Path(volume.source)):
                continue  # the source tree itself: native processes already see it
            if volume.type == "bind":
                self.note(svc.name, f"bind mount {volume.source}:{volume.target}: outside the project; natively "
                          f"the service sees {volume.source} itself, not at {volume.target}")
            elif volume.source is None:
                self.note(svc.name, f"anonymous volume {volume.target}: not needed natively (it hid part of the "
                          "mounted source tree in the container)")
            else:
                self.note(svc.name, f"volume {volume.source}:{volume.target}: not carried over; keep its data in a "
                          "directory of the project (e.g. under .nixenv/) and point the service at it")

    # ----------------------------------------------------------------- environment

    def _app_env(self, svc: ComposeService, table: dict[str, Any]) -> dict[str, str]:
        env: dict[str, str] = {}
        original = dict(svc.environment)
        for name, value in original.items():
            where = svc.env_sources.get(name, "environment")
            if where.startswith("env_file "):
                where = "env_file " + self._rel(Path(where[9:]))
            if value is None:
                self.note(svc.name, f"{name} ({where}): no value in compose (docker takes it from the shell); "
                          "set it in [env], a dotenv file or the secrets")
                continue
            if not ENV_NAME.match(name):
                self.note(svc.name, f"{name}: not a variable name nixenv can set; not carried over")
                continue
            if name == "PORT" and value.isdigit():
                if "port" not in table:
                    table["port"] = int(value)
                    self.ports[svc.name] = int(value)
                    self.note(svc.name, f"PORT={value}: became the service's port (nixenv exports it as PORT)")
                elif str(table["port"]) != value:
                    self.note(svc.name, f"PORT={value}: nixenv sets PORT to the service's port {table['port']}")
                continue
            if name in RESERVED_ENV:
                self.note(svc.name, f"{name}: managed by nixenv or the shell, not carried over")
                continue
            if value and is_secret_name(name):
                self._secret(svc.name, name, value, source=where)
                continue
            new = self._rewrite(svc.name, value, in_command=False, variable=name)
            if new is None:
                continue
            env[name] = new
            if re.search(r"://[^/@\s:]+:[^/@\s]+@", value):
                self.note(svc.name, f"{name} holds a password inside its URL: it stays in nixenv.toml as it was in "
                          "the compose file; move it to the secrets (`nixenv secrets set`) if it is a real one")
        # NAME_PORT next to a NAME_HOST that named a service: that service's port
        for name, value in list(env.items()):
            if not (name.endswith("_PORT") and value.isdigit()):
                continue
            prefix = name[:-5]
            host_value = next((original.get(prefix + s) for s in _HOSTLIKE_SUFFIXES if original.get(prefix + s)), None)
            target = self.hosts.get(host_value or "")
            if target is not None:
                env[name] = self._port_expr(svc.name, target, int(value))
        return env

    def _secret(self, service: str, name: str, value: str, *, source: str = "environment",
                user_of: str | None = None) -> str:
        """Record a secret; returns the name it is stored under."""
        stored = name
        if self.secrets.get(name) == value:
            return name  # the same secret as another service's: stored (and reported) once
        if name in self.secrets:
            stored = re.sub(r"[^A-Z0-9_]", "_", f"{service}_{name}".upper())
            if not user_of:
                self.note(service, f"{name}: {self.secret_owner[name]} has another value under that name; "
                          f"stored as {stored}: the service reads {name}, so set it in its env by hand", "secret")
        self.secrets[stored] = value
        self.secret_owner.setdefault(stored, service)
        what = f"the password of user {user_of}" if user_of else f"{name} ({source})"
        if self.secrets_enabled:
            self.note(service, f"{what}: stored in the encrypted secrets file as {stored}, not in nixenv.toml",
                      "secret")
        else:
            self.note(service, f"{what}: a secret, left out of nixenv.toml; run `nixenv secrets init`, then "
                      f"`nixenv import compose --force` to store it (or `nixenv secrets set {stored}`)", "secret")
        return stored

    # ----------------------------------------------------------------- hostnames

    def _port_expr(self, service: str, target: str, port: int) -> str:
        kind = self.kinds.get(target)
        if kind is not None and kind.kind != "unmapped":
            if kind.kind == "preset":
                schema = PRESETS[ALIASES.get(kind.preset.preset, kind.preset.preset)]
                known = {schema.default_port, *(p.target for p in self.project.services[target].ports)}
                if port in known:
                    return f"${{services.{target}.port}}"
                self.note(service, f"{target}:{port}: the {schema.name} preset serves one port (its main one); "
                          f"{port} is left as is")
                return str(port)
            if self.ports.get(target) == port:
                return f"${{services.{target}.port}}"
        return str(port)

    def _rewrite(self, service: str, text: str, *, in_command: bool, variable: str = "") -> str:
        if not self.hosts:
            return text
        names = "|".join(re.escape(h) for h in sorted(self.hosts, key=len, reverse=True))
        host = rf"(?<![\w.-])(?P<host>{names})(?![\w-]|\.[\w-])"
        missing: set[str] = set()

        def target_of(name: str) -> str:
            target = self.hosts[name]
            if self.kinds[target].kind == "unmapped":
                missing.add(target)
            return target

        def host_port(match: re.Match) -> str:
            target = target_of(match.group("host"))
            return "127.0.0.1:" + self._port_expr(service, target, int(match.group("port")))

        def url_host(match: re.Match) -> str:
            target = target_of(match.group("host"))
            kind = self.kinds[target]
            suffix = ""
            if kind.kind == "preset":
                suffix = f":${{services.{target}.port}}"
            return match.group("pre") + "127.0.0.1" + suffix

        new = re.sub(host + r":(?P<port>\d+)\b", host_port, text)
        new = re.sub(r"(?P<pre>://(?:[^/@\s]*@)?)" + host + r"(?=[/?#\s\"']|$)", url_host, new)
        # a bare value equal to a service name is a hostname only in a variable named like one
        # (DB_HOST=postgres), not QUEUE=beat next to a service called beat
        if not in_command and new == text and text in self.hosts and _HOSTISH.search(variable):
            target_of(text)
            new = "127.0.0.1"
        if in_command:
            try:
                words = shlex.split(new)
            except ValueError:
                words = []
            for index, word in enumerate(words[:-1]):
                flag, _, inline = word.partition("=")
                if _HOST_FLAG.match(flag):
                    value = inline or words[index + 1]
                    if value in self.hosts:
                        target_of(value)
                        new = re.sub(rf"(?<=[\s=]){re.escape(value)}(?![\w.-])", "127.0.0.1", new, count=1)
        for target in sorted(missing):
            self.note(service, f"refers to {target}, which was not imported: it expects it on 127.0.0.1 "
                      "(import or run it yourself)")
        return new

    # ----------------------------------------------------------------- the rest

    def _unmapped(self, svc: ComposeService, kind: _Kind) -> None:
        if kind.image is None:
            if not any(n.service == svc.name and n.kind == "skipped" for n in self.notes):
                self.note(svc.name, "not imported: neither an image nor a build; add it by hand", "skipped")
            return
        suggestion = suggestion_for(kind.image)
        port = next((p.target for p in svc.ports), None)
        if suggestion is not None:
            package, command, usual = suggestion
            self.note(svc.name, f"not imported: image {svc.image} has no nixenv preset; nixpkgs has `{package}`: add it "
                      f"to [packages] and a [services.{svc.name}] with a command such as `{command}`"
                      f"{f' and port = {port or usual}' if (port or usual) else ''}", "skipped")
        else:
            self.note(svc.name, f"not imported: image {svc.image} has no nixenv preset and no nixpkgs package is "
                      f"known for it; find one on https://search.nixos.org/packages and add a [services.{svc.name}] "
                      "with its command", "skipped")
        dependants = [n for n, s in self.project.services.items() if svc.name in s.depends_on]
        if dependants:
            self.note(svc.name, f"{', '.join(dependants)} depend{'s' if len(dependants) == 1 else ''} on it: "
                      "that dependency was dropped until it is added")

    def _depends(self, svc: ComposeService, table: dict[str, Any]) -> None:
        if svc.depends_on and not self.waits_noted:
            self.waits_noted = True
            self.note("", "depends_on: nixenv starts a dependant once its dependency is READY (its readiness "
                      "check passed), stricter than compose's service_started, which waited for the start only")
        deps = []
        for dep, condition in svc.depends_on.items():
            if dep not in self.out:
                continue  # reported with the dependency itself
            deps.append(dep)
            if condition == "service_healthy" and self.kinds[dep].kind == "app" and "ready" not in self.out[dep] \
                    and not self.out[dep].get("oneshot"):
                self.note(svc.name, f"waits for {dep} to be healthy in compose, but {dep} has no healthcheck: add "
                          f"`ready` to [services.{dep}]")
        if deps:
            table["depends_on"] = deps

    def _restart(self, svc: ComposeService, table: dict[str, Any]) -> None:
        if svc.restart is None:
            return
        policy = svc.restart.split(":", 1)[0]
        mapped = {"no": "never", "always": "always", "unless-stopped": "always", "on-failure": "on-failure"}.get(policy)
        if mapped is None:
            self.note(svc.name, f"restart {svc.restart!r}: unknown policy, not carried over")
            return
        table["restart"] = mapped
        if ":" in svc.restart:
            self.note(svc.name, f"restart {svc.restart}: the retry limit is not carried over (s6 keeps restarting)")

    def _ready(self, svc: ComposeService, table: dict[str, Any]) -> None:
        check = svc.healthcheck
        if check is None or check.test is None:
            return
        command = self._rewrite(svc.name, check.test, in_command=True)
        if "${services." in command:
            self.note(svc.name, f"healthcheck `{check.test}` needs another service's port: not carried over; "
                      "write `ready` by hand")
            return
        table["ready"] = {"command": command}

    def _stop(self, svc: ComposeService, table: dict[str, Any]) -> None:
        if svc.stop_signal:
            signal = svc.stop_signal.upper().removeprefix("SIG")
            if signal in SIGNALS:
                table["stop_signal"] = signal
            else:
                self.note(svc.name, f"stop_signal {svc.stop_signal}: nixenv supports {', '.join(SIGNALS)}")
        if svc.stop_grace_period:
            try:
                seconds = parse_duration(svc.stop_grace_period)
            except ValueError as exc:
                self.note(svc.name, f"stop_grace_period: {exc}")
                return
            if 0 < seconds <= 3600:
                table["stop_timeout"] = int(seconds) if seconds == int(seconds) else seconds
            else:
                self.note(svc.name, f"stop_grace_period {svc.stop_grace_period}: nixenv takes 0 to 3600 s")

    def _other_keys(self, svc: ComposeService) -> None:
        for key, value in svc.raw.items():
            if key in _HANDLED or str(key).startswith("x-"):
                continue
            if key == "networks" and (value in (None, [], {}) or value == ["default"]):
                continue
            reason = _REASONS.get(key, "a container setting with no native equivalent")
            self.note(svc.name, f"{key}: not carried over: {reason}")

    # ----------------------------------------------------------------- paths

    def _inside(self, path: Path) -> bool:
        try:
            Path(path).resolve().relative_to(self.root)
            return True
        except ValueError:
            return False

    def _rel(self, path: Path) -> str:
        return os.path.relpath(Path(path).resolve(), self.root)


def _build_args(svc: ComposeService) -> dict[str, Any]:
    build = svc.raw.get("build")
    args = build.get("args") if isinstance(build, dict) else None
    if isinstance(args, list):
        return {k: v for k, _, v in (str(a).partition("=") for a in args)}
    return dict(args or {})


def _host_path(container_path: str, mounts: list[tuple[str, Path]]) -> Path | None:
    for target, source in mounts:
        if container_path == target or container_path.startswith(target.rstrip("/") + "/"):
            rest = container_path[len(target):].lstrip("/")
            return (source / rest).resolve() if rest else source.resolve()
    return None


def _interpreter(script: Path) -> str | None:
    try:
        with script.open("rb") as handle:
            first = handle.readline(200).decode("utf-8", "replace").strip()
    except OSError:
        return None
    if not first.startswith("#!"):
        return "sh"
    words = first[2:].split()
    if not words:
        return "sh"
    program = words[0].rsplit("/", 1)[-1]
    if program == "env" and len(words) > 1:
        program = words[1]
    return program


def _setting(value: str) -> Any:
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    return value
