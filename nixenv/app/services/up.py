"""`nixenv services up` and `restart`: the services pipeline, top to bottom.

    config --plan--> service directories --reconcile--> scanner --supervise--> start (waves)

`up` renders only when what the services are made from changed (the stamp of nixenv.toml,
the ports, the templates and nixenv itself), starts the project's scanner in the shell's
environment (restarting it when that environment changed), stops what a dead supervisor or
scanner left, and starts the services in waves of `depends_on`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Sequence

from nixenv.app.generate import ensure_generated
from nixenv.app.services.common import Progress, check_names, closure_dependants, paths_of, specs
from nixenv.app.services.down import down
from nixenv.config.load import Config, topological_order
from nixenv.config.paths import ProjectPaths
from nixenv.services import digest
from nixenv.services import env as services_env
from nixenv.services import ports as service_ports
from nixenv.services import procs, s6, stamp, stop
from nixenv.services.dirs import read_started, service_dirs, started_current, write_started
from nixenv.services.start import is_ready, start
from nixenv.services.supervise import locked, orphans, scanner, start_scanner, stop_orphans, stop_scanner, unsupervised
from nixenv.support.errors import NixenvError


@dataclass
class UpResult:
    started: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    seconds: float = 0.0


def prepare(cfg: Config, paths: ProjectPaths) -> None:
    """Render the service directories, and the flake and .envrc they need, when what they are
    made from changed; nothing at all (not even the flake's check) when they are current."""
    if not stamp.current(cfg, paths):
        ensure_generated(cfg)


def up(cfg: Config, names: Sequence[str] = (), timeout: float = 60.0,
       progress: Progress | None = None) -> UpResult:
    """Bring NAMEs (all when none) and their dependencies up, each after its dependencies
    are ready; return once all are ready or raise ServiceFailed naming the one that was not."""
    progress = progress or Progress()
    t0 = time.monotonic()
    check_names(cfg, names)
    paths = paths_of(cfg)
    if not cfg.services:
        prepare(cfg, paths)  # retires (stops) services that were removed from the config
        if scanner(paths).state != "stopped":
            down(cfg.root, progress=progress)
        raise NixenvError(f"no [services.NAME] in {cfg.path.name}: nothing to start")
    prepare(cfg, paths)
    spec = specs(cfg)
    with locked(paths, progress.event):
        fresh, restored = _ensure_scanner(cfg, paths, progress)
        wanted = topological_order(cfg.services, list(dict.fromkeys([*names, *restored])) or None)
        dirs = {n: paths.service(n) for n in wanted}

        # (a status file is only believed while its supervisor runs, and never right after a
        # fresh scanner: it may be left from before a reboot)
        def current() -> dict[str, s6.SvStatus | None]:
            return {n: None if fresh or not s6.supervised(dirs[n]) else s6.read_status(dirs[n]) for n in wanted}

        statuses = current()
        started = read_started(paths)
        changed = [n for n in wanted if statuses[n] is not None and (statuses[n].up or spec[n].oneshot)
                   and not started_current(paths, n, started)]
        if changed:
            progress.event(f"configuration changed: restarting {', '.join(changed)}")
            stopped = [n for n in closure_dependants(cfg, changed) if stop.active(paths.service(n))]
            stop.stop_waves([paths.service(n) for n in stopped], progress.event)
            wanted = topological_order(cfg.services, list(dict.fromkeys([*wanted, *stopped])))
            dirs = {n: paths.service(n) for n in wanted}
            statuses = current()
        orphaned = unsupervised(list(dirs.values()))
        if orphaned:
            # a supervisor died (kill -9) and its service kept running: stop that copy first,
            # or a second one would start beside it
            progress.event(f"{', '.join(orphaned)}: running without its supervisor (it died); stopping that copy")
            stop.stop_services([dirs[n] for n in orphaned])
            statuses = current()
        result = UpResult(restored=restored)
        started = read_started(paths)
        result.already = [n for n in wanted
                          if is_ready(spec[n], dirs[n], statuses[n], started_current(paths, n, started))]
        to_start = [n for n in wanted if n not in result.already]
        if to_start:
            try:
                _preflight(cfg, paths, [n for n in to_start if not (statuses[n] and statuses[n].up)])
            except NixenvError:
                if fresh:  # leave nothing running when nothing was started
                    stop_scanner(paths)
                raise
            result.started = start(paths, spec, to_start, t0 + timeout, timeout, progress.event, progress.waiting)
        result.seconds = time.monotonic() - t0
        return result


def _ensure_scanner(cfg: Config, paths: ProjectPaths, progress: Progress) -> tuple[bool, list[str]]:
    """A live scanner in the current environment: (freshly started, services to bring back)."""
    env_now = digest.env_digest(cfg)
    info = scanner(paths)
    if info.state == "running" and info.env_digest == env_now:
        s6.rescan(paths.scan)
        return False, []
    restore: list[str] = []
    if info.state == "running":
        running = [d for d in service_dirs(paths) if stop.active(d)]
        restore = [d.name for d in running if d.name in cfg.services]
        progress.event("the project's environment changed (flake, .envrc, [env], dotenv or secrets): restarting "
                       "the scanner" + (f" and {', '.join(restore)}" if restore else ""))
        stop.stop_waves(running, progress.event, last=lambda: s6.stop_scanner(paths.scan))
        stop_scanner(paths)
    elif orphans(paths) or procs.marked(procs.project_marker(paths.scan)):
        restore = [d.name for d in service_dirs(paths)
                   if (st := s6.read_status(d)) is not None and st.want_up and s6.supervised(d)
                   and d.name in cfg.services]
        progress.event("the scanner of this project is gone (killed?); stopping its orphaned "
                       f"services{' (' + ', '.join(restore) + ')' if restore else ''} to supervise them again")
        stop_orphans(paths)
    warnings: list[str] = []
    argv, via = services_env.scanner_argv(cfg, paths.scan, warnings)
    for warning in warnings:
        progress.event(f"warning: {warning}")
    start_scanner(paths, argv, services_env.scanner_environ(cfg, paths.scan), via, env_now, progress.event)
    return True, restore


def _preflight(cfg: Config, paths: ProjectPaths, names: Sequence[str]) -> None:
    """Run-time checks before anything starts: ports taken, programs missing."""
    problems = []
    info = scanner(paths)
    path = procs.environ_dict(info.pid).get("PATH") if info.pid else None
    if path is None and digest.in_devshell(cfg):
        path = os.environ.get("PATH", "")
    # (otherwise, without /proc, the services' PATH is unknown: the program check is skipped)
    listening = procs.listening_ports()
    ports = service_ports.resolve(cfg, paths, record=False)
    ours: set[int] | None = None
    for name in names:
        port = ports.get(name)
        if port is None:
            continue
        if listening is None:  # no /proc/net: try to bind
            owner = procs.port_owner(port)
        elif port in listening:
            ours = set(procs.marked(procs.project_marker(paths.scan))) if ours is None else ours
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
        if service.preset is None and path is not None:
            missing = services_env.missing_program(cfg.root, name, service.command, service.cwd, path)
            if missing:
                problems.append(missing)
    if problems:
        raise NixenvError("nothing was started:\n" + "\n".join(f"  {p}" for p in problems))


def restart(cfg: Config, names: Sequence[str], with_dependants: bool = False, timeout: float = 60.0,
            progress: Progress | None = None) -> list[str]:
    """Stop NAMEs (and their dependants, when asked) and bring them up until ready again."""
    progress = progress or Progress()
    if not names:
        raise NixenvError("name the services to restart")
    check_names(cfg, names)
    targets = closure_dependants(cfg, names) if with_dependants else list(names)
    paths = paths_of(cfg)
    prepare(cfg, paths)
    spec = specs(cfg)
    t0 = time.monotonic()
    with locked(paths, progress.event):
        _ensure_scanner(cfg, paths, progress)
        order = [n for n in topological_order(cfg.services, targets) if n in targets]
        s6.wait_until(lambda: all(s6.supervised(paths.service(n)) for n in order), 10)
        stop.stop_waves([paths.service(n) for n in order if stop.active(paths.service(n))], progress.event)
        write_started(paths, {name: None for name in order})  # a one-shot task runs again
        started = read_started(paths)
        deps = [n for n in topological_order(cfg.services, targets) if n not in targets
                and not is_ready(spec[n], paths.service(n), s6.read_status(paths.service(n)),
                                 started_current(paths, n, started))]
        _preflight(cfg, paths, [*deps, *order])
        return start(paths, spec, [n for n in topological_order(cfg.services, targets) if n in order or n in deps],
                     t0 + timeout, timeout, progress.event, progress.waiting)


