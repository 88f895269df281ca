"""Find and load compose files into a `Project`, as `docker compose config` would see them.

Order of work, as compose-go's loader does it: each file is parsed (yamlio), its `x-`
extension fields dropped (compose-spec 11-extension.md), interpolated on its own
(12-interpolation.md: "applied before a merge on a per-file basis"), its relative paths made
absolute and its `extends` resolved (05-services.md#extends); then the files are merged in
order (13-merge.md), `!reset`/`!override` applied, profiles selected (15-profiles.md), and
the short syntaxes normalised (model.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from nixenv.compose.interpolate import InterpolationError, Lookup, interpolate_tree, parse_dotenv
from nixenv.compose.merge import depends_on_map, list_to_map, merge_files, merge_service, strip_tags
from nixenv.compose.model import (Build, ComposeService, Healthcheck, Project, healthcheck_command,
                                  parse_ports, parse_volume)
from nixenv.compose.yamlio import parse_yaml
from nixenv.support.errors import NixenvError

# compose-go cli/options.go DefaultFileNames and DefaultOverrideFileNames, in order of preference
COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_FILES = ("compose.override.yml", "compose.override.yaml", "docker-compose.override.yml",
                  "docker-compose.override.yaml")
_FILE_KEY = "x-nixenv-file"  # where a service was (last) defined; an x- key, so compose-neutral


def find_compose_files(root: Path) -> list[Path]:
    """What `docker compose` reads in `root` with no -f: the first default file, plus the first
    override file next to it. (compose also walks up to parent directories; nixenv's project is
    the directory that holds nixenv.toml, so only that one is searched.)"""
    for name in COMPOSE_FILES:
        if (root / name).is_file():
            files = [root / name]
            override = next((root / o for o in OVERRIDE_FILES if (root / o).is_file()), None)
            return files + ([override] if override else [])
    return []


def project_environment(project_dir: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Interpolation variables: the project's `.env`, overridden by the process environment
    (docker/docs compose how-tos/environment-variables/envvars-precedence.md)."""
    environ = dict(os.environ if environ is None else environ)
    dotenv = project_dir / ".env"
    values: dict[str, str] = {}
    if dotenv.is_file():
        parsed = parse_dotenv(_read(dotenv), file=dotenv, lookup=environ.get)
        values.update({k: v for k, v in parsed.items() if v is not None})
    values.update(environ)
    return values


def load_project(files: Sequence[Path | str], *, environ: Mapping[str, str] | None = None,
                 profiles: Sequence[str] = ()) -> Project:
    """The merged model of `docker compose -f files[0] -f files[1] ...`."""
    if not files:
        raise NixenvError("no compose file given")
    paths = [Path(f).resolve() for f in files]
    project_dir = paths[0].parent
    env = project_environment(project_dir, environ)
    dotenv_only = _dotenv_values(project_dir, env)
    lookup = Lookup(env)
    model: dict[str, Any] = {}
    for path in paths:
        # every -f file's relative paths are relative to the first file's directory (docker docs,
        # multiple-compose-files/merge.md "Merging rules")
        model = merge_files(model, _load_file(path, lookup, base_dir=project_dir))
    model = strip_tags(model)
    raw_services = model.get("services") or {}
    if not isinstance(raw_services, dict):
        raise NixenvError(f"{paths[0]}: `services` must be a mapping of service names")
    active = set(profiles) | {p.strip() for p in env.get("COMPOSE_PROFILES", "").split(",") if p.strip()}
    enabled = {name for name, svc in raw_services.items()
               if not svc.get("profiles") or "*" in active or active & set(svc.get("profiles") or ())}
    # a dependency of an enabled service is needed whatever its profile
    pending = list(enabled)
    while pending:
        for dep in depends_on_map(raw_services[pending.pop()].get("depends_on")):
            if dep in raw_services and dep not in enabled:
                enabled.add(dep)
                pending.append(dep)
    aliases = _aliases(raw_services)
    services = {name: _service(name, raw, dotenv_only, aliases.get(name, ()), paths[-1])
                for name, raw in raw_services.items() if name in enabled}
    inactive = {name: tuple(raw.get("profiles") or ()) for name, raw in raw_services.items() if name not in enabled}
    warnings = tuple(f"variable {name} is not set: it was replaced by an empty string (as compose does)"
                     for name in dict.fromkeys(lookup.missing))
    return Project(project_dir, tuple(paths), services, inactive, warnings)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NixenvError(f"{path} not found: give an existing compose file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise NixenvError(f"{path}: cannot be read: {exc}") from None


def _dotenv_values(project_dir: Path, env: Mapping[str, str]) -> dict[str, str]:
    dotenv = project_dir / ".env"
    if not dotenv.is_file():
        return {}
    return {k: v for k, v in parse_dotenv(_read(dotenv), file=dotenv, lookup=lambda n: None).items() if v is not None}


def _load_file(path: Path, lookup: Lookup, *, base_dir: Path, seen: tuple[Path, ...] = ()) -> dict:
    raw = parse_yaml(_read(path), file=path)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise NixenvError(f"{path}: a compose file is a mapping (services:, volumes:, ...), found {type(raw).__name__}")
    raw = {k: v for k, v in raw.items() if not str(k).startswith("x-")}
    try:
        raw = interpolate_tree(raw, lookup)
    except InterpolationError as exc:
        raise NixenvError(f"{path}: {exc}") from None
    services = raw.get("services") or {}
    if not isinstance(services, dict):
        raise NixenvError(f"{path}: `services` must be a mapping of service names")
    for name, service in services.items():
        if service is None:
            services[name] = service = {}
        if not isinstance(service, dict):
            raise NixenvError(f"{path}: services.{name} must be a mapping")
        _absolutize(service, base_dir)
        service[_FILE_KEY] = str(path)
    resolved = {name: _extended(name, services, path, lookup, (*seen, path), ()) for name in services}
    raw["services"] = resolved
    for entry in raw.pop("include", None) or []:
        # compose-spec 14-include.md: each included file is its own model, relative to its own directory
        include = entry if isinstance(entry, str) else (entry.get("path") if isinstance(entry, dict) else None)
        for item in include if isinstance(include, list) else [include]:
            if not isinstance(item, str):
                raise NixenvError(f"{path}: include entries are paths, found {entry!r}")
            other = (path.parent / item).resolve()
            included = _load_file(other, lookup, base_dir=other.parent, seen=(*seen, path))
            for name, service in (included.get("services") or {}).items():
                if name in raw["services"]:
                    raise NixenvError(f"{path}: service {name!r} is defined both here and in the included {other}; "
                                      "rename one of them")
                raw["services"][name] = service
    return raw


def _absolutize(service: dict, base_dir: Path) -> None:
    """Relative paths of one service made absolute against the file they were written in."""
    build = service.get("build")
    if isinstance(build, str):
        service["build"] = str((base_dir / build).resolve())
    elif isinstance(build, dict) and isinstance(build.get("context", "."), str):
        context = build.get("context", ".")
        if "://" not in context and not context.startswith("git@"):
            build["context"] = str((base_dir / context).resolve())
    env_file = service.get("env_file")
    if env_file is not None:
        entries = env_file if isinstance(env_file, list) else [env_file]
        out = []
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                out.append({**entry, "path": str((base_dir / entry["path"]).resolve())})
            elif isinstance(entry, str):
                out.append(str((base_dir / entry).resolve()))
            else:
                out.append(entry)
        service["env_file"] = out
    volumes = service.get("volumes")
    if isinstance(volumes, list):
        fixed = []
        for item in volumes:
            try:
                volume = parse_volume(item)
            except ValueError:
                fixed.append(item)
                continue
            if volume.type == "bind" and volume.source and not volume.source.startswith("~"):
                source = str((base_dir / volume.source).resolve())
                fixed.append({**item, "source": source} if isinstance(item, dict) else
                             {"type": "bind", "source": source, "target": volume.target, "read_only": volume.read_only})
            else:
                fixed.append(item)
        service["volumes"] = fixed


def _extended(name: str, services: dict, path: Path, lookup: Lookup, seen: tuple[Path, ...],
              chain: tuple[tuple[str, str], ...]) -> dict:
    service = services[name]
    extends = service.get("extends")
    if extends is None:
        return service
    if isinstance(extends, str):
        extends = {"service": extends}
    if not isinstance(extends, dict) or not isinstance(extends.get("service"), str):
        raise NixenvError(f"{path}: services.{name}.extends must be a service name or {{service: NAME, file: PATH}}")
    target = extends["service"]
    link = (str(path), name)
    if link in chain:
        cycle = " -> ".join(f"{n}" for _, n in (*chain, link))
        raise NixenvError(f"{path}: services extend each other in a circle ({cycle}); break the cycle")
    if extends.get("file"):
        other = (path.parent / str(extends["file"])).resolve()
        other_model = _load_file_for_extends(other, lookup, seen)
        pool, where = other_model, other
    else:
        pool, where = services, path
    if target not in pool:
        known = ", ".join(sorted(pool)) or "none"
        raise NixenvError(f"{path}: services.{name} extends {target!r}, which {where.name} does not define "
                          f"(its services: {known}); fix `extends`")
    base = _extended(target, pool, where, lookup, seen, (*chain, link))
    own = {k: v for k, v in service.items() if k != "extends"}
    merged = merge_service({k: v for k, v in base.items() if k != "extends"}, own)
    services[name] = merged
    return merged


def _load_file_for_extends(path: Path, lookup: Lookup, seen: tuple[Path, ...]) -> dict:
    if path in seen:
        raise NixenvError(f"{path}: extended from a file that it extends itself ({' -> '.join(map(str, seen))})")
    if not path.is_file():
        raise NixenvError(f"{path} not found: an `extends: file:` of {seen[-1]} names it; fix the path")
    # an extended file's paths are relative to that file (05-services.md#extends)
    return _load_file(path, lookup, base_dir=path.parent, seen=seen).get("services") or {}


def _aliases(services: dict) -> dict[str, tuple[str, ...]]:
    """Other names a service is reachable by: container_name, hostname, network aliases, links."""
    out: dict[str, list[str]] = {name: [] for name in services}
    for name, raw in services.items():
        for key in ("container_name", "hostname"):
            if isinstance(raw.get(key), str):
                out[name].append(raw[key])
        networks = raw.get("networks")
        if isinstance(networks, dict):
            for spec in networks.values():
                if isinstance(spec, dict):
                    out[name].extend(str(a) for a in spec.get("aliases") or ())
        for link in raw.get("links") or ():
            target, _, alias = str(link).partition(":")
            if alias and target in out:
                out[target].append(alias)
    return {name: tuple(dict.fromkeys(a for a in names if a != name)) for name, names in out.items()}


def _service(name: str, raw: dict, dotenv: Mapping[str, str], hostnames: tuple[str, ...], last_file: Path) -> ComposeService:
    file = Path(raw.get(_FILE_KEY) or last_file)
    where = f"{file}: services.{name}"
    environment: dict[str, str | None] = {}
    sources: dict[str, str] = {}
    env_file = raw.get("env_file")
    for entry in env_file if isinstance(env_file, list) else ([env_file] if env_file else []):
        required = True
        if isinstance(entry, dict):
            required = entry.get("required", True) is not False
            entry = entry.get("path")
        env_path = Path(str(entry))
        if not env_path.is_file():
            if required:
                raise NixenvError(f"{where}.env_file: {env_path} not found (compose fails the same way); create it, "
                                  "or mark it `required: false`")
            continue
        values = parse_dotenv(_read(env_path), file=env_path, lookup=dotenv.get)
        environment.update(values)
        sources.update({key: f"env_file {env_path}" for key in values})
    for key, value in list_to_map(raw.get("environment")).items():
        if value is None:
            # `- NAME` with no value: compose passes the shell's value; only the project's .env is
            # carried over (a shell variable of whoever runs the import does not belong in nixenv.toml)
            value = dotenv.get(str(key))
        elif isinstance(value, bool):
            value = "true" if value else "false"
        elif not isinstance(value, str):
            value = str(value)
        environment[str(key)] = value
        sources[str(key)] = "environment"
    try:
        ports = tuple(p for item in raw.get("ports") or () for p in parse_ports(item))
        volumes = tuple(parse_volume(v) for v in raw.get("volumes") or ())
        healthcheck = _healthcheck(raw.get("healthcheck"))
    except ValueError as exc:
        raise NixenvError(f"{where}: {exc}") from None
    expose = tuple(int(str(e).split("/")[0].split("-")[0]) for e in raw.get("expose") or ()
                   if str(e).split("/")[0].split("-")[0].isdigit())
    depends = {dep: str(spec.get("condition") or "service_started")
               for dep, spec in depends_on_map(raw.get("depends_on")).items()}
    return ComposeService(
        name=name, file=file, image=raw.get("image") if isinstance(raw.get("image"), str) else None,
        build=_build(raw.get("build")), command=raw.get("command"), entrypoint=raw.get("entrypoint"),
        environment=environment, env_sources=sources, ports=ports, expose=expose, depends_on=depends,
        healthcheck=healthcheck, volumes=volumes, profiles=tuple(raw.get("profiles") or ()),
        restart=None if raw.get("restart") is None else str(raw["restart"]),
        stop_signal=None if raw.get("stop_signal") is None else str(raw["stop_signal"]),
        stop_grace_period=None if raw.get("stop_grace_period") is None else str(raw["stop_grace_period"]),
        working_dir=raw.get("working_dir"), hostnames=hostnames,
        raw={k: v for k, v in raw.items() if k != _FILE_KEY},
    )


def _healthcheck(raw: Any) -> Healthcheck | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ValueError(f"healthcheck must be a mapping, found {raw!r}")
    if raw.get("disable") is True:
        return Healthcheck(None, raw)
    return Healthcheck(healthcheck_command(raw.get("test")), raw)


def _build(raw: Any) -> Build | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = {"context": raw}
    context = Path(str(raw.get("context") or "."))
    inline = raw.get("dockerfile_inline")
    dockerfile = None if inline else context / str(raw.get("dockerfile") or "Dockerfile")
    return Build(context, dockerfile, inline, raw.get("target"))
