"""Is there anything for `nixenv services up` to do? The check behind a no-op `up`'s speed.

Nothing to do when the service directories are current (their stamp), the scanner runs in
the environment the shell has now (its digest), and every wanted service is ready under it
with the configuration it was started from. Reads a few small files and FIFOs; imports none
of the rendering, planning or scanner-starting code, which `up` needs only when this says no.
"""

from __future__ import annotations

from typing import Sequence

from nixenv.app.services.common import paths_of, specs
from nixenv.config.load import Config, topological_order
from nixenv.services import digest, s6, stamp
from nixenv.services.dirs import read_started, started_current
from nixenv.services.start import is_ready
from nixenv.services.supervise import scanner


def already_ready(cfg: Config, names: Sequence[str] = ()) -> list[str] | None:
    """The wanted services when all of them are up and ready already; None otherwise."""
    if not cfg.services or any(n not in cfg.services for n in names):
        return None
    paths = paths_of(cfg)
    if not stamp.current(cfg, paths):
        return None
    info = scanner(paths)
    if info.state != "running" or info.env_digest != digest.env_digest(cfg):
        return None
    spec = specs(cfg)
    started = read_started(paths)
    wanted = topological_order(cfg.services, list(names) or None)
    for name in wanted:
        d = paths.service(name)
        st = s6.read_status(d) if s6.supervised(d) else None
        current = started_current(paths, name, started)
        if not current or not is_ready(spec[name], d, st, current):
            return None
    return wanted
