"""flake.nix generation and the `nix` command lines nixenv runs."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Mapping, Sequence

from nixenv.config.load import Config
from nixenv.languages import registry as languages
from nixenv.languages.registry import PkgRef
from nixenv.support import proc
from nixenv.support.files import GeneratedFile
from nixenv.support.render import render

# Nix 2.8 needs flakes switched on explicitly; the rest keeps old Nix quiet and fast.
NIX_FEATURES = "nix-command flakes"

__all__ = ["PkgRef", "tool_packages", "library_packages", "shell_env", "flake_files", "nix_env", "develop_argv",
           "flake_path_problem", "nix_version_tuple"]


def tool_packages(cfg: Config) -> list[PkgRef]:
    """Toolchains the configuration implies: languages, s6 for services, sops for secrets."""
    refs = list(languages.flake_packages(cfg))
    if cfg.services:
        refs += [PkgRef("s6", "[services]"), PkgRef("execline", "[services]")]
    if cfg.secrets is not None:
        refs += [PkgRef("sops", "[secrets]"), PkgRef("age", "[secrets]")]
    return refs


def library_packages(cfg: Config) -> list[PkgRef]:
    return [PkgRef(attr, f"packages.include[{i}]") for i, attr in enumerate(cfg.packages.include)]


def shell_env(cfg: Config) -> dict[str, str]:
    env = {"NIXENV_PROJECT": cfg.project.name}
    env.update(cfg.env)
    env.update(languages.python_hook_overrides(cfg))
    return env


def flake_files(cfg: Config, servers: Sequence[PkgRef] = ()) -> list[GeneratedFile]:
    """flake.nix; `servers`: the packages of the services' presets (postgresql_16, redis, ...)."""
    text = render(
        "flake.nix.j2",
        cfg=cfg,
        tools=[*tool_packages(cfg), *servers],
        libraries=library_packages(cfg),
        env=shell_env(cfg),
    )
    return [GeneratedFile("flake.nix", text)]


def nix_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for running nix: flakes enabled, on top of whatever NIX_CONFIG says."""
    env = dict(os.environ if base is None else base)
    extra = f"extra-experimental-features = {NIX_FEATURES}"
    current = env.get("NIX_CONFIG", "")
    if "flakes" not in current:
        env["NIX_CONFIG"] = f"{current}\n{extra}".strip()
    return env


# NixOS/nix#6394: a flake in a directory whose path holds whitespace is "not a valid URL" for
# Nix before 2.19 (measured here with 2.8: `path:` and percent-encoded forms fail as well)
SPACE_FIXED_IN = (2, 19)


def nix_version_tuple(text: str) -> tuple[int, ...] | None:
    """(2, 18, 0) from `nix --version` output such as "nix (Nix) 2.18.0" or "nix (Lix, like Nix) 2.91.1"."""
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(part or 0) for part in match.groups()) if match else None


def installed_nix_version() -> tuple[int, ...] | None:
    if not proc.have("nix"):
        return None
    result = proc.run(["nix", "--version"], check=False, timeout=20)
    return nix_version_tuple(result.stdout) if result.returncode == 0 else None


def flake_path_problem(root: Path, version: tuple[int, ...] | None = None) -> str | None:
    """Why nix cannot use the project's directory as a flake, or None. Asks nix for its version
    only when the path is one an old nix rejects."""
    if not any(c.isspace() for c in str(root)):
        return None
    version = version if version is not None else installed_nix_version()
    if version is not None and version >= SPACE_FIXED_IN:
        return None
    have = ".".join(map(str, version)) if version else "this nix"
    return (f"nix {have} cannot use {root} as a flake: its path contains whitespace (NixOS/nix#6394, fixed in "
            f"Nix {'.'.join(map(str, SPACE_FIXED_IN))}); move the project to a path without spaces, or upgrade nix")


def develop_argv(root: str, command: Sequence[str] | None, nix_args: Sequence[str] = ()) -> list[str]:
    """`nix develop` for the project's flake; `command` runs inside with `-c`."""
    argv = ["nix", "develop", root, *nix_args]
    if command:
        argv += ["-c", *command]
    return argv
