"""The languages nixenv knows, in one place: a new one is one module with the Language
protocol (languages/base.py) and one entry here, plus its templates/envrc/NAME.j2."""

from __future__ import annotations

from typing import Mapping

from nixenv.config.load import Config
from nixenv.languages import node, python
from nixenv.languages.base import VENV_DIR, Language, PkgRef
from nixenv.languages.python import PYTHON_HOOK_VARIABLES, python_hook_overrides

LANGUAGES: Mapping[str, Language] = {"python": python, "node": node}

__all__ = ["LANGUAGES", "PkgRef", "VENV_DIR", "envrc_context", "flake_packages", "python_hook_overrides"]


def flake_packages(cfg: Config) -> list[PkgRef]:
    """Every configured language's nixpkgs packages, for flake.nix."""
    return [ref for language in LANGUAGES.values() for ref in language.packages(cfg)]


def envrc_context(cfg: Config) -> dict:
    """Values the envrc/python.j2 and envrc/node.j2 fragments need."""
    watch = tuple(dict.fromkeys(f for language in LANGUAGES.values() for f in language.inputs(cfg)))
    return {**{name: language.envrc(cfg) for name, language in LANGUAGES.items()}, "watch": watch,
            "venv": VENV_DIR, "python_hook_variables": PYTHON_HOOK_VARIABLES}
