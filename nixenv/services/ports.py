"""Ports per project: a preset without `port` gets one chosen for this project, kept for good.

Two projects that both run `preset = "postgres"` must run side by side without anyone
editing ports, and a port must not change between restarts (the shell's DATABASE_URL, a
client's bookmark). The first time a service needs one, nixenv takes a port derived from the
project's path and the service's name (spread over 20000-39999) that nothing listens on and no
other service of the project uses, and records it in `state/ports.json`; from then on that port
is the service's, whatever listens on it later (a port taken by an unrelated process is then
reported before anything starts, with its pid).
"""

from __future__ import annotations

import hashlib
import json
from typing import Mapping

from nixenv.config.load import Config
from nixenv.config.paths import ProjectPaths
from nixenv.services import procs
from nixenv.services.dirs import PORTS_FILE
from nixenv.support.files import write_atomic

FIRST, SPAN = 20000, 20000


def _recorded(paths: ProjectPaths) -> dict[str, int]:
    try:
        data = json.loads((paths.state / PORTS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, int)} if isinstance(data, dict) else {}


def preferred(paths: ProjectPaths, name: str) -> int:
    digest = hashlib.sha256(f"{paths.root}\0{name}".encode()).digest()
    return FIRST + int.from_bytes(digest[:4], "big") % SPAN


def resolve(cfg: Config, paths: ProjectPaths, *, record: bool = True) -> dict[str, int]:
    """name -> port for every service that has one (written, or chosen for a preset)."""
    fixed = {n: s.port for n, s in cfg.services.items() if s.port is not None}
    recorded = _recorded(paths)
    out: dict[str, int] = dict(fixed)
    taken = set(fixed.values())
    wanted = [n for n, s in cfg.services.items() if s.port is None and s.preset is not None]
    listening: Mapping[int, object] | None = None
    changed = False
    for name in wanted:
        port = recorded.get(name)
        if port is None or port in taken:
            if listening is None:
                listening = procs.listening_ports() or {}
            port = preferred(paths, name)
            while port in taken or port in listening or port in recorded.values():
                port = FIRST + (port - FIRST + 1) % SPAN
            changed = True
        out[name] = port
        taken.add(port)
    kept = {n: out[n] for n in wanted}
    if record and (changed or kept != {n: recorded.get(n) for n in wanted}):
        paths.state.mkdir(parents=True, exist_ok=True)
        write_atomic(paths.state / PORTS_FILE, json.dumps({**recorded, **kept}, indent=1, sort_keys=True) + "\n")
    return out
