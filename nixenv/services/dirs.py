"""The files of a service directory that nixenv itself reads back, and how to read them.

`down` and `status` work from these when nixenv.toml cannot be read (a merge conflict, a
stray bracket): everything needed to stop a stack in the right order is on disk.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from nixenv.config.paths import ProjectPaths

PORTS_FILE = "ports.json"  # in the state dir: the ports chosen for the presets (services/ports.py)
ENV_INPUTS_FILE = ".nixenv-env-inputs"  # in the scan dir: what the services' environment is made from
STARTED_FILE = "started.json"  # in the state dir: service -> the HASH_FILE it was last started from
# What nixenv itself reads back of a service directory, in one file (one write per service on a
# first `up`, one read per service in `status`): the hash of what it was rendered from, its
# depends_on, port, what "ready" means for it, and whether it is a one-shot task.
META_FILE = "data/nixenv.json"
STABLE_AFTER = 10  # seconds up after which a crash no longer counts as part of a loop (finish, status)
# written by the scripts at run time
RUNTIME_FILES = ("data/failed", "data/restarts", "data/crashes", "data/stopping", "data/ensure-failed")


def read_stripped(path: Path) -> str:
    """A small state file's text without surrounding blanks; "" when it is missing."""
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def service_dirs(paths: ProjectPaths) -> list[Path]:
    try:
        return sorted(p for p in paths.scan.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


@dataclass(frozen=True)
class Meta:
    hash: str = ""
    depends_on: tuple[str, ...] = ()
    port: int | None = None
    ready: str = ""  # what ready means ("" when it has no readiness check)
    oneshot: bool = False

    def text(self) -> str:
        return json.dumps({"hash": self.hash, "depends_on": list(self.depends_on), "port": self.port,
                           "ready": self.ready, "oneshot": self.oneshot}, sort_keys=True) + "\n"


def meta(service_dir: Path | str) -> Meta:
    try:
        with open(f"{service_dir}/{META_FILE}", encoding="utf-8") as handle:
            data = json.load(handle)
        return Meta(str(data["hash"]), tuple(str(d) for d in data["depends_on"]),
                    data["port"] if isinstance(data["port"], int) else None, str(data["ready"]),
                    bool(data["oneshot"]))
    except (OSError, ValueError, KeyError, TypeError):
        return Meta()


def stop_settings(service_dir: Path) -> tuple[str, float]:
    """(signal name, seconds before SIGKILL) as rendered into the directory."""
    signame = read_stripped(service_dir / "down-signal").removeprefix("SIG") or "TERM"
    try:
        timeout = int(read_stripped(service_dir / "timeout-kill") or 10_000) / 1000
    except ValueError:
        timeout = 10.0
    return signame, timeout


def read_started(paths: ProjectPaths) -> dict[str, str]:
    """What each service's running (or last) instance was started from (one file: a start of
    50 services writes it once, not 50 times)."""
    try:
        data = json.loads((paths.state / STARTED_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}


def write_started(paths: ProjectPaths, changes: dict[str, str | None]) -> None:
    """Record (or, for None, forget) what services were started from."""
    if not changes:
        return
    current = read_started(paths)
    for name, value in changes.items():
        if value is None:
            current.pop(name, None)
        else:
            current[name] = value
    write_internal(paths.state / STARTED_FILE, json.dumps(current, sort_keys=True) + "\n", 0o644)


def started_current(paths: ProjectPaths, name: str, started: dict[str, str]) -> bool:
    """The service's instance was started from the directory as it is now."""
    return started.get(name, "-") == meta(paths.service(name)).hash


def write_internal(path: Path, text: str, mode: int) -> None:
    """Temp file + rename (a supervisor never sees half a script) but no fsync: these files
    are re-rendered from nixenv.toml at any time, and 600 fsyncs made the first `up` of 50
    services take seconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
