"""Reconcile: write the planned service directories, retire the ones no longer planned.

One s6 service directory per service under the project's scan directory (outside the
project tree: see config/paths.py): `run` (execs the command, so the supervised pid is the
service), `finish` (restart policy; one-shot tasks stay down), `notification-fd` +
`data/check` for readiness through `s6-notifyoncheck`, `down` (nixenv decides the start
order, not the scanner), `timeout-kill`, `down-signal`, a preset's `data/setup`,
`data/ready` and `data/ensure`, and `log/` running `s6-log` into the project's log
directory. s6 writes `supervise/` and `event/`; the scripts write run-time state into
`data/` (pid, crashes, restarts, last-exit). Files are written only when their content
changed, through a temp file and a rename (a supervisor never runs half a script).

The presets' exported variables are written to the project's `.nixenv/exports.env`, which
the .envrc and every run script read.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import time
from pathlib import Path
from urllib.parse import urlsplit

from nixenv.config.load import Ready
from nixenv.config.paths import EXPORTS_FILE, ProjectPaths
from nixenv.services import s6, stop
from nixenv.services.dirs import META_FILE, STABLE_AFTER, Meta, service_dirs, write_internal
from nixenv.services.digest import EnvInputs, write_inputs
from nixenv.services.plan import Plan, ServicePlan
from nixenv.services.stamp import STAMP
from nixenv.support.escape import sh_refs
from nixenv.support.render import render

LOG_SIZE = 1_000_000  # bytes before s6-log rotates `current`
LOG_KEEP = 20  # archived log files kept per service
MAX_BACKOFF = 30  # seconds: cap of the crash-loop delay
# files nixenv renders into a service directory (for pruning what a config change dropped)
RENDERED = ("run", "finish", "notification-fd", "data/check", "data/ready", "data/setup", "data/ensure",
            "down", "timeout-kill", "timeout-finish", "down-signal", META_FILE, "log/run",
            "log/notification-fd")


def service_files(paths: ProjectPaths, service: ServicePlan) -> dict[str, tuple[str, int]]:
    """relative path -> (content, mode) of one service directory."""
    name = service.name
    stop_ms = int(service.stop_timeout * 1000)
    service_dir = paths.service(name)
    ctx = dict(name=name, port=service.port, env=service.env, ready=service.ready is not None,
               cwd=service.cwd, command=exec_form(service.command), restart=service.restart,
               # a preset's server runs in its data directory (the project may not be readable by
               # the unprivileged user it runs as); anything else in its cwd in the project
               workdir=str(service.data_dir) if service.data_dir is not None else f"{paths.root}/{service.cwd}",
               stop_signal=service.stop_signal, oneshot=service.oneshot, root=str(paths.root),
               service_dir=str(service_dir), exports_file=EXPORTS_FILE, setup=bool(service.setup),
               check_timeout_ms=2000 if service.preset is None else 5000,
               group_wait_ticks=max(1, int(service.stop_timeout * 10)), max_delay=MAX_BACKOFF,
               stable_after=STABLE_AFTER, preset=service.preset)
    log_dir = paths.log(name)
    files = {
        "run": (render("s6/run.j2", **ctx), 0o755),
        "finish": (render("s6/finish.j2", **ctx), 0o755),
        "down": ("", 0o644),
        "timeout-kill": (f"{stop_ms}\n", 0o644),
        # finish may wait for the process group and sleep through the backoff
        "timeout-finish": (f"{stop_ms + (MAX_BACKOFF + 5) * 1000}\n", 0o644),
        "down-signal": (f"SIG{service.stop_signal}\n", 0o644),
        "log/run": (render("s6/log-run.j2", name=name, size=LOG_SIZE, keep=LOG_KEEP, log_dir=str(log_dir),
                           logs_parent=str(log_dir.parent)), 0o755),
        "log/notification-fd": ("3\n", 0o644),
    }
    if service.ready is not None:
        files["notification-fd"] = ("3\n", 0o644)
        ready_script = check_script(paths, service, service.ready)
        if service.preset is not None:
            files["data/ready"] = (ready_script, 0o755)
            files["data/check"] = (render("s6/check-preset.j2", name=name, preset=service.preset,
                                          ensure=bool(service.ensure)), 0o755)
        else:
            files["data/check"] = (ready_script, 0o755)
    for script, what in ((service.setup, "setup"), (service.ensure, "ensure")):
        if script:
            files[f"data/{what}"] = (render("s6/preset-script.j2", name=name, preset=service.preset, what=what,
                                            body=script), 0o755)
    digest = hashlib.sha256()
    for rel, (content, mode) in sorted(files.items()):
        digest.update(f"{rel}\0{mode}\0{content}\0".encode())
    # What the running instance was started from (`up` restarts a service whose files changed),
    # and what `down`, `status` and a no-op `up` read back without the configuration.
    notified = service.ready is not None or service.oneshot
    files[META_FILE] = (Meta(digest.hexdigest()[:16], service.depends_on, service.port,
                             service.ready_text if notified else "", service.oneshot).text(), 0o644)
    return files


_OPERATORS = frozenset({";", "&", "&&", "|", "||", "(", ")", ";;", "|&", ";&", "&;"})
_RESERVED = frozenset("! { } [[ ]] case do done elif else esac fi for function if in select then "
                      "until while time coproc exec".split())


def exec_form(command: str) -> str:
    """`exec COMMAND` when COMMAND is one simple command, so that the shell is replaced and
    the supervised pid is the program itself (dash does not do that on its own). Anything
    else (lists, pipelines, compound commands, leading assignments) runs as written."""
    if "\n" in command or "\r" in command:
        return command
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:
        return command
    if not tokens or any(t in _OPERATORS for t in tokens) or tokens[0] in _RESERVED or tokens[0].startswith("-"):
        return command
    first = tokens[0]
    if "=" in first and first.split("=", 1)[0].isidentifier():
        return command
    return "exec " + command


def check_script(paths: ProjectPaths, service: ServicePlan, ready: Ready) -> str:
    if ready.kind == "tcp":
        return render("s6/check-tcp.j2", name=service.name, port=int(ready.value), bash=_bash())
    if ready.kind == "http":
        url = str(ready.value)
        parts = urlsplit(url)
        https = parts.scheme == "https"
        port = parts.port or (443 if https else 80)
        host = parts.hostname or "127.0.0.1"
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return render("s6/check-http.j2", bash=_bash(), name=service.name, url=url, https=https, host=host,
                      port=port, path=path, hostport=parts.netloc.rsplit("@", 1)[-1])
    return render("s6/check-command.j2", name=service.name, cwd=service.cwd, root=str(paths.root),
                  command=str(ready.value))


def exports_text(plan: Plan) -> str:
    """`.nixenv/exports.env`: the presets' variables as defaults (a variable already set wins)."""
    lines = ["# The services' connection settings (nixenv presets), for the shell and the services.",
             "# Generated by nixenv from nixenv.toml with this machine's ports; not committed."]
    for name, value in sorted(plan.exports.items()):
        lines.append(f"[ -n \"${{{name}+set}}\" ] || export {name}={sh_refs(value)}")
    return "\n".join(lines) + "\n"


def write(paths: ProjectPaths, plan: Plan, stamp: str, env_inputs: EnvInputs) -> list[str]:
    """Write what changed (and the exports file), retire removed services; returns what was written."""
    written = []
    for service in plan.services.values():
        base = paths.service(service.name)
        files = service_files(paths, service)
        for rel, (content, mode) in files.items():
            target = base / rel
            if _same(target, content, mode):
                continue
            write_internal(target, content, mode)
            written.append(str(target))
        for rel in RENDERED:
            if rel not in files and (base / rel).is_file():
                (base / rel).unlink()
    exports = paths.exports
    text = exports_text(plan) if plan.exports else ""
    if text and not _same(exports, text, 0o644):
        write_internal(exports, text, 0o644)
        written.append(str(exports))
    elif not text and exports.exists():
        exports.unlink()
    prune(paths, set(plan.services))
    write_inputs(paths, env_inputs)
    write_internal(paths.scan / STAMP, stamp + "\n", 0o644)
    return written


def _same(path: Path, content: str, mode: int) -> bool:
    try:
        return path.read_text(encoding="utf-8") == content and (path.stat().st_mode & 0o777) == mode
    except (OSError, UnicodeDecodeError):
        return False


def _bash() -> str:
    """The check scripts' interpreter: /bin/bash when the machine has it (one exec fewer per
    readiness poll than /usr/bin/env; these files are per machine, never committed), else
    bash from PATH. Not PATH-dependent, so entering the devshell does not change the files."""
    return "/bin/bash" if os.access("/bin/bash", os.X_OK) else "/usr/bin/env bash"


def prune(paths: ProjectPaths, keep: set[str]) -> list[str]:
    """Stop and remove the service directories of services no longer planned.

    A removed service that is still supervised is stopped first (its stop signal, then
    SIGKILL after its timeout-kill, its whole process tree), its supervisor and logger are
    told to exit, and only then is the directory deleted, so s6-svscan never respawns a
    supervisor on a half-deleted directory."""
    removed = []
    for entry in service_dirs(paths):
        if entry.name in keep:
            continue
        stop.retire(entry)
        remove_tree(entry)
        removed.append(entry.name)
    if removed:
        s6.rescan(paths.scan)
    return removed


def remove_tree(path: Path, attempts: int = 20) -> None:
    """rm -rf that tolerates a supervisor still creating files while it exits."""
    for _ in range(attempts):
        try:
            shutil.rmtree(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.05)
    shutil.rmtree(path, ignore_errors=True)
