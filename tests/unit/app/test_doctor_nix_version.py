"""`nixenv doctor` says when nix is older than current nixpkgs needs (nixpkgs lib/minver.nix)."""

from __future__ import annotations

import pytest

from nixenv.app.doctor import check_nixpkgs_needs
from nixenv.nix.flake import nix_version_tuple
from nixenv.config.load import DEFAULT_NIXPKGS, NIXPKGS_MIN_NIX


@pytest.mark.parametrize("text, expected", [
    ("nix (Nix) 2.8.0", (2, 8, 0)), ("nix (Nix) 2.31.2", (2, 31, 2)),
    ("nix (Lix, like Nix) 2.91.1", (2, 91, 1)), ("nix (Nix) 2.24", (2, 24, 0)), ("garbage", None),
])
def test_versions(text, expected):
    assert nix_version_tuple(text) == expected


def test_old_nix_with_the_default_channel_is_a_warning_naming_the_need():
    check = check_nixpkgs_needs("nix (Nix) 2.8.0", DEFAULT_NIXPKGS)
    assert check is not None and not check.ok and not check.required
    assert NIXPKGS_MIN_NIX in check.detail and "2.8.0 <" in check.detail and "upgrade nix" in check.fix


def test_new_enough_nix_is_ok():
    check = check_nixpkgs_needs("nix (Nix) 2.18.0", DEFAULT_NIXPKGS)
    assert check is not None and check.ok and check.fix == ""


@pytest.mark.parametrize("ref", ["path:/src/nixpkgs", "/src/nixpkgs", "./nixpkgs", "~/nixpkgs"])
def test_a_local_nixpkgs_is_not_judged(ref):
    assert check_nixpkgs_needs("nix (Nix) 2.8.0", ref) is None


def test_the_need_is_what_nixpkgs_lib_minver_says():
    # nixpkgs lib/minver.nix: "2.18.0" (read with the search tool when the default moved to nixos-26.05)
    assert NIXPKGS_MIN_NIX == "2.18.0" and DEFAULT_NIXPKGS.endswith("/nixos-26.05")
