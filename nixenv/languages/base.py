"""What a language (Python, Node) contributes: nixpkgs packages for the flake, the files that
decide what its installs hold, and the values its .envrc fragment (templates/envrc/NAME.j2)
needs. One module per language, registered in languages/registry.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from nixenv.config.load import Config

# `.venv`: the one path VS Code, PyCharm, uv, poetry (in-project) and pdm all look for first.
VENV_DIR = ".venv"


@dataclass(frozen=True)
class PkgRef:
    """A nixpkgs attribute the devshell needs, and the nixenv.toml key that asked for it."""

    attr: str
    asked_by: str
    # `ATTR.withPackages (ps: [ ps.X ... ])`: postgresql with extensions
    # (pkgs/servers/sql/postgresql/generic.nix, postgresqlWithPackages)
    with_packages: tuple[str, ...] = ()

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.attr.split("."))


class Language(Protocol):
    """A language module: `python`, `node`."""

    def packages(self, cfg: Config) -> list[PkgRef]:
        """nixpkgs attributes the devshell needs (none when the language is not configured)."""

    def inputs(self, cfg: Config) -> tuple[str, ...]:
        """Files (relative to the project) whose content decides what its install holds."""

    def envrc(self, cfg: Config) -> object | None:
        """What its .envrc fragment needs, or None when the language is not configured."""
