"""Shared fixtures: nix's own configuration, the stand-in nixpkgs, an isolated HOME and state
home. The helpers that run the real nixenv CLI, nix and direnv the way a user does are in the
importable package tests/testkit (on pytest's pythonpath)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from testkit import require
from testkit.nixconf import private_nix_env
from testkit.standin import make_standin

@pytest.fixture(scope="session", autouse=True)
def nix_conf(tmp_path_factory) -> dict[str, str]:
    """nix's whole configuration for the session (tests/testkit/nixconf.py: flakes, no sandbox, no
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
