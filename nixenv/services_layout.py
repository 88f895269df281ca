"""s6 service directories under .nixenv/services/. (Being written for the services issue.)"""

from __future__ import annotations

from nixenv.config import Config
from nixenv.files import GeneratedFile


def service_files(cfg: Config) -> list[GeneratedFile]:
    """Every file of every service directory (internal: no marker, not committed)."""
    return []


def prune(cfg: Config) -> None:
    """Remove service directories of services no longer in the config."""
