"""NIXENV_NIX_ARGS: extra arguments for every nix call that nixenv and the generated .envrc make,
e.g. "--override-input nixpkgs path:/src/nixpkgs" where the nixpkgs channel is unreachable
(the tests and the demo use it for the stand-in nixpkgs). Part of the .envrc's cache key."""

from __future__ import annotations

import os
import shlex
from typing import Mapping

NIX_ARGS_VAR = "NIXENV_NIX_ARGS"


def env_nix_args(environ: Mapping[str, str] | None = None) -> list[str]:
    return shlex.split((os.environ if environ is None else environ).get(NIX_ARGS_VAR, ""))
