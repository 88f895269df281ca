"""`nixenv doctor` recognises a nix that cannot build as root (no build users, as on a fresh
Debian with nix-bin) and a project path an old nix cannot use as a flake."""

from __future__ import annotations

import grp
from pathlib import Path

import pytest

from nixenv.app.doctor import check_build_users
from nixenv.nix.flake import flake_path_problem


def test_missing_build_users_group_fails_with_the_fix():
    check = check_build_users("build-users-group = nixenv-no-such-group\n", euid=0)
    assert check is not None and not check.ok and check.required
    assert "`nixenv-no-such-group` (build-users-group) does not exist" in check.detail
    assert "scripts/install-deps" in check.fix and "build-users-group =" in check.fix


def test_a_group_without_members_fails():
    empty = next((g.gr_name for g in grp.getgrall() if not g.gr_mem), None)
    assert empty is not None
    check = check_build_users(f"build-users-group = {empty}\n", euid=0)
    assert check is not None and not check.ok and "has no members" in check.detail


def test_an_empty_build_users_group_means_builds_as_root():
    check = check_build_users("build-users-group = \n", euid=0)
    assert check is not None and check.ok and not check.required


def test_nix_default_group_is_nixbld_when_not_configured():
    check = check_build_users("sandbox = false\n", euid=0)
    assert check is not None and "nixbld" in (check.detail + check.fix)


@pytest.mark.parametrize("version, refused", [((2, 8, 0), True), ((2, 18, 9), True), ((2, 19, 0), False),
                                              ((2, 31, 2), False)])
def test_a_path_with_whitespace_is_refused_by_nix_before_2_19(version, refused):
    problem = flake_path_problem(Path("/tmp/my project"), version)
    assert (problem is not None) == refused
    if refused:
        assert "NixOS/nix#6394" in problem and "move the project" in problem
    assert flake_path_problem(Path("/tmp/plain"), version) is None


def test_services_up_refuses_a_path_with_a_space_instead_of_running_without_the_devshell(tmp_path, env):
    """As the issue found: the shell loaded without the devshell and `services up` ran the
    services outside it. Now `up` says why, before anything starts."""
    from testkit import nixenv, write_project

    root = write_project(tmp_path / "my project", '''
    [project]
    name = "spaced"

    [services.web]
    command = "sleep 30"
    ''', env=env)
    result = nixenv("services", "up", cwd=root, env=env, check=False)
    assert result.returncode == 1
    assert "contains whitespace" in result.stderr and "NixOS/nix#6394" in result.stderr
    status = nixenv("services", "status", "--json", cwd=root, env=env)
    assert '"state": "running"' not in status.stdout
    run = nixenv("run", "--", "true", cwd=root, env=env, check=False)
    assert run.returncode == 1 and "contains whitespace" in run.stderr
