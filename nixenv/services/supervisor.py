"""Supervision of the project's services: one detached s6-svscan per project.

`up` brings services up in topological order of `depends_on`, each only after its
dependencies are ready; `down` stops them in reverse order with their whole process trees;
`status` reads s6's status files; `restart` is down + up. The scanner is found again
through `.nixenv/state/scanner.json` and, above all, through its control FIFO (a live
scanner reads it). A scanner that died (SIGKILL) leaves supervisors and services running:
`up` stops those orphans completely and starts them again under a new scanner, `down` just
stops them. A lock file serialises `up`, `down` and `restart` of one project.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

from nixenv.services import procs
from nixenv.services import s6
from nixenv.config.load import Config, Service, topological_order
from nixenv.support.errors import NixenvError
from nixenv.services.reconcile import HASH_FILE, LOGS_DIR, SERVICES_DIR, read_stripped

STATE_DIR = ".nixenv/state"
LOG_TAIL = 20
SUPERVISOR_TIMEOUT = 10.0  # s6-svscan spawning supervisors for new directories


class ServiceFailed(NixenvError):
    """A service did not become ready (died or timed out); the message has its log tail."""


class Progress:
    """What `up`/`down`/`restart` report while they work (the CLI prints it)."""

    def event(self, text: str) -> None:  # a line worth keeping
        pass

    def waiting(self, pending: dict[str, float]) -> None:  # name -> seconds waited so far
        pass


# ------------------------------------------------------------------------------ paths, state


@dataclass(frozen=True)
class Layout:
    root: Path
    scan: Path
    state: Path
    logs: Path

    @classmethod
    def of(cls, cfg: Config) -> "Layout":
        root = cfg.root.resolve()
        return cls(root, root / SERVICES_DIR, root / STATE_DIR, root / LOGS_DIR)

    def service(self, name: str) -> Path:
        return self.scan / name

    @property
    def marker(self) -> bytes:
        return procs.project_marker(self.scan)


def _write_json(path: Path, data: dict) -> None:
    from nixenv.support.files import write_atomic

    write_atomic(path, json.dumps(data, indent=1) + "\n")


@contextmanager
def locked(cfg: Config, progress: Progress) -> Iterator[None]:
    """One `up`/`down`/`restart` at a time per project (flock; released if we die)."""
    lay = Layout.of(cfg)
    lay.state.mkdir(parents=True, exist_ok=True)
    fd = os.open(lay.state / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            progress.event(f"waiting for another `nixenv services` command (pid {holder}) to finish")
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------ scanner


@dataclass(frozen=True)
class Scanner:
    state: str  # running | stopped | stale (supervisors orphaned by a dead scanner)
    pid: int | None = None
    via: str | None = None
    since: float | None = None


def scanner(cfg: Config) -> Scanner:
    lay = Layout.of(cfg)
    info = _read_state(lay)
    if s6.scanner_alive(lay.scan):
        pid = info.get("pid")
        if not (isinstance(pid, int) and _is_scanner(pid, lay)):
            pid = _find_scanner(lay)
        return Scanner("running", pid, info.get("via"), info.get("since"))
    if _orphans(lay):
        return Scanner("stale", None, info.get("via"), info.get("since"))
    return Scanner("stopped")


def _read_state(lay: Layout) -> dict:
    try:
        data = json.loads((lay.state / "scanner.json").read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _is_scanner(pid: int, lay: Layout) -> bool:
    info = procs.stat(pid)
    return info is not None and info[0] == "s6-svscan" and info[1] != "Z" and lay.marker in procs.environ(pid)


def _find_scanner(lay: Layout) -> int | None:
    for pid in procs.marked(lay.marker):
        if _is_scanner(pid, lay):
            return pid
    return None


def _service_dirs(lay: Layout) -> list[Path]:
    try:
        return sorted(p for p in lay.scan.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def _orphans(lay: Layout) -> list[Path]:
    """Service directories whose supervisor (or logger's) outlived the scanner."""
    return [d for d in _service_dirs(lay) if s6.supervised(d) or s6.supervised(d / "log")]


def _start_scanner(cfg: Config, lay: Layout, progress: Progress) -> int | None:
    import signal
    import subprocess

    from nixenv.services import env as services_env

    warnings: list[str] = []
    argv, via = services_env.scanner_argv(cfg, lay.scan, warnings=warnings)
    for warning in warnings:
        progress.event(f"warning: {warning}")
    env = services_env.scanner_environ(cfg, lay.scan, procs.PROJECT_VAR)
    lay.scan.mkdir(parents=True, exist_ok=True)
    lay.logs.mkdir(parents=True, exist_ok=True)
    log_path = lay.state / "scanner.log"
    if via != "devshell":
        progress.event(f"starting s6-svscan in the project's environment ({via})")

    def reset_signals() -> None:  # services must not inherit ignored signals
        for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)

    with open(log_path, "ab") as log:
        child = subprocess.Popen(argv, cwd=lay.root, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=log, start_new_session=True, preexec_fn=reset_signals)
    ok = s6.wait_until(lambda: s6.scanner_alive(lay.scan) or child.poll() is not None,
                       120 if via != "devshell" else 10, step=0.005)
    if not ok or not s6.scanner_alive(lay.scan):
        if child.poll() is None:
            child.kill()
        raise NixenvError(f"s6-svscan did not start (through {via}: {' '.join(argv)}); "
                          f"its output:\n{_tail(log_path, LOG_TAIL)}")
    pid = child.pid if _is_scanner(child.pid, lay) else _find_scanner(lay)
    _write_json(lay.state / "scanner.json", {"pid": pid, "via": via, "since": time.time(),
                                             "scan": str(lay.scan), "argv": argv})
    return pid


def _ensure_scanner(cfg: Config, lay: Layout, progress: Progress) -> list[str]:
    """A live scanner for the project; returns services to bring back after a stale one."""
    if s6.scanner_alive(lay.scan):
        s6.rescan(lay.scan)
        return []
    restore: list[str] = []
    if _orphans(lay) or procs.marked(lay.marker):
        restore = [d.name for d in _service_dirs(lay)
                   if (st := s6.read_status(d)) is not None and st.want_up and s6.supervised(d)
                   and d.name in cfg.services]
        progress.event("the scanner of this project is gone (killed?); stopping its orphaned "
                       f"services{' (' + ', '.join(restore) + ')' if restore else ''} to supervise them again")
        _stop_orphans(cfg, lay)
    _start_scanner(cfg, lay, progress)
    return restore


def _stop_orphans(cfg: Config, lay: Layout) -> None:
    dirs = _service_dirs(lay)
    _stop(cfg, lay, [d.name for d in dirs], exit_supervisors=True)
    for d in dirs:
        s6.control(d / "log", "dx")
    s6.wait_until(lambda: not _orphans(lay), 5)
    procs.stop_marked(lay.marker, "TERM", 2.0)


# ------------------------------------------------------------------------------ stopping


def _stop(cfg: Config, lay: Layout, names: Sequence[str], *, exit_supervisors: bool = False,
          then: Callable[[], object] | None = None) -> list[str]:
    """Stop these services at once, each with its whole process tree: the stop signal goes
    to the service (by s6) and to every process carrying its marker (by us) at the same
    time; SIGKILL after stop_timeout (s6's timeout-kill for the service, ours for the rest).
    Returns the services that needed SIGKILL."""
    if not names:
        return []
    start = time.monotonic()
    info: dict[bytes, tuple[str, Path, str, float]] = {}
    for name in names:
        d = lay.service(name)
        service = cfg.services.get(name)
        sig = service.signal if service else s6._read_text(d / "down-signal", "SIGTERM").removeprefix("SIG")
        timeout = service.timeout if service else s6.read_ms(d / "timeout-kill", 10_000) / 1000
        info[procs.service_marker(d)] = (name, d, sig, timeout)
        _touch(d / "data/stopping")  # tells finish not to apply the restart policy
        s6.control(d, "dx" if exit_supervisors else "d")
    by_pid = _marked_services(info)
    for pid, marker in by_pid.items():
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
            left = _marked_services({m: info[m] for m in pending})
            pending -= {m for m in down if m not in left.values()}
        if late:
            for pid, marker in _marked_services({m: info[m] for m in late}).items():
                procs.signal_all([pid], signal.SIGKILL)
                killed.add(info[marker][0])
        if pending:
            time.sleep(0.01 if now - start < 0.5 else 0.05)
    return sorted(killed)


def _s6_down(d: Path) -> bool:
    """The service process is gone (its finish script may still run: it carries the
    service's marker, so the /proc sweep waits for it)."""
    st = s6.read_status(d)
    return st is None or st.pid == 0 or not s6.supervised(d)


def _active(d: Path) -> bool:
    """Supervised and up, finishing, or wanted up (e.g. in a crash-loop backoff)."""
    st = s6.read_status(d)
    return st is not None and (st.pid != 0 or st.finishing or st.want_up) and s6.supervised(d)


def _touch(path: Path) -> None:
    try:
        path.touch()
    except OSError:
        pass


def _marked_services(info: dict[bytes, tuple]) -> dict[int, bytes]:
    """pid -> marker, for every live process carrying one of the service markers."""
    prefix = procs.SERVICE_VAR.encode() + b"="
    out = {}
    for pid, value in procs.env_values(procs.SERVICE_VAR, {os.getpid(), os.getppid()}).items():
        marker = prefix + value
        if marker in info and procs.alive(pid):
            out[pid] = marker
    return out


def _stop_waves(cfg: Config, lay: Layout, names: Sequence[str], progress: Progress,
                last: Callable[[], object] | None = None) -> None:
    """Stop `names` in reverse dependency order: a service once its dependants are down.
    `last` runs as soon as the last wave was told to stop (e.g. stopping the scanner)."""
    remaining = [n for n in topological_order(cfg.services, [n for n in names if n in cfg.services])
                 if n in names]
    remaining += [n for n in names if n not in cfg.services]
    while remaining:
        wave = [n for n in remaining
                if not any(n in cfg.services[o].depends_on for o in remaining if o in cfg.services)]
        t0 = time.monotonic()
        final = len(wave) == len(remaining)
        killed = _stop(cfg, lay, wave, then=last if final else None)
        for name in killed:
            progress.event(f"{name}: killed (SIGKILL) after its stop_timeout")
        progress.event(f"stopped {', '.join(wave)} ({time.monotonic() - t0:.2f} s)")
        remaining = [n for n in remaining if n not in wave]


def down(cfg: Config, names: Sequence[str] = (), progress: Progress | None = None) -> None:
    """Stop NAMEs (all services and the scanner when none) and every process they left."""
    progress = progress or Progress()
    check_names(cfg, names)
    lay = Layout.of(cfg)
    with locked(cfg, progress):
        alive = s6.scanner_alive(lay.scan)
        if names:
            if alive or _orphans(lay):
                _stop_waves(cfg, lay, [n for n in names if s6.supervised(lay.service(n))], progress)
            return
        if not alive:
            if _orphans(lay) or procs.marked(lay.marker):
                progress.event("the scanner is gone; stopping its orphaned supervisors and services")
                _stop_orphans(cfg, lay)
            return
        running = [d.name for d in _service_dirs(lay) if _active(d)]
        pid = _scanner_pid(lay)
        if running:
            # the scanner is told to exit as soon as the last wave is stopping
            _stop_waves(cfg, lay, running, progress, last=lambda: s6.stop_scanner(lay.scan))
        left = _stop_scanner(lay, pid)
        if left:
            progress.event(f"killed {len(left)} leftover process(es) of the project")


def _scanner_pid(lay: Layout) -> int | None:
    pid = _read_state(lay).get("pid")
    return pid if isinstance(pid, int) and _is_scanner(pid, lay) else _find_scanner(lay)


def _stop_scanner(lay: Layout, pid: int | None = None) -> list[int]:
    """s6-svscanctl -t, wait for the scanner to exit, then end anything still marked."""
    pid = pid or _scanner_pid(lay)
    s6.stop_scanner(lay.scan)
    s6.wait_until(lambda: not s6.scanner_alive(lay.scan) and not (pid and procs.alive(pid)), 10,
                  step=0.005)
    left = procs.stop_marked(lay.marker, "TERM", 2.0)
    try:
        (lay.state / "scanner.json").unlink()
    except FileNotFoundError:
        pass
    return left


# ------------------------------------------------------------------------------ starting


def check_names(cfg: Config, names: Sequence[str]) -> None:
    from nixenv.config.load import _did_you_mean

    unknown = [n for n in names if n not in cfg.services]
    if unknown:
        known = list(cfg.services)
        hints = [h for n in unknown if (h := _did_you_mean(n, known))]
        raise NixenvError(f"no service {', '.join(repr(n) for n in unknown)} in {cfg.path.name}"
                          f" (known: {', '.join(known) or 'none'})" + (f"; {hints[0]}" if hints else ""))


def _closure_dependants(cfg: Config, names: Sequence[str]) -> list[str]:
    out = list(names)
    changed = True
    while changed:
        changed = False
        for name, service in cfg.services.items():
            if name not in out and any(d in out for d in service.depends_on):
                out.append(name)
                changed = True
    return out


def _is_ready(service: Service, st: s6.SvStatus | None) -> bool:
    if st is None or not st.up:
        return False
    return st.ready if service.ready is not None else True


def _preflight(cfg: Config, lay: Layout, names: Sequence[str]) -> None:
    """Run-time checks before anything starts: ports taken, programs missing."""
    from nixenv.services import env as services_env

    problems = []
    pid = scanner(cfg).pid
    path = procs.environ_dict(pid).get("PATH") if pid else None
    if path is None and services_env.in_devshell(cfg):
        path = os.environ.get("PATH", "")
    # (otherwise, without /proc, the services' PATH is unknown: the program check is skipped)
    listening = procs.listening_ports()
    ours: set[int] | None = None
    for name in names:
        service = cfg.services[name]
        port = service.port
        if port is None:
            continue
        if listening is None:  # no /proc/net: try to bind
            owner = procs.port_owner(port)
        elif port in listening:
            ours = set(procs.marked(lay.marker)) if ours is None else ours
            owner = None if procs.listening_pids(port) & ours else procs.port_owner(port)
        else:
            owner = None
        if owner:
            problems.append(f"services.{name}.port: port {port} is already in use by {owner}")
    for name in names:
        service = cfg.services[name]
        if not (cfg.root / service.cwd).is_dir():
            problems.append(f"services.{name}.cwd: directory {cfg.root / service.cwd} does not exist")
            continue
        missing = services_env.missing_program(cfg, service, path) if path is not None else None
        if missing:
            problems.append(missing)
    if problems:
        raise NixenvError("nothing was started:\n" + "\n".join(f"  {p}" for p in problems))


def _generate(cfg: Config) -> None:
    """Service directories always; the flake too when the scanner will need `nix develop`."""
    from nixenv.services import env as services_env
    from nixenv.services import reconcile as services_layout

    if services_env.in_devshell(cfg) or s6.scanner_alive(Layout.of(cfg).scan):
        services_layout.ensure(cfg)
    else:
        from nixenv.app.generate import ensure_generated

        ensure_generated(cfg)


@dataclass
class UpResult:
    started: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    seconds: float = 0.0


def up(cfg: Config, names: Sequence[str] = (), timeout: float = 60.0,
       progress: Progress | None = None) -> UpResult:
    """Bring NAMEs (all when none) and their dependencies up, each after its dependencies
    are ready; return once all are ready or raise ServiceFailed naming the one that was not."""
    progress = progress or Progress()
    t0 = time.monotonic()
    check_names(cfg, names)
    if not cfg.services:
        _generate(cfg)  # prunes (stops) services that were removed from the config
        if scanner(cfg).state != "stopped":
            down(cfg, progress=progress)
        raise NixenvError(f"no [services.NAME] in {cfg.path.name}: nothing to start")
    _generate(cfg)
    lay = Layout.of(cfg)
    with locked(cfg, progress):
        fresh = not s6.scanner_alive(lay.scan)
        restored = _ensure_scanner(cfg, lay, progress)
        wanted = topological_order(cfg.services, list(dict.fromkeys([*names, *restored])) or None)
        dirs = {n: lay.service(n) for n in wanted}
        # (supervisors of new directories may still be spawning: `_start` waits for each;
        # a status file is only believed while its supervisor runs, and never right after
        # a fresh scanner: it may be left from before a reboot)
        def current() -> dict[str, s6.SvStatus | None]:
            return {n: None if fresh or not s6.supervised(dirs[n]) else s6.read_status(dirs[n])
                    for n in wanted}

        statuses = current()
        changed = [n for n in wanted if statuses[n] is not None and statuses[n].up
                   and read_stripped(dirs[n] / "data/started-hash") != read_stripped(dirs[n] / HASH_FILE)]
        if changed:
            progress.event(f"configuration changed: restarting {', '.join(changed)}")
            stopped = [n for n in _closure_dependants(cfg, changed) if _active(lay.service(n))]
            _stop_waves(cfg, lay, stopped, progress)
            wanted = topological_order(cfg.services, list(dict.fromkeys([*wanted, *stopped])))
            dirs = {n: lay.service(n) for n in wanted}
            statuses = current()
        result = UpResult(restored=restored)
        result.already = [n for n in wanted if _is_ready(cfg.services[n], statuses[n])]
        to_start = [n for n in wanted if n not in result.already]
        if to_start:
            try:
                _preflight(cfg, lay, [n for n in to_start if not (statuses[n] and statuses[n].up)])
            except NixenvError:
                if fresh:  # leave nothing running when nothing was started
                    _stop_scanner(lay)
                raise
            result.started = _start(cfg, lay, to_start, t0 + timeout, timeout, progress)
        result.seconds = time.monotonic() - t0
        return result


def _start(cfg: Config, lay: Layout, names: list[str], deadline: float, timeout: float,
           progress: Progress) -> list[str]:
    """Start `names` (topologically ordered) as their dependencies become ready."""
    pending = list(names)
    started: dict[str, tuple[float, float]] = {}  # name -> (monotonic, wall) when told to start
    seen_pid: dict[str, int] = {}
    first_try: dict[str, float] = {}
    ready: set[str] = set()
    last_tick = 0.0
    while pending:
        now = time.monotonic()
        for name in pending:
            if name in started:
                continue
            deps = cfg.services[name].depends_on
            if all(d in ready or (d not in pending and _is_ready(cfg.services[d], s6.read_status(lay.service(d))))
                   for d in deps):
                d = lay.service(name)
                st = s6.read_status(d)
                if not (st and st.up):
                    for stale in ("data/failed", "data/restarts", "data/crashes", "data/stopping"):
                        try:
                            (d / stale).unlink()
                        except FileNotFoundError:
                            pass
                _copy(d / HASH_FILE, d / "data/started-hash")
                if not s6.control(d, "u"):  # its supervisor is not there yet
                    first_try.setdefault(name, now)
                    if now - first_try[name] > SUPERVISOR_TIMEOUT:
                        raise NixenvError(f"s6-svscan does not supervise {name}; see "
                                          f"{lay.state / 'scanner.log'}")
                    continue
                started[name] = (time.monotonic(), time.time())
                progress.event(f"starting {name}")
        for name in [n for n in pending if n in started]:
            service = cfg.services[name]
            d = lay.service(name)
            st = s6.read_status(d)
            since_mono, since_wall = started[name]
            died = st is not None and ((st.finishing and st.since > since_wall) or (st.pid == 0 and (
                name in seen_pid or _mtime(d / "data/last-exit") > since_wall)))
            if service.ready is None and died:
                # no readiness check: started is all "ready" means; the policy handles the exit
                ready.add(name)
                pending.remove(name)
                why = _exit_text(st, d)
                progress.event(f"{name} started but already exited ({why}); restart = {service.restart}")
                continue
            if st is not None and st.up:
                if _is_ready(service, st):
                    ready.add(name)
                    pending.remove(name)
                    kind = f"ready ({_ready_text(service)})" if service.ready else "up"
                    progress.event(f"{name} {kind} after {time.monotonic() - since_mono:.2f} s")
                    continue
                if seen_pid.setdefault(name, st.pid) != st.pid:
                    _fail(cfg, lay, name, "restarted before it was ready (it exited)")
            elif died:
                _fail(cfg, lay, name, f"died before it was ready ({_exit_text(st, d)})")
            if time.monotonic() > deadline:
                _fail(cfg, lay, name, f"was not ready within {timeout:g} s"
                      + (f" (waiting for {_ready_text(service)})" if service.ready else ""))
        if pending and time.monotonic() > deadline:
            waiting = [n for n in pending if n not in started]
            blocker = next(iter(waiting))
            deps = [d for d in cfg.services[blocker].depends_on if d not in ready]
            raise ServiceFailed(f"{blocker} was not started within {timeout:g} s: waiting for {', '.join(deps)}")
        if pending:
            if now - last_tick > 0.2:
                progress.waiting({n: time.monotonic() - started[n][0] for n in pending if n in started})
                last_tick = now
            time.sleep(0.01)
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


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _copy(src: Path, dst: Path) -> None:
    try:
        dst.write_text(src.read_text())
    except OSError:
        pass


def _ready_text(service: Service) -> str:
    r = service.ready
    assert r is not None
    return {"tcp": f"tcp port {r.value}", "http": f"http {r.value}", "command": f"command {r.value!r}"}[r.kind]


def _fail(cfg: Config, lay: Layout, name: str, why: str) -> None:
    d = lay.service(name)
    _stop(cfg, lay, [name])  # with whatever it forked
    try:
        (d / "data/failed").write_text(why + "\n")
    except OSError:
        pass
    time.sleep(0.05)  # let s6-log write what the service printed last
    log = lay.logs / name / "current"
    tail = log_tail(lay.logs / name, LOG_TAIL)
    body = "\n".join(f"  | {line}" for line in tail) if tail else "  (the log is empty)"
    raise ServiceFailed(f"service {name} {why}; it was stopped. Last {LOG_TAIL} lines of {log}:\n{body}\n"
                        "(other services that were ready are still running: `nixenv services status`)")


def log_tail(log_dir: Path, count: int) -> list[str]:
    from nixenv.services.logs import read_lines

    return [line.text for line in read_lines(log_dir, "")][-count:]


def _tail(path: Path, count: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-count:])
    except OSError:
        return "(no output)"


# ------------------------------------------------------------------------------ restart


def restart(cfg: Config, names: Sequence[str], with_dependants: bool = False, timeout: float = 60.0,
            progress: Progress | None = None) -> list[str]:
    """Stop NAMEs (and their dependants, when asked) and bring them up until ready again."""
    progress = progress or Progress()
    if not names:
        raise NixenvError("name the services to restart")
    check_names(cfg, names)
    targets = _closure_dependants(cfg, names) if with_dependants else list(names)
    _generate(cfg)
    lay = Layout.of(cfg)
    t0 = time.monotonic()
    with locked(cfg, progress):
        _ensure_scanner(cfg, lay, progress)
        order = [n for n in topological_order(cfg.services, targets) if n in targets]
        s6.wait_until(lambda: all(s6.supervised(lay.service(n)) for n in order), SUPERVISOR_TIMEOUT)
        _stop_waves(cfg, lay, [n for n in order if _active(lay.service(n))], progress)
        deps = [n for n in topological_order(cfg.services, targets) if n not in targets
                and not _is_ready(cfg.services[n], s6.read_status(lay.service(n)))]
        _preflight(cfg, lay, [*deps, *order])
        return _start(cfg, lay, [n for n in topological_order(cfg.services, targets)
                                 if n in order or n in deps], t0 + timeout, timeout, progress)


# ------------------------------------------------------------------------------ status


@dataclass(frozen=True)
class Row:
    name: str
    state: str  # down | starting | ready | up | crash-looping | failed
    pid: int | None
    uptime: float | None  # seconds up (None when down)
    restarts: int
    port: int | None
    last_exit: str | None
    ready: str | None  # what readiness means for it
    since: float | None  # unix time of the last up/down transition
    ready_since: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def status(cfg: Config) -> tuple[Scanner, list[Row]]:
    lay = Layout.of(cfg)
    info = scanner(cfg)
    now = time.time()
    rows = []
    for name, service in cfg.services.items():
        d = lay.service(name)
        st = s6.read_status(d) if info.state != "stopped" and s6.supervised(d) else None
        restarts = int(read_stripped(d / "data/restarts") or 0) if read_stripped(d / "data/restarts").isdigit() else 0
        last_exit = read_stripped(d / "data/last-exit") or None
        crashes = read_stripped(d / "data/crashes").split()
        looping = False
        if len(crashes) == 3 and all(c.isdigit() for c in crashes):
            n, last, delay = map(int, crashes)
            from nixenv.services.reconcile import STABLE_AFTER

            looping = n >= 2 and now - last <= delay + STABLE_AFTER + 1
        if st is None:
            state = "failed" if read_stripped(d / "data/failed") else "down"
            pid = uptime = None
        elif st.up:
            pid, uptime = st.pid, max(0.0, now - st.since)
            state = ("ready" if st.ready else "starting") if service.ready else "up"
            if looping and st.want_up and not st.ready:
                state = "crash-looping"
        else:
            pid = uptime = None
            if st.want_up:
                state = "crash-looping" if looping else "starting"
            else:
                state = "failed" if read_stripped(d / "data/failed") else "down"
        rows.append(Row(name, state, pid, uptime, restarts, service.port, last_exit,
                        _ready_text(service) if service.ready else None,
                        st.since if st and st.since else None,
                        st.ready_since if st and st.up and st.ready else None))
    return info, rows
