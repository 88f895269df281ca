"""`nixenv services …`: the use cases, top to bottom.

    config ──plan──▶ service directories ──reconcile──▶ scanner ──supervise──▶ start / stop / status

`up` renders only when what the services are made from changed (a stamp of nixenv.toml, the
ports, the templates and nixenv itself), starts the project's scanner in the shell's
environment (restarting it when that environment changed), stops what a dead supervisor or
scanner left, and starts the services in waves of `depends_on`. `down` and `status` work
from the state on disk, so they work when nixenv.toml cannot be read.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from nixenv.app.generate import ensure_generated, services_current
from nixenv.config.load import Config, find_root, load, topological_order
from nixenv.config.paths import ProjectPaths
from nixenv.services import env as services_env
from nixenv.services import ports as service_ports
from nixenv.services import procs, reconcile, s6, stop
from nixenv.services.dirs import HASH_FILE, STARTED_HASH_FILE, read_stripped, service_dirs
from nixenv.services.plan import plan
from nixenv.services.start import StartSpec, is_ready, start
from nixenv.services.status import Known, Row
from nixenv.services.status import status as read_status
from nixenv.services.supervise import (Scanner, locked, orphans, scanner, start_scanner, stop_orphans,
                                       stop_scanner, unsupervised)
from nixenv.support import proc
from nixenv.support.errors import ConfigError, NixenvError
from nixenv.support.text import did_you_mean


class Progress:
    """What `up`/`down`/`restart` report while they work (the CLI prints it)."""

    def event(self, text: str) -> None:  # a line worth keeping
        pass

    def waiting(self, pending: dict[str, float]) -> None:  # name -> seconds waited so far
        pass


@dataclass
class UpResult:
    started: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    seconds: float = 0.0


def paths_of(cfg: Config) -> ProjectPaths:
    return ProjectPaths.of(cfg.root, cfg.project.name)


def check_names(cfg: Config, names: Sequence[str]) -> None:
    unknown = [n for n in names if n not in cfg.services]
    if unknown:
        known = list(cfg.services)
        hints = [h for n in unknown if (h := did_you_mean(n, known))]
        raise NixenvError(f"no service {', '.join(repr(n) for n in unknown)} in {cfg.path.name}"
                          f" (known: {', '.join(known) or 'none'})" + (f"; {hints[0]}" if hints else ""))


def specs(cfg: Config) -> dict[str, StartSpec]:
    out = {}
    for name, service in cfg.services.items():
        ready = service.ready
        notified = ready is not None or service.preset is not None
        text = ("exit 0" if service.oneshot else
                {"tcp": f"tcp port {ready.value}", "http": f"http {ready.value}",
                 "command": f"command {ready.value!r}"}[ready.kind] if ready is not None else
                f"{service.preset}'s check" if service.preset else "up")
        out[name] = StartSpec(name, service.depends_on, notified, service.oneshot, service.restart, text)
    return out


def prepare(cfg: Config, paths: ProjectPaths) -> None:
    """Render the service directories, and the flake and .envrc they need, when what they are
    made from changed; nothing at all (not even the flake's check) when they are current."""
    if not services_current(cfg, paths):
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
        changed = [n for n in wanted if statuses[n] is not None and (statuses[n].up or spec[n].oneshot)
                   and read_stripped(dirs[n] / STARTED_HASH_FILE) != read_stripped(dirs[n] / HASH_FILE)]
        if changed:
            progress.event(f"configuration changed: restarting {', '.join(changed)}")
            stopped = [n for n in _closure_dependants(cfg, changed) if stop.active(paths.service(n))]
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
        result.already = [n for n in wanted if is_ready(spec[n], dirs[n], statuses[n])]
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
    digest = services_env.env_digest(cfg)
    info = scanner(paths)
    if info.state == "running" and info.env_digest == digest:
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
    start_scanner(paths, argv, services_env.scanner_environ(cfg, paths.scan), via, digest, progress.event)
    return True, restore


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


def _preflight(cfg: Config, paths: ProjectPaths, names: Sequence[str]) -> None:
    """Run-time checks before anything starts: ports taken, programs missing."""
    problems = []
    info = scanner(paths)
    path = procs.environ_dict(info.pid).get("PATH") if info.pid else None
    if path is None and services_env.in_devshell(cfg):
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
    targets = _closure_dependants(cfg, names) if with_dependants else list(names)
    paths = paths_of(cfg)
    prepare(cfg, paths)
    spec = specs(cfg)
    t0 = time.monotonic()
    with locked(paths, progress.event):
        _ensure_scanner(cfg, paths, progress)
        order = [n for n in topological_order(cfg.services, targets) if n in targets]
        s6.wait_until(lambda: all(s6.supervised(paths.service(n)) for n in order), 10)
        stop.stop_waves([paths.service(n) for n in order if stop.active(paths.service(n))], progress.event)
        for name in order:  # a one-shot task runs again
            try:
                (paths.service(name) / STARTED_HASH_FILE).unlink()
            except FileNotFoundError:
                pass
        deps = [n for n in topological_order(cfg.services, targets) if n not in targets
                and not is_ready(spec[n], paths.service(n), s6.read_status(paths.service(n)))]
        _preflight(cfg, paths, [*deps, *order])
        return start(paths, spec, [n for n in topological_order(cfg.services, targets) if n in order or n in deps],
                     t0 + timeout, timeout, progress.event, progress.waiting)


# ------------------------------------------------------------------------------ from the disk


@dataclass(frozen=True)
class Project:
    """What `down`, `status` and `logs` need: the config when it can be read, else the disk."""
    root: Path
    cfg: Config | None
    paths: ProjectPaths | None
    problem: str | None  # why the config could not be read


def project(start_dir: Path) -> Project:
    root = find_root(start_dir)
    try:
        cfg = load(root)
    except (ConfigError, NixenvError) as exc:
        return Project(root, None, ProjectPaths.find(root), str(exc))
    return Project(root, cfg, paths_of(cfg), None)


def down(root: Path, names: Sequence[str] = (), progress: Progress | None = None) -> Project:
    """Stop NAMEs (all services and the scanner when none) and every process they left."""
    progress = progress or Progress()
    proj = project(root)
    if proj.problem:
        progress.event(f"warning: {proj.root / 'nixenv.toml'} cannot be read; stopping what is running from "
                       f"the state on disk ({proj.problem.splitlines()[0]})")
    elif proj.cfg is not None:
        check_names(proj.cfg, names)
    paths = proj.paths
    if paths is None:
        return proj
    with locked(paths, progress.event):
        alive = s6.scanner_alive(paths.scan)
        if names:
            dirs = [paths.service(n) for n in names if s6.supervised(paths.service(n))]
            stop.stop_waves(dirs, progress.event)
            return proj
        if not alive:
            if orphans(paths) or procs.marked(procs.project_marker(paths.scan)):
                progress.event("the scanner is gone; stopping its orphaned supervisors and services")
                stop_orphans(paths)
            return proj
        running = [d for d in service_dirs(paths) if stop.active(d) or d.name in unsupervised([d])]
        if running:
            # the scanner is told to exit as soon as the last wave is stopping
            stop.stop_waves(running, progress.event, last=lambda: s6.stop_scanner(paths.scan))
        left = stop_scanner(paths)
        if left:
            progress.event(f"killed {len(left)} leftover process(es) of the project")
    return proj


def status(root: Path) -> tuple[Project, Scanner, list[Row]]:
    proj = project(root)
    if proj.paths is None:
        return proj, Scanner("stopped"), []
    known = None
    if proj.cfg is not None:
        spec = specs(proj.cfg)
        ports = service_ports.resolve(proj.cfg, proj.paths, record=False)
        known = {n: Known(ports.get(n), spec[n].ready_text if spec[n].notified else None, spec[n].oneshot)
                 for n in proj.cfg.services}
    info, rows = read_status(proj.paths, known)
    return proj, info, rows


# ------------------------------------------------------------------------------ shell, reset


def client_argv(cfg: Config, name: str) -> list[str]:
    """The command `nixenv services shell NAME` runs: the preset's client, in the project's
    environment (devshell, exports), connected to the service."""
    check_names(cfg, [name])
    service = cfg.services[name]
    if service.preset is None:
        raise NixenvError(f"services.{name} is not a preset: `nixenv services shell` opens a preset's client "
                          "(psql, redis-cli, mysql, ...)")
    paths = paths_of(cfg)
    planned = plan(cfg, paths, service_ports.resolve(cfg, paths))
    argv, _ = services_env.project_command(cfg, list(planned.services[name].client), [])
    return argv


def reset(cfg: Config, name: str, progress: Progress | None = None) -> Path:
    """Stop NAME and delete its data (a database's files); returns the directory removed."""
    progress = progress or Progress()
    check_names(cfg, [name])
    paths = paths_of(cfg)
    data = paths.data(name)
    with locked(paths, progress.event):
        d = paths.service(name)
        if stop.active(d) or unsupervised([d]):
            stop.stop_waves([paths.service(n) for n in _closure_dependants(cfg, [name])
                             if stop.active(paths.service(n))], progress.event)
        if data.exists():
            shutil.rmtree(data)
    return data


def exec_client(argv: list[str]) -> None:
    proc.exec_replace(argv)
