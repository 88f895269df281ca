"""`nixenv services reset NAME`: stop a service (and its dependants) and delete its data."""

from __future__ import annotations

import shutil
from pathlib import Path

from nixenv.app.services.common import Progress, check_names, closure_dependants, paths_of
from nixenv.config.load import Config
from nixenv.services import stop
from nixenv.services.supervise import locked, unsupervised


def reset(cfg: Config, name: str, progress: Progress | None = None) -> Path:
    """Stop NAME and delete its data (a database's files); returns the directory removed."""
    progress = progress or Progress()
    check_names(cfg, [name])
    paths = paths_of(cfg)
    data = paths.data(name)
    with locked(paths, progress.event):
        d = paths.service(name)
        if stop.active(d) or unsupervised([d]):
            stop.stop_waves([paths.service(n) for n in closure_dependants(cfg, [name])
                             if stop.active(paths.service(n))], progress.event)
        if data.exists():
            shutil.rmtree(data)
    return data
