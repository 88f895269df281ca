"""The project a command runs in: the nearest nixenv.toml at or above the working directory.
(The configuration is imported when a command needs it, not when the CLI starts.)"""

from __future__ import annotations

from pathlib import Path


def load_config():
    from nixenv.config.load import load_nearest

    return load_nearest(Path.cwd())


def project_root() -> Path:
    from nixenv.config.paths import find_root

    return find_root(Path.cwd())
