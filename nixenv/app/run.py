"""`nixenv shell` and `nixenv run`: commands inside the devshell through `nix develop`."""

from __future__ import annotations

import os
import sys
from typing import Sequence

from nixenv.app.generate import ensure_generated
from nixenv.config.environ import env_nix_args
from nixenv.config.load import Config
from nixenv.nix.flake import develop_argv, flake_path_problem, nix_env
from nixenv.support import proc
from nixenv.support.errors import NixenvError

def split_args(args: Sequence[str], raw_argv: Sequence[str] | None = None) -> tuple[list[str], list[str]]:
    """Split `[NIX_ARGS...] [-- CMD...]` into (nix args, command).

    Click drops the `--`, so its position is taken from the raw argv. Without `--`, a
    leading word that is not an option starts the command (`nixenv run test`)."""
    args = list(args)
    raw = list(sys.argv if raw_argv is None else raw_argv)
    if "--" in raw:
        tail = len(raw) - raw.index("--") - 1
        cut = len(args) - tail
        return args[:cut], args[cut:]
    if args and not args[0].startswith("-"):
        return [], args
    return args, []


def develop_command(cfg: Config, command: Sequence[str] | None, nix_args: Sequence[str] = ()) -> list[str]:
    problem = flake_path_problem(cfg.root)
    if problem is not None:
        raise NixenvError(problem)
    return develop_argv(str(cfg.root), command, [*env_nix_args(), *nix_args])


def shell(cfg: Config, nix_args: Sequence[str], command: Sequence[str]) -> None:
    """Replace this process with `nix develop` (and CMD when given)."""
    ensure_generated(cfg)
    argv = develop_command(cfg, command or None, nix_args)
    os.chdir(cfg.root)
    proc.exec_replace(argv, env=nix_env())


def run(cfg: Config, nix_args: Sequence[str], command: Sequence[str]) -> int:
    """Run a script name or a command in the devshell; return its exit code."""
    if not command:
        names = ", ".join(cfg.scripts) or "none defined in [scripts]"
        raise NixenvError(f"nothing to run: give a script name ({names}) or `-- COMMAND...`")
    # A [scripts] name is a command on the devshell's PATH: it runs like any other command.
    proc.which("nix")
    ensure_generated(cfg)
    return proc.run(develop_command(cfg, command, nix_args), env=nix_env(), check=False, interactive=True).returncode
