"""Stop: the one way nixenv stops services, with their whole process trees.

Every path goes through `stop_services`: `down`, a service removed from the config
(`retire`), a service that failed to become ready, orphans of a dead scanner. The stop
signal goes to the service (by s6) and to every process carrying the service's marker (by
us) at the same time; SIGKILL follows after the service's stop timeout. What to send and
how long to wait are read from the service directory, so a stack can be stopped when
nixenv.toml cannot be read.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from nixenv.services import cgroup, procs, s6
from nixenv.services.dirs import meta, stop_settings


@dataclass(frozen=True)
class Stopped:
    killed: tuple[str, ...]  # needed SIGKILL after their stop timeout
    escaped: tuple[str, ...]  # processes still alive that nixenv could not prove it stopped


def stop_services(dirs: Sequence[Path], *, exit_supervisors: bool = False,
                  then: Callable[[], object] | None = None) -> Stopped:
    """Stop these services at once. `then` runs once they were all told to stop."""
    if not dirs:
        return Stopped((), ())
    start = time.monotonic()
    settings = {d: stop_settings(d) for d in dirs}
    # with a project cgroup holding the services, only its members need looking at
    group = cgroup.of_scan_dir(dirs[0].parent)
    among = (lambda: cgroup.members(group) or None) if group is not None else (lambda: None)
    pipes = _log_pipes(dirs, settings)  # before anything stops: a logger may go with its scanner
    info: dict[bytes, tuple[str, Path, str, float]] = {}
    for d in dirs:
        signame, timeout = settings[d]
        info[procs.service_marker(d)] = (d.name, d, signame, timeout)
        _touch(d / "data/stopping")  # tells finish not to apply the restart policy
        s6.control(d, "dx" if exit_supervisors else "d")
    for pid, marker in _marked_services(info, among()).items():
        procs.signal_all([pid], procs.signum(info[marker][2]))
        procs.signal_all([pid], signal.SIGCONT)
    if then is not None:
        then()
    pending = set(info)
    killed: set[str] = set()
    hard_deadline = start + max(t for *_, t in info.values()) + 5
    while pending and time.monotonic() < hard_deadline:
        now = time.monotonic()
        down = {m for m in pending if _s6_down(info[m][1])}
        late = [m for m in pending if now - start >= info[m][3]]
        # /proc is scanned only once s6 reports them all down (or someone is late)
        if down == pending or late:
            left = _marked_services({m: info[m] for m in pending}, among())
            pending -= {m for m in down if m not in left.values()}
        if late:
            for pid, marker in _marked_services({m: info[m] for m in late}, among()).items():
                procs.signal_all([pid], signal.SIGKILL)
                killed.add(info[marker][0])
        if pending:
            time.sleep(0.01 if now - start < 0.5 else 0.05)
    escaped = {info[m][0] for m in pending}
    for name in _stop_pipe_holders({t: v for t, v in pipes.items() if v[0].name not in escaped}, start):
        killed.add(name)
    return Stopped(tuple(sorted(killed)), tuple(sorted(escaped)))


S6_PROGRAMS = frozenset({"s6-svscan", "s6-supervise", "s6-log"})


def _log_pipes(dirs: Sequence[Path], settings: dict[Path, tuple[str, float]]) -> dict[str, tuple[Path, str, float]]:
    """The pipe each service writes its log into (the logger's stdin) -> (dir, signal, timeout)."""
    pipes: dict[str, tuple[Path, str, float]] = {}
    for d in dirs:
        logger = s6.read_status(f"{d}/log")
        target = procs.fd_target(logger.pid, 0) if logger is not None and logger.up else None
        if target and target.startswith("pipe:"):
            pipes[target] = (d, *settings[d])
    return pipes


def _stop_pipe_holders(pipes: dict[str, tuple[Path, str, float]], start: float) -> list[str]:
    """Processes that left the service's marker behind (a daemon that ran `setsid` and `env -i`)
    but still hold its log pipe: found through the logger's stdin, stopped like the service,
    within its stop timeout. (One that also closed its stdout cannot be found this way.)"""
    # with a project cgroup, only its members can hold the pipes: no walk over every process
    group = cgroup.of_scan_dir(next(iter(pipes.values()))[0].parent) if pipes else None
    found = procs.holders(set(pipes), {os.getpid(), os.getppid()}, cgroup.members(group) if group else None)
    strays = {target: {p for p in pids if (procs.stat(p) or ("s6-log",))[0] not in S6_PROGRAMS}
              for target, pids in found.items()}
    strays = {t: p for t, p in strays.items() if p}
    if not strays:
        return []
    for target, pids in strays.items():
        procs.signal_all(pids, procs.signum(pipes[target][1]))
        procs.signal_all(pids, signal.SIGCONT)
    killed = []
    for target, pids in strays.items():
        d, _, timeout = pipes[target]
        deadline = max(start + timeout, time.monotonic() + 0.1)
        while time.monotonic() < deadline and any(procs.alive(p) for p in pids):
            time.sleep(0.02)
        left = [p for p in pids if procs.alive(p)]
        if left:
            procs.signal_all(left, signal.SIGKILL)
            killed.append(d.name)
    return killed


def stop_waves(dirs: Sequence[Path], report: Callable[[str], None],
               last: Callable[[], object] | None = None) -> None:
    """Stop services in reverse dependency order: a service once its dependants are down.
    `last` runs as soon as the last wave was told to stop (e.g. stopping the scanner)."""
    by_name = {d.name: d for d in dirs}
    remaining = list(by_name)
    # dependencies through services that are not running (a one-shot task that is done)
    # still order the stop: web -> migrate -> db stops web before db
    scan_dirs = {d.parent for d in dirs}
    graph = {p.name: meta(p).depends_on for s in scan_dirs for p in s.iterdir() if p.is_dir()}
    reach = {name: _reachable(graph, name) for name in remaining}
    while remaining:
        wave = [n for n in remaining if not any(n in reach[o] for o in remaining if o != n)] or list(remaining)
        t0 = time.monotonic()
        final = len(wave) == len(remaining)
        result = stop_services([by_name[n] for n in wave], then=last if final else None)
        for name in result.killed:
            report(f"{name}: killed (SIGKILL) after its stop_timeout")
        for name in result.escaped:
            report(f"{name}: could not prove it stopped: a process of it may still run")
        report(f"stopped {', '.join(wave)} ({time.monotonic() - t0:.2f} s)")
        remaining = [n for n in remaining if n not in wave]


def _reachable(graph: dict[str, tuple[str, ...]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph.get(start, ()))
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph.get(name, ()))
    return seen


def retire(service_dir: Path) -> None:
    """Stop a service whose directory is going away and end its supervisor and logger; the
    caller deletes the directory once both exited."""
    stop_services([service_dir], exit_supervisors=True)
    s6.control(service_dir / "log", "x")
    s6.wait_until(lambda: not s6.supervised(service_dir) and not s6.supervised(service_dir / "log"), 5)


def stop_marked(marker: bytes, signame: str = "TERM", timeout: float = 10.0, *,
                keep: Iterable[int] = ()) -> list[int]:
    """Send `signame` to every process carrying `marker`, SIGKILL what is left after
    `timeout` seconds; returns the pids that had to be killed."""
    keep = set(keep)
    targets = [p for p in procs.marked(marker) if p not in keep]
    if not targets:
        return []
    procs.signal_all(targets, procs.signum(signame))
    procs.signal_all(targets, signal.SIGCONT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        targets = [p for p in targets if procs.alive(p)]
        if not targets:
            return []
        time.sleep(0.02)
    left = [p for p in procs.marked(marker) if p not in keep]
    procs.signal_all(left, signal.SIGKILL)
    return left


def _s6_down(d: Path) -> bool:
    """The service process is gone (its finish script may still run: it carries the
    service's marker, so the /proc sweep waits for it)."""
    st = s6.read_status(d)
    return st is None or st.pid == 0 or not s6.supervised(d)


def active(d: Path) -> bool:
    """Supervised and up, finishing, or wanted up (e.g. in a crash-loop backoff)."""
    st = s6.read_status(d)
    return st is not None and (st.pid != 0 or st.finishing or st.want_up) and s6.supervised(d)


def _touch(path: Path) -> None:
    try:
        path.touch()
    except OSError:
        pass


def _marked_services(info: dict[bytes, tuple], among: list[int] | None = None) -> dict[int, bytes]:
    """pid -> marker, for every live process (of `among`, when given) carrying one of the service markers."""
    prefix = procs.SERVICE_VAR.encode() + b"="
    out = {}
    for pid, value in procs.env_values(procs.SERVICE_VAR, {os.getpid(), os.getppid()}, among).items():
        marker = prefix + value
        if marker in info and procs.alive(pid):
            out[pid] = marker
    return out
