"""sops + age secrets. (Being written for the secrets issue.)"""

from __future__ import annotations

from nixenv.config import Config
from nixenv.files import GeneratedFile


def sops_files(cfg: Config) -> list[GeneratedFile]:
    """.sops.yaml with a creation rule for the secrets file only."""
    return []


def envrc_context(cfg: Config) -> dict:
    return {}
