"""Every path nixenv keeps for a project at run time, and why each lives where it does.

Services' state is kept OUT of the project tree, so that file watchers on it (Django's
autoreloader, watchfiles, vite) see no events from supervise/status, logs, databases or
sockets: `<state home>/nixenv/<project id>/` holds the s6 scan directory (`services/`),
`logs/`, `data/` (one directory per service: a database's files) and `state/` (lock,
scanner record, ports). Unix sockets get a short directory of their own (macOS caps socket
paths at 104 bytes). The project keeps only `.nixenv/` with what the shell reads
(`exports.env`, written on `generate`/`up`), which changes only when the configuration does.

When nixenv runs as root the state home is /var/lib/nixenv and sockets live in /run/nixenv:
servers that refuse root (postgres, mysqld) run as an unprivileged user, who must be able to
reach their data directory (root's own HOME is not traversable).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Mapping

from nixenv.support.errors import NixenvError

CONFIG_NAME = "nixenv.toml"
PROJECT_DIR = ".nixenv"  # in the project: what the shell reads
EXPORTS_FILE = f"{PROJECT_DIR}/exports.env"
STATE_HOME_VAR = "NIXENV_STATE_HOME"  # overrides where project state lives (tests, CI caches)


def find_root(start: Path | str = ".") -> Path:
    """The nearest directory at or above `start` holding nixenv.toml."""
    here = Path(start).resolve()
    for candidate in (here, *here.parents):
        # anything by that name (a directory, a FIFO, a broken link) is reported by load(), not skipped
        if os.path.lexists(candidate / CONFIG_NAME):
            return candidate
    raise NixenvError(f"no {CONFIG_NAME} in {here} or any parent directory: run `nixenv init` first")


@dataclass(frozen=True)
class ProjectPaths:
    root: Path  # the project
    base: Path  # <state home>/nixenv/<project id>
    run: Path  # short directory for unix sockets and pid files

    @classmethod
    def of(cls, root: Path, name: str, environ: Mapping[str, str] | None = None) -> "ProjectPaths":
        env = os.environ if environ is None else environ
        root = root.resolve()
        digest = hashlib.sha256(str(root).encode()).hexdigest()
        is_root = os.geteuid() == 0
        home = env.get(STATE_HOME_VAR)
        if not home:
            if is_root:
                home = "/var/lib/nixenv"
            else:
                xdg = env.get("XDG_STATE_HOME") or os.path.join(env.get("HOME", "~"), ".local", "state")
                home = os.path.join(xdg, "nixenv")
        if is_root:
            run_home = "/run/nixenv" if os.path.isdir("/run") else f"/tmp/nixenv-{os.geteuid()}"
        else:
            runtime = env.get("XDG_RUNTIME_DIR", "")
            run_home = os.path.join(runtime, "nixenv") if runtime and len(runtime) < 40 else f"/tmp/nixenv-{os.geteuid()}"
        return cls(root=root, base=Path(home) / f"{name[:40]}-{digest[:12]}", run=Path(run_home) / digest[:12])

    @classmethod
    def find(cls, root: Path, environ: Mapping[str, str] | None = None) -> "ProjectPaths | None":
        """The paths of the project at `root` without its configuration (it may not parse):
        the state directory is found by the hash of the project's path."""
        probe = cls.of(root, "", environ)
        suffix = probe.base.name  # "-<hash>"
        try:
            found = sorted(p for p in probe.base.parent.iterdir() if p.name.endswith(suffix))
        except OSError:
            return None
        return cls(root=probe.root, base=found[0], run=probe.run) if found else None

    @cached_property
    def scan(self) -> Path:
        """s6-svscan's scan directory: one service directory per service."""
        return self.base / "services"

    @cached_property
    def logs(self) -> Path:
        return self.base / "logs"

    @cached_property
    def state(self) -> Path:
        """lock, scanner.json, scanner.log, ports.json"""
        return self.base / "state"

    @property
    def exports(self) -> Path:
        return self.root / EXPORTS_FILE

    def service(self, name: str) -> Path:
        return self.scan / name

    def log(self, name: str) -> Path:
        return self.logs / name

    def data(self, name: str) -> Path:
        return self.base / "data" / name

    def sockets(self, name: str) -> Path:
        """Kept short: a postgres socket is <this>/.s.PGSQL.<port>."""
        if re.fullmatch(r"[A-Za-z0-9_.-]{1,16}", name) and not name.startswith("."):
            return self.run / name
        return self.run / hashlib.sha256(name.encode()).hexdigest()[:12]
