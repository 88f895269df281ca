"""Are the service directories current? A stamp of everything they are rendered from.

`up` renders nothing (not the flake, the .envrc or a service directory) when the stamp
written into the scan directory equals the stamp of nixenv.toml, the ports, this machine's
run-as user, nixenv's version, its templates and its services code.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from nixenv import __version__
from nixenv.config.paths import ProjectPaths
from nixenv.services.dirs import PORTS_FILE, read_stripped
from nixenv.services.runas import run_as_user
from nixenv.support.templates import templates_dir

if TYPE_CHECKING:  # the fast paths (status, a no-op up) never import the config's validation
    from nixenv.config.load import Config

STAMP = ".nixenv-rendered"  # in the scan dir (s6 skips dot names): what the dirs were rendered from


def stamp_of(paths: ProjectPaths, config_bytes: bytes, extra: str = "") -> str:
    """Hash of everything the service directories are rendered from."""
    digest = hashlib.sha256(config_bytes + b"\0" + extra.encode() + b"\0" + str(paths).encode())
    try:
        digest.update((paths.state / PORTS_FILE).read_bytes())
    except OSError:
        pass
    here = Path(__file__).resolve().parent
    for path in sorted((templates_dir() / "s6").glob("*.j2")) + sorted(here.glob("*.py")) + sorted(
            (here / "presets").glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:32]


def stamp(config_bytes: bytes, paths: ProjectPaths) -> str:
    return stamp_of(paths, config_bytes, f"{__version__}\0{run_as_user()}")


def current_for(paths: ProjectPaths, config_bytes: bytes, names: Iterable[str]) -> bool:
    """The directories of `names` (and the exports) were rendered from this nixenv.toml."""
    return (read_stripped(paths.scan / STAMP) == stamp(config_bytes, paths)
            and all((paths.service(n) / "run").is_file() for n in names))


def config_bytes(cfg: Config) -> bytes:
    return cfg.path.read_bytes() if cfg.path.exists() else repr(cfg).encode()


def current(cfg: Config, paths: ProjectPaths) -> bool:
    """The service directories (and exports) were rendered from what the configuration says now."""
    if not cfg.services and not paths.scan.exists():
        return not paths.exports.exists()
    return current_for(paths, config_bytes(cfg), cfg.services)
