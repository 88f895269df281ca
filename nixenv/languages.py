"""Python and Node toolchains: which nixpkgs they need, and their .envrc context."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nixenv.config import Config
    from nixenv.nix import PkgRef

PYTHON_MANAGER_PACKAGES = {"uv": "uv", "poetry": "poetry", "pdm": "pdm"}


def flake_packages(cfg: "Config") -> list["PkgRef"]:
    from nixenv.nix import PkgRef

    refs = []
    if cfg.python is not None:
        refs.append(PkgRef(cfg.python.attr, "python.version"))
        manager = PYTHON_MANAGER_PACKAGES.get(cfg.python.manager)
        if manager:
            refs.append(PkgRef(manager, "python.manager"))
    if cfg.node is not None:
        refs.append(PkgRef(cfg.node.attr, "node.version"))
    return refs


def envrc_context(cfg: "Config") -> dict:
    """Values the envrc/python.j2 and envrc/node.j2 fragments need."""
    return {}
