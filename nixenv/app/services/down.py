"""`nixenv services down`: stop services in reverse dependency order; with no names, nothing of
the project is left running. Works from the state on disk when nixenv.toml cannot be read."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from nixenv.app.services.common import Progress, Project, check_names, project
from nixenv.services import procs, s6, stop
from nixenv.services.dirs import service_dirs
from nixenv.services.supervise import locked, orphans, stop_orphans, stop_scanner, unsupervised


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
            progress.event(f"stopped {len(left)} leftover process(es) of the project (left after their services "
                           "stopped, found by marker or in the project's cgroup)")
    return proj
