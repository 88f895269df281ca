"""Is there anything for `nixenv services up` to do? The check behind a no-op `up`'s speed.

Nothing to do when the service directories were rendered from nixenv.toml as it is now (their
stamp), the scanner runs in the environment the shell has now (the digest of what it is made
from, whose list the directories keep), and every wanted service is ready under it with the
directory it was started from. Reads a few small files and FIFOs; imports neither the
configuration's validation nor the rendering, planning or scanner-starting code, which `up`
needs only when this says no.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from nixenv.config.paths import CONFIG_NAME, ProjectPaths, find_root
from nixenv.services import digest, s6, stamp
from nixenv.services.dirs import meta, read_started, service_dirs, started_current
from nixenv.services.start import StartSpec, is_ready
from nixenv.services.supervise import scanner
from nixenv.support.errors import NixenvError


def already_ready(start: Path, names: Sequence[str] = ()) -> list[str] | None:
    """The wanted services when all of them are up and ready already; None otherwise."""
    try:
        root = find_root(start)
        text = (root / CONFIG_NAME).read_bytes()
    except (OSError, NixenvError):  # no project here: the full `up` says so properly
        return None
    paths = ProjectPaths.find(root)
    dirs = {d.name: d for d in service_dirs(paths)} if paths is not None else {}
    if paths is None or not dirs or any(n not in dirs for n in names):
        return None
    if not stamp.current_for(paths, text, dirs):
        return None
    inputs = digest.read_inputs(paths)
    info = scanner(paths)
    if inputs is None or info.state != "running" or info.env_digest != digest.digest_of(root, inputs):
        return None
    wanted: list[str] = []
    todo = list(names) or list(dirs)
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.append(name)
            todo.extend(d for d in meta(dirs[name]).depends_on if d in dirs)
    started = read_started(paths)
    for name in wanted:
        d = dirs[name]
        st = s6.read_status(d) if s6.supervised(d) else None
        info = meta(d)
        spec = StartSpec(name, info.depends_on, bool(info.ready) and not info.oneshot, info.oneshot, "", info.ready)
        current = started_current(paths, name, started)
        if not current or not is_ready(spec, d, st, current):
            return None
    return sorted(wanted)
