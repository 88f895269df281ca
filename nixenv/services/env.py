"""The environment services run in, and the command line that starts the project's scanner.

Services inherit s6-svscan's environment, so the scanner is started where the direnv shell's
environment is: directly when nixenv already runs inside this project's devshell, else through
`direnv exec <root>` when the .envrc is allowed (everything the shell has: devshell, venv,
node_modules/.bin, dotenv files, secrets), else through `nix develop <root> -c` (the devshell,
plus the secrets below; not what only the .envrc adds). The run scripts add `[env]`, the service's `env` and `PORT`.

Secrets hook: `scanner_argv` passes the scanner's argv through `wrap_with_secrets(cfg, argv)`,
which calls `nixenv.secrets.service_command(cfg, argv) -> argv` when the secrets module
defines it (e.g. to return `["sops", "exec-env", FILE, shlex.join(argv)]`). The wrapped
command runs inside the devshell, so sops comes from the flake; every service then sees the
decrypted values in its environment, never on disk.
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path
from typing import Mapping

from nixenv.config.load import Config, Service

# Shell words that are not a program on PATH (builtins and syntax): nothing to check.
_SHELL_WORDS = frozenset(
    "! { } ( ) [ [[ . : case cd command eval exit export for if set shift source test "
    "trap ulimit umask unset until wait while echo printf true false read local type".split()
)


def in_devshell(cfg: Config, environ: Mapping[str, str] | None = None) -> bool:
    """True when this process already has the project's devshell environment."""
    env = os.environ if environ is None else environ
    if env.get("NIXENV_ROOT") and Path(env["NIXENV_ROOT"]).resolve() == cfg.root:
        return True
    return bool(env.get("IN_NIX_SHELL")) and env.get("NIXENV_PROJECT") == cfg.project.name


def wrap_with_secrets(cfg: Config, argv: list[str], warnings: list[str] | None = None) -> list[str]:
    """THE hook for the secrets issue: decrypted secrets for every service (see module doc).

    When the secrets cannot be decrypted (no sops, no usable key), the services start
    without them and a one-line warning is added to `warnings`."""
    if cfg.secrets is None:
        return argv
    from nixenv.secrets import store as secrets
    from nixenv.support.errors import NixenvError

    wrap = getattr(secrets, "service_command", None)
    if wrap is None:
        return argv
    try:
        return list(wrap(cfg, argv))
    except NixenvError as exc:
        if type(exc).__name__ != "SecretsUnavailable":
            raise
        if warnings is not None:
            warnings.append(f"services start without secrets: {exc}")
        return argv


def scanner_argv(cfg: Config, scan_dir: Path, environ: Mapping[str, str] | None = None,
                 warnings: list[str] | None = None) -> tuple[list[str], str]:
    """(argv that starts s6-svscan on `scan_dir` in the services' environment, how)."""
    from nixenv.support import proc

    scanner = ["s6-svscan", str(scan_dir)]
    if in_devshell(cfg, environ):
        argv = wrap_with_secrets(cfg, scanner, warnings)
        proc.which(argv[0], path=(os.environ if environ is None else environ).get("PATH"))
        return argv, "devshell"
    from nixenv.direnv.envrc import envrc_allowed

    if envrc_allowed(cfg.root):
        # The whole .envrc: devshell, venv, node_modules/.bin, dotenv files and secrets.
        return ["direnv", "exec", str(cfg.root), *scanner], "direnv"
    from nixenv.app.run import develop_command

    argv = wrap_with_secrets(cfg, scanner, warnings)

    proc.which("nix")
    return develop_command(cfg, argv), "nix develop"


def scanner_environ(cfg: Config, scan_dir: Path, marker_var: str,
                    environ: Mapping[str, str] | None = None) -> dict[str, str]:
    from nixenv.nix.flake import nix_env

    env = dict(os.environ if environ is None else environ)
    env[marker_var] = str(scan_dir)
    env.pop("NIXENV_SERVICE_DIR", None)
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


def missing_program(cfg: Config, service: Service, path: str) -> str | None:
    """A problem message when the service's program is not on the services' PATH."""
    program = program_of(service.command)
    if program is None:
        return None
    if "/" in program:
        target = (cfg.root / service.cwd / program) if not program.startswith("/") else Path(program)
        if target.is_file() and os.access(target, os.X_OK):
            return None
        return (f"services.{service.name}.command: `{program}` is not an executable file "
                f"(looked in {target.parent})")
    if shutil.which(program, path=path) is not None:
        return None
    return (f"services.{service.name}.command: `{program}` is not on the services' PATH; "
            f"add its package to [packages].include in nixenv.toml")

