"""`nixenv services status`: one row per service, from the service directories on disk (what
runs is what they were rendered from), with a word when nixenv.toml cannot be read or changed
since the services were set up. Reads no configuration: it is the everyday command."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from nixenv.config.paths import CONFIG_NAME, ProjectPaths, find_root
from nixenv.services import stamp
from nixenv.services.dirs import service_dirs
from nixenv.services.status import Row
from nixenv.services.status import status as read_status
from nixenv.services.supervise import Scanner


@dataclass(frozen=True)
class StatusReport:
    root: Path
    paths: ProjectPaths | None
    scanner: Scanner
    rows: list[Row]
    problem: str | None  # nixenv.toml is not TOML (a merge conflict, a stray bracket)
    stale: bool  # nixenv.toml changed since the services were set up


def status(start: Path) -> StatusReport:
    root = find_root(start)
    paths = ProjectPaths.find(root)
    problem = None
    configured: list[str] = []
    try:
        text = (root / CONFIG_NAME).read_bytes()
        services = tomllib.loads(text.decode("utf-8")).get("services")
        configured = [n for n in services if isinstance(n, str)] if isinstance(services, dict) else []
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        problem, text = f"{exc}".splitlines()[0] if str(exc) else type(exc).__name__, b""
    info, rows = read_status(paths) if paths is not None else (Scanner("stopped"), [])
    names = [d.name for d in service_dirs(paths)] if paths is not None else []
    # services of nixenv.toml never set up on this machine: down (names only, nothing validated)
    rows += [Row(n, "down", None, None, 0, None, None, None, None, None) for n in configured if n not in names]
    stale = problem is None and bool(names) and paths is not None and not stamp.current_for(paths, text, names)
    return StatusReport(root, paths, info, rows, problem, stale)
