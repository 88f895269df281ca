"""s6 service directories under .nixenv/services/ (the scan directory of the project's s6-svscan).

One directory per `[services.NAME]`: `run` (execs the command, so the supervised pid is the
service), `finish` (restart policy), `notification-fd` + `data/check` for readiness through
`s6-notifyoncheck`, `down` (nixenv decides the start order, not the scanner), `timeout-kill`,
`down-signal`, and `log/` running `s6-log` into .nixenv/logs/NAME/. Everything here is an
internal file (no marker, not committed). s6 itself writes `supervise/` and `event/`, and the
scripts write run-time state into `data/` (pid, crashes, restarts, last-exit): nixenv never
touches those except through `prune` of a removed service.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path
from urllib.parse import urlsplit

from nixenv.config.load import Config, Service
from nixenv.support.files import GeneratedFile

SERVICES_DIR = ".nixenv/services"
LOGS_DIR = ".nixenv/logs"
LOG_SIZE = 1_000_000  # bytes before s6-log rotates `current`
LOG_KEEP = 20  # archived log files kept per service
MAX_BACKOFF = 30  # seconds: cap of the crash-loop delay
STABLE_AFTER = 10  # seconds up after which a crash no longer counts as part of a loop
HASH_FILE = "data/nixenv-hash"
# files nixenv renders into a service directory (for pruning what a config change dropped)
RENDERED = ("run", "finish", "notification-fd", "data/check", "down", "timeout-kill",
            "timeout-finish", "down-signal", "max-death-tally", HASH_FILE, "log/run",
            "log/notification-fd")


def service_files(cfg: Config) -> list[GeneratedFile]:
    """Every file of every service directory (internal: no marker, not committed)."""
    files: list[GeneratedFile] = []
    for service in cfg.services.values():
        files += files_for(cfg, service)
    return files


def files_for(cfg: Config, service: Service) -> list[GeneratedFile]:
    from nixenv.support.render import render

    name = service.name
    base = f"{SERVICES_DIR}/{name}"
    env = {**cfg.env, **service.env}
    ready = service.ready
    stop_ms = int(service.timeout * 1000)
    ctx = dict(name=name, port=service.port, env=env, ready=ready is not None, cwd=service.cwd,
               command=exec_form(service.command), restart=service.restart, stop_signal=service.signal,
               group_wait_ticks=max(1, int(service.timeout * 10)), max_delay=MAX_BACKOFF,
               stable_after=STABLE_AFTER)
    out = [
        GeneratedFile(f"{base}/run", render("s6/run.j2", **ctx), 0o755, None),
        GeneratedFile(f"{base}/finish", render("s6/finish.j2", **ctx), 0o755, None),
        GeneratedFile(f"{base}/down", "", 0o644, None),
        GeneratedFile(f"{base}/timeout-kill", f"{stop_ms}\n", 0o644, None),
        # finish may wait for the process group and sleep through the backoff
        GeneratedFile(f"{base}/timeout-finish", f"{stop_ms + (MAX_BACKOFF + 5) * 1000}\n", 0o644, None),
        GeneratedFile(f"{base}/down-signal", f"SIG{service.signal}\n", 0o644, None),
        GeneratedFile(f"{base}/log/run", render("s6/log-run.j2", name=name, size=LOG_SIZE, keep=LOG_KEEP),
                      0o755, None),
        GeneratedFile(f"{base}/log/notification-fd", "3\n", 0o644, None),
    ]
    if ready is not None:
        out.append(GeneratedFile(f"{base}/notification-fd", "3\n", 0o644, None))
        out.append(GeneratedFile(f"{base}/data/check", check_script(service), 0o755, None))
    digest = hashlib.sha256()
    for f in out:
        digest.update(f"{f.path}\0{f.mode}\0{f.content}\0".encode())
    # What the running instance was started from: `up` restarts a service whose files changed.
    out.append(GeneratedFile(f"{base}/{HASH_FILE}", digest.hexdigest()[:16] + "\n", 0o644, None))
    return out


_OPERATORS = frozenset({";", "&", "&&", "|", "||", "(", ")", ";;", "|&", ";&", "&;"})
_RESERVED = frozenset("! { } [[ ]] case do done elif else esac fi for function if in select then "
                      "until while time coproc exec".split())


def exec_form(command: str) -> str:
    """`exec COMMAND` when COMMAND is one simple command, so that the shell is replaced and
    the supervised pid is the program itself (dash does not do that on its own). Anything
    else (lists, pipelines, compound commands, leading assignments) runs as written."""
    import shlex

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


def check_script(service: Service) -> str:
    from nixenv.support.render import render

    ready = service.ready
    assert ready is not None
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
    return render("s6/check-command.j2", name=service.name, cwd=service.cwd, command=str(ready.value))


STAMP = ".nixenv-rendered"  # in the scan dir (s6 skips dot names): what the dirs were rendered from


def _stamp(cfg: Config) -> str:
    """Hash of everything the service directories are rendered from."""
    from nixenv.support.render import templates_dir

    digest = hashlib.sha256()
    digest.update(cfg.path.read_bytes() if cfg.path.exists() else repr(cfg).encode())
    for path in sorted((templates_dir() / "s6").glob("*.j2")) + [Path(__file__)]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:32]


def ensure(cfg: Config) -> list[str]:
    """Write the service directories when stale (what `up` needs; `nixenv generate` writes
    them too). Returns the paths written. A stamp of the inputs skips rendering when
    nothing changed, so that `up` stays fast at 50 services."""
    from nixenv.support.files import plan

    scan = cfg.root / SERVICES_DIR
    stamp = _stamp(cfg)
    if read_stripped(scan / STAMP) == stamp and all((scan / name / "run").is_file() for name in cfg.services):
        return []
    changes = [c for c in plan(cfg.root, service_files(cfg)) if c.status != "unchanged"]
    for change in changes:
        _write_internal(cfg.root / change.file.path, change.file.text(), change.file.mode)
    prune(cfg)
    _write_internal(scan / STAMP, stamp + "\n", 0o644)
    return [c.file.path for c in changes]


def _write_internal(path: Path, text: str, mode: int) -> None:
    """Temp file + rename (a supervisor never sees half a script) but no fsync: these files
    are re-rendered from nixenv.toml at any time, and 600 fsyncs made the first `up` of 50
    services take seconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def read_stripped(path: Path) -> str:
    """A small state file's text without surrounding blanks; "" when it is missing."""
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _bash() -> str:
    """The check scripts' interpreter: /bin/bash when the machine has it (one exec fewer per
    readiness poll than /usr/bin/env; these files are per machine, never committed), else
    bash from PATH. Not PATH-dependent, so entering the devshell does not change the files."""
    return "/bin/bash" if os.access("/bin/bash", os.X_OK) else "/usr/bin/env bash"


def prune(cfg: Config) -> list[str]:
    """Remove service directories of services no longer in the config; returns their names.

    A removed service that is still supervised is stopped first (its stop signal, then
    SIGKILL after its timeout-kill, its whole process tree), its supervisor and logger are
    told to exit, and only then is the directory deleted. Directories of services still in
    the config keep their supervise/, event/ and data/ state; only rendered files that the
    config no longer produces (e.g. data/check after `ready` was removed) are deleted."""
    from nixenv.services import s6 as services_s6

    scan = cfg.root / SERVICES_DIR
    if not scan.is_dir():
        return []
    wanted = {f.path for f in service_files(cfg)}
    removed = []
    for entry in sorted(scan.iterdir()):
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        if entry.name in cfg.services:
            for rel in RENDERED:
                path = entry / rel
                if f"{SERVICES_DIR}/{entry.name}/{rel}" not in wanted and path.is_file():
                    path.unlink()
            continue
        services_s6.retire(entry)
        removed.append(entry.name)
    if removed:
        services_s6.rescan(scan)
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
