"""Start: services in waves of `depends_on`, each once its dependencies are ready.

"Ready" is what the service declares: readiness notified through s6-notifyoncheck (a
`ready` check, or a preset's check and what it ensures), merely up for a service without a
check, exited 0 for a one-shot task. A service that dies, restarts or times out before it
is ready stops `up` with its log tail; what it forked is stopped with it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

from nixenv.config.paths import ProjectPaths
from nixenv.services import logs, s6, stop
from nixenv.services.dirs import RUNTIME_FILES, meta, read_started, read_stripped, started_current, write_started
from nixenv.support.errors import NixenvError

LOG_TAIL = 20
SUPERVISOR_TIMEOUT = 10.0  # s6-svscan spawning supervisors for new directories


class ServiceFailed(NixenvError):
    """A service did not become ready (died or timed out); the message has its log tail."""


@dataclass(frozen=True)
class StartSpec:
    name: str
    depends_on: tuple[str, ...]
    notified: bool  # has a readiness check
    oneshot: bool
    restart: str
    ready_text: str  # what ready means, for messages


def is_ready(spec: StartSpec, d: Path, st: s6.SvStatus | None, current: bool = True) -> bool:
    """Ready by `st` (None: not known to be running under the current scanner); `current`: its
    instance was started from the directory as it is now (dirs.started_current)."""
    if st is None:
        return False
    if spec.oneshot:
        # done with this configuration: exited 0 after a start from the directory as it is now
        return (not st.up and not st.finishing and st.exit_code == 0 and not st.never_started and current
                and read_stripped(d / "data/last-exit") == "exit 0")
    if not st.up:
        return False
    return st.ready if spec.notified else True


def start(paths: ProjectPaths, specs: Mapping[str, StartSpec], names: Sequence[str], deadline: float,
          timeout: float, report: Callable[[str], None],
          waiting: Callable[[dict[str, float]], None] = lambda pending: None) -> list[str]:
    """Start `names` (topologically ordered) as their dependencies become ready."""
    pending = list(names)
    recorded = read_started(paths)
    launched: dict[str, str | None] = {}  # name -> the hash it was started from
    try:
        return _start(paths, specs, pending, deadline, timeout, report, waiting, recorded, launched)
    finally:
        write_started(paths, launched)


def _start(paths: ProjectPaths, specs: Mapping[str, StartSpec], pending: list[str], deadline: float,
           timeout: float, report: Callable[[str], None], waiting: Callable[[dict[str, float]], None],
           recorded: dict[str, str], launched: dict[str, str | None]) -> list[str]:
    names = list(pending)
    started: dict[str, tuple[float, float]] = {}  # name -> (monotonic, wall) when told to start
    seen_pid: dict[str, int] = {}
    first_try: dict[str, float] = {}
    ready: set[str] = set()
    last_tick = 0.0
    while pending:
        now = time.monotonic()
        launching: list[str] = []  # reported in one line per tick (50 lines cost a terminal ~50 ms)
        became_ready: list[str] = []
        for name in pending:
            if name in started:
                continue
            if not all(dep in ready or (dep not in pending and is_ready(
                    specs[dep], paths.service(dep), s6.read_status(paths.service(dep)),
                    started_current(paths, dep, {**recorded, **{k: v for k, v in launched.items() if v}})))
                    for dep in specs[name].depends_on):
                continue
            d = paths.service(name)
            st = s6.read_status(d)
            if not (st and st.up):
                for stale in RUNTIME_FILES:
                    try:
                        (d / stale).unlink()
                    except FileNotFoundError:
                        pass
            if not s6.control(d, "u"):  # its supervisor is not there yet
                first_try.setdefault(name, now)
                if now - first_try[name] > SUPERVISOR_TIMEOUT:
                    raise NixenvError(f"s6-svscan does not supervise {name}; see {paths.state / 'scanner.log'}")
                continue
            started[name] = (time.monotonic(), time.time())
            launched[name] = meta(d).hash
            launching.append(name)
        for name in [n for n in pending if n in started]:
            spec = specs[name]
            d = paths.service(name)
            base = str(d)
            st = s6.read_status(base)
            since_mono, since_wall = started[name]
            last_exit = _mtime(f"{base}/data/last-exit") if st is not None and st.pid == 0 else 0.0
            died = st is not None and ((st.finishing and st.since > since_wall) or (st.pid == 0 and (
                name in seen_pid or last_exit > since_wall)))
            if spec.oneshot:
                if died and st is not None and not st.finishing and last_exit > since_wall:
                    if read_stripped(d / "data/last-exit") == "exit 0":
                        ready.add(name)
                        pending.remove(name)
                        report(f"{name} done (exit 0) after {time.monotonic() - since_mono:.2f} s")
                        continue
                    _fail(paths, name, f"failed ({read_stripped(d / 'data/last-exit')})")
                if st is not None and st.up:
                    seen_pid.setdefault(name, st.pid)
            elif not spec.notified and died:
                # no readiness check: started is all "ready" means; the policy handles the exit
                ready.add(name)
                pending.remove(name)
                report(f"{name} started but already exited ({_exit_text(st, d)}); restart = {spec.restart}")
                continue
            elif st is not None and st.up:
                if is_ready(spec, d, st):
                    ready.add(name)
                    pending.remove(name)
                    kind = f"ready ({spec.ready_text})" if spec.notified else "up"
                    became_ready.append(f"{name} {kind} after {time.monotonic() - since_mono:.2f} s")
                    continue
                if os.path.exists(f"{base}/data/ensure-failed"):
                    _fail(paths, name, "is up, but making sure of its databases and users failed")
                if seen_pid.setdefault(name, st.pid) != st.pid:
                    _fail(paths, name, "restarted before it was ready (it exited)")
            elif died:
                _fail(paths, name, f"died before it was ready ({_exit_text(st, d)})")
            if time.monotonic() > deadline:
                _fail(paths, name, f"was not ready within {timeout:g} s"
                      + (f" (waiting for {spec.ready_text})" if spec.notified or spec.oneshot else ""))
        if launching:
            report(f"starting {', '.join(launching)}")
        if became_ready:
            report("; ".join(became_ready))
        if pending and time.monotonic() > deadline:
            blocker = next(n for n in pending if n not in started)
            deps = [d for d in specs[blocker].depends_on if d not in ready]
            raise ServiceFailed(f"{blocker} was not started within {timeout:g} s: waiting for {', '.join(deps)}")
        if pending:
            if now - last_tick > 0.2:
                waiting({n: time.monotonic() - started[n][0] for n in pending if n in started})
                last_tick = now
            # the services starting need the CPU more than this loop: a tick that took long
            # (many services) waits longer before the next one
            time.sleep(max(0.01, 2 * (time.monotonic() - now)))
    return list(names)


def _exit_text(st: s6.SvStatus, d: Path) -> str:
    if st.pid != 0:  # s6 may not have recorded the wait status yet
        s6.wait_until(lambda: (s6.read_status(d) or st).pid == 0, 0.5)
        st = s6.read_status(d) or st
    if st.pid == 0 and st.signal is not None:
        return f"signal {st.signal}"
    if st.pid == 0 and st.exit_code is not None:
        return f"exit {st.exit_code}"
    return read_stripped(d / "data/last-exit") or "exited"


def _mtime(path: Path | str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def _fail(paths: ProjectPaths, name: str, why: str) -> None:
    d = paths.service(name)
    stop.stop_services([d])  # with whatever it forked
    try:
        (d / "data/failed").write_text(why + "\n")
    except OSError:
        pass
    time.sleep(0.05)  # let s6-log write what the service printed last
    log_dir = paths.log(name)
    lines = logs.last_lines(log_dir, LOG_TAIL)
    if lines:
        body = "\n".join(f"  | {line}" for line in lines)
    else:
        # an empty log: its directory may be read-only or full, or the logger could not start;
        # what s6 itself said is in the scanner's output
        log_state = ("could not be written" if log_dir.is_dir() and not os.access(log_dir, os.W_OK) else
                     "is missing" if not log_dir.is_dir() else "is empty")
        body = (f"  (the log {log_state}; the last lines of s6-svscan's own output, {paths.state / 'scanner.log'}:)\n"
                + "\n".join(f"  | {line}" for line in logs.file_tail(paths.state / "scanner.log", LOG_TAIL)))
    raise ServiceFailed(f"service {name} {why}; it was stopped. Last {LOG_TAIL} lines of {log_dir / 'current'}:\n"
                        f"{body}\n(other services that were ready are still running: `nixenv services status`)")
