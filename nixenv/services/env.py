"""The environment services run in, and the command line that starts the project's scanner.

Services inherit s6-svscan's environment, so the scanner is started where the direnv shell's
environment is: directly when nixenv already runs inside this project's devshell, else through
`direnv exec <root>` when the .envrc is allowed (everything the shell has: devshell, venv,
node_modules/.bin, the presets' exports, dotenv files, secrets), else through
`nix develop <root> -c` with the secrets decrypted by `sops exec-env` (what only the .envrc
adds, dotenv files and the venv, is then missing: `up` says so). The run scripts add the
presets' exports as defaults, the service's `env` and `PORT`, so the order is the same in the
shell and in a service (README, "One environment order").

The scanner's environment is fixed when it starts: services/digest.py tells when it is out
of date.
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path
from typing import Mapping

from nixenv.config.load import Config
from nixenv.direnv.envrc import envrc_allowed
from nixenv.config.environ import env_nix_args
from nixenv.nix.flake import develop_argv, flake_path_problem, nix_env
from nixenv.secrets.sops import SecretsUnavailable
from nixenv.secrets.store import service_command
from nixenv.services import procs
from nixenv.services.digest import in_devshell
from nixenv.support import proc
from nixenv.support.errors import NixenvError


# Shell words that are not a program on PATH (builtins and syntax): nothing to check.
_SHELL_WORDS = frozenset(
    "! { } ( ) [ [[ . : case cd command eval exit export for if set shift source test "
    "trap ulimit umask unset until wait while echo printf true false read local type".split()
)


def with_secrets(cfg: Config, argv: list[str], warnings: list[str]) -> list[str]:
    """`argv` started with the decrypted secrets in its environment (never on disk); when they
    cannot be decrypted here, the services start without them and `warnings` says why."""
    if cfg.secrets is None:
        return argv
    try:
        return list(service_command(cfg, argv))
    except SecretsUnavailable as exc:
        warnings.append(f"services start without secrets: {exc}")
        return argv


def project_command(cfg: Config, argv: list[str], warnings: list[str],
                    environ: Mapping[str, str] | None = None) -> tuple[list[str], str]:
    """(`argv` run in the project's environment, how): as it is inside the devshell, through
    `direnv exec` when the .envrc is allowed, else through `nix develop -c` with the secrets."""
    env = os.environ if environ is None else environ
    if in_devshell(cfg, env):
        wrapped = with_secrets(cfg, argv, warnings)
        proc.which(wrapped[0], path=env.get("PATH"))
        return wrapped, "devshell"
    problem = flake_path_problem(cfg.root)
    if problem is not None:
        raise NixenvError(f"the services need the project's devshell: {problem}")
    if envrc_allowed(cfg.root):
        # The whole .envrc: devshell, venv, node_modules/.bin, exports, dotenv files and secrets.
        return ["direnv", "exec", str(cfg.root), *argv], "direnv"
    wrapped = with_secrets(cfg, argv, warnings)
    proc.which("nix")
    warnings.append("the .envrc is not allowed (`direnv allow`): services get the devshell and the secrets, "
                    "but not the venv, node_modules/.bin or dotenv files")
    return develop_argv(str(cfg.root), wrapped, env_nix_args(env)), "nix develop"


def scanner_argv(cfg: Config, scan_dir: Path, warnings: list[str],
                 environ: Mapping[str, str] | None = None) -> tuple[list[str], str]:
    """(argv that starts s6-svscan on `scan_dir` in the services' environment, how)."""
    return project_command(cfg, ["s6-svscan", str(scan_dir)], warnings, environ)


def scanner_environ(cfg: Config, scan_dir: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if environ is None else environ)
    env[procs.PROJECT_VAR] = str(scan_dir)
    env.pop(procs.SERVICE_VAR, None)
    env.pop("NIXENV_SERVICE", None)
    return env if in_devshell(cfg, env) else nix_env(env)


def program_of(command: str) -> str | None:
    """The program a service command runs, when it can be told without running a shell."""
    try:
        words = shlex.split(command, comments=True)
    except ValueError:
        return None
    while words and ("=" in words[0] and words[0].split("=", 1)[0].isidentifier()):
        words = words[1:]  # VAR=value prefixes
    if words and words[0] == "exec":
        words = words[1:]
    if not words:
        return None
    word = words[0]
    if word in _SHELL_WORDS or any(c in word for c in "$`*?|&;<>(){}\\\"'"):
        return None
    return word


def missing_program(root: Path, name: str, command: str, cwd: str, path: str) -> str | None:
    """A problem message when the service's program is not on the services' PATH."""
    program = program_of(command)
    if program is None:
        return None
    if "/" in program:
        target = (root / cwd / program) if not program.startswith("/") else Path(program)
        if target.is_file() and os.access(target, os.X_OK):
            return None
        return f"services.{name}.command: `{program}` is not an executable file (looked in {target.parent})"
    if shutil.which(program, path=path) is not None:
        return None
    return (f"services.{name}.command: `{program}` is not on the services' PATH; "
            f"add its package to [packages].include in nixenv.toml")
