"""Supervise: the project's one s6-svscan, its lock, and what a dead scanner or supervisor left.

One detached s6-svscan per project, found again through its control FIFO (a live scanner
reads it) and `state/scanner.json`. A lock file serialises `up`, `down` and `restart` of a
project. A scanner that died (SIGKILL) leaves supervisors and services running ("stale"); a
supervisor that died leaves its service running unsupervised ("orphaned"): both are found
through the markers every process of the project carries (services/procs.py).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

from nixenv.config.paths import ProjectPaths
from nixenv.services import cgroup, logs, procs, s6, stop
from nixenv.services.dirs import service_dirs, write_internal
from nixenv.support.errors import NixenvError

LOG_TAIL = 20
SCANNER_FILE = "scanner.json"


@dataclass(frozen=True)
class Scanner:
    state: str  # running | stopped | stale (supervisors orphaned by a dead scanner)
    pid: int | None = None
    via: str | None = None
    since: float | None = None
    env_digest: str | None = None  # of the inputs of the environment it was started in


def marker(paths: ProjectPaths) -> bytes:
    return procs.project_marker(paths.scan)


@contextmanager
def locked(paths: ProjectPaths, report: Callable[[str], None]) -> Iterator[None]:
    """One `up`/`down`/`restart` at a time per project (flock; released if we die)."""
    paths.state.mkdir(parents=True, exist_ok=True)
    fd = os.open(paths.state / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            report(f"waiting for another `nixenv services` command (pid {holder}) to finish")
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def scanner(paths: ProjectPaths) -> Scanner:
    info = _read_state(paths)
    if s6.scanner_alive(paths.scan):
        pid = info.get("pid")
        if not (isinstance(pid, int) and _is_scanner(pid, paths)):
            pid = _find_scanner(paths)
        return Scanner("running", pid, info.get("via"), info.get("since"), info.get("env"))
    if orphans(paths):
        return Scanner("stale", None, info.get("via"), info.get("since"), info.get("env"))
    return Scanner("stopped")


def _read_state(paths: ProjectPaths) -> dict:
    try:
        data = json.loads((paths.state / SCANNER_FILE).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _is_scanner(pid: int, paths: ProjectPaths) -> bool:
    info = procs.stat(pid)
    return info is not None and info[0] == "s6-svscan" and info[1] != "Z" and marker(paths) in procs.environ(pid)


def _find_scanner(paths: ProjectPaths) -> int | None:
    for pid in procs.marked(marker(paths)):
        if _is_scanner(pid, paths):
            return pid
    return None


def orphans(paths: ProjectPaths) -> list[Path]:
    """Service directories whose supervisor (or logger's) outlived the scanner."""
    return [d for d in service_dirs(paths) if s6.supervised(d) or s6.supervised(d / "log")]


def unsupervised(dirs: Sequence[Path]) -> dict[str, list[int]]:
    """Services running without their supervisor (it died: kill -9 of one s6-supervise):
    name -> pids still carrying the service's marker while s6 says it is not up."""
    wanted = {procs.service_marker(d): d for d in dirs}
    found: dict[str, list[int]] = {}
    prefix = procs.SERVICE_VAR.encode() + b"="
    for pid, value in procs.env_values(procs.SERVICE_VAR, {os.getpid(), os.getppid()}).items():
        d = wanted.get(prefix + value)
        if d is None or not procs.alive(pid):
            continue
        st = s6.read_status(d) if s6.supervised(d) else None
        if st is not None and (st.up or st.finishing):
            continue
        found.setdefault(d.name, []).append(pid)
    return found


def start_scanner(paths: ProjectPaths, argv: list[str], env: Mapping[str, str], via: str,
                  env_digest: str, report: Callable[[str], None]) -> int | None:
    paths.scan.mkdir(parents=True, exist_ok=True)
    paths.logs.mkdir(parents=True, exist_ok=True)
    log_path = paths.state / "scanner.log"
    if via != "devshell":
        report(f"starting s6-svscan in the project's environment ({via})")

    group = cgroup.project_cgroup(paths, create=True)

    def prepare_child() -> None:
        for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)  # services must not inherit ignored signals
        if group is not None:
            cgroup.join(group)  # everything the scanner starts stays in the project's cgroup

    with open(log_path, "ab") as log:
        child = subprocess.Popen(argv, cwd=paths.root, env=dict(env), stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=log, start_new_session=True, preexec_fn=prepare_child)
    ok = s6.wait_until(lambda: s6.scanner_alive(paths.scan) or child.poll() is not None,
                       120 if via != "devshell" else 10, step=0.005)
    if not ok or not s6.scanner_alive(paths.scan):
        if child.poll() is None:
            child.kill()
        raise NixenvError(f"s6-svscan did not start (through {via}: {' '.join(argv)}); "
                          "its output:\n" + "\n".join(logs.file_tail(log_path, LOG_TAIL)))
    pid = child.pid if _is_scanner(child.pid, paths) else _find_scanner(paths)
    write_internal(paths.state / SCANNER_FILE, json.dumps(
        {"pid": pid, "via": via, "since": time.time(), "scan": str(paths.scan), "argv": argv,
         "env": env_digest, "cgroup": str(group) if group else None}, indent=1) + "\n", 0o644)
    return pid


def stop_orphans(paths: ProjectPaths) -> None:
    """Everything a dead scanner left: services, their supervisors and loggers."""
    dirs = service_dirs(paths)
    stop.stop_services([d for d in dirs if s6.supervised(d) or procs.marked(procs.service_marker(d))],
                       exit_supervisors=True)
    for d in dirs:
        s6.control(d / "log", "dx")
    s6.wait_until(lambda: not orphans(paths), 5)
    stop.stop_marked(marker(paths), "TERM", 2.0)
    group = cgroup.project_cgroup(paths, create=False)
    if group is not None:
        cgroup.empty(group)


def stop_scanner(paths: ProjectPaths) -> list[int]:
    """s6-svscanctl -t, wait for the scanner to exit, then end anything still marked, and
    anything still in the project's cgroup (what escaped the markers)."""
    info = _read_state(paths).get("pid")
    pid = info if isinstance(info, int) and _is_scanner(info, paths) else _find_scanner(paths)
    s6.stop_scanner(paths.scan)
    s6.wait_until(lambda: not s6.scanner_alive(paths.scan) and not (pid and procs.alive(pid)), 10, step=0.005)
    left = stop.stop_marked(marker(paths), "TERM", 2.0)
    group = cgroup.project_cgroup(paths, create=False)
    if group is not None:
        left += cgroup.empty(group)
    try:
        (paths.state / SCANNER_FILE).unlink()
    except FileNotFoundError:
        pass
    return left
