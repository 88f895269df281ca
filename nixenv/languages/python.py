"""Python: the interpreter and manager from nixpkgs, the venv the .envrc keeps at `.venv`
(templates/envrc/python.j2), and nixpkgs' Python setup hook undone so the venv wins."""

from __future__ import annotations

from dataclasses import dataclass

from nixenv.config.load import Config
from nixenv.languages.base import PkgRef

# nixpkgs attributes (same name on Linux and macOS). pip comes from the venv (ensurepip), not nixpkgs.
PYTHON_MANAGER_PACKAGES = {"uv": "uv", "poetry": "poetry", "pdm": "pdm"}

# What each Python manager installs from, and so what the install stamp hashes.
PYTHON_MANAGER_INPUTS = {
    "uv": ("pyproject.toml", "uv.lock"),
    "poetry": ("pyproject.toml", "poetry.lock"),
    "pdm": ("pyproject.toml", "pdm.lock"),
    "none": (),
}
DEFAULT_REQUIREMENTS = ("requirements.txt",)

# What nixpkgs' Python setup hook (pkgs/development/interpreters/python/setup-hook.sh) and
# stdenv's setup (pkgs/stdenv/generic/setup.sh, SOURCE_DATE_EPOCH) export into every devshell
# holding a Python; the .envrc unsets them so that the venv behaves as a plain one. A value the
# user sets in [env] is overwritten by the hook, so the flake carries it as NIXENV_USER_<NAME>
# and the .envrc puts it back.
PYTHON_HOOK_VARIABLES = ("PYTHONHASHSEED", "DETERMINISTIC_BUILD", "PYTHONNOUSERSITE", "SOURCE_DATE_EPOCH")


def packages(cfg: Config) -> list[PkgRef]:
    """The interpreter and the Python manager, as nixpkgs attributes for flake.nix."""
    if cfg.python is None:
        return []
    refs = [PkgRef(cfg.python.attr, "python.version")]
    manager = PYTHON_MANAGER_PACKAGES.get(cfg.python.manager)
    if manager:
        refs.append(PkgRef(manager, "python.manager"))
    return refs


def python_hook_overrides(cfg: Config) -> dict[str, str]:
    """[env] values of PYTHON_HOOK_VARIABLES, under the name the .envrc restores them from."""
    if cfg.python is None:
        return {}
    return {f"NIXENV_USER_{name}": cfg.env[name] for name in PYTHON_HOOK_VARIABLES if name in cfg.env}


def inputs(cfg: Config) -> tuple[str, ...]:
    """Files whose content decides what the venv holds (relative to the project root)."""
    if cfg.python is None:
        return ()
    if cfg.python.manager == "pip":
        return tuple(dict.fromkeys(cfg.python.requirements or DEFAULT_REQUIREMENTS))
    return PYTHON_MANAGER_INPUTS[cfg.python.manager]


@dataclass(frozen=True)
class PythonEnvrc:
    version: str
    attr: str
    manager: str
    inputs: tuple[str, ...]
    with_pip: bool  # pip in the venv, as each manager's own venvs have it (uv and pdm make theirs without)


def envrc(cfg: Config) -> PythonEnvrc | None:
    if cfg.python is None:
        return None
    return PythonEnvrc(version=cfg.python.version, attr=cfg.python.attr, manager=cfg.python.manager,
                       inputs=inputs(cfg), with_pip=cfg.python.manager in ("pip", "none", "poetry"))
