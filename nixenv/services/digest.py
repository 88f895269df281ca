"""Is the scanner's environment still the shell's? A digest of what it is made from.

The scanner's environment is fixed when it starts. `env_digest` hashes the files and values
that environment is made from (the flake, its lock, the .envrc, the presets' exports, dotenv
files, the secrets file, [env], NIXENV_NIX_ARGS); `up` restarts the scanner when the digest
changed, so that a service never runs with an environment older than the shell's.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Mapping

from nixenv.config.environ import NIX_ARGS_VAR
from nixenv.config.load import Config


def in_devshell(cfg: Config, environ: Mapping[str, str] | None = None) -> bool:
    """True when this process already has the project's devshell environment."""
    env = os.environ if environ is None else environ
    if env.get("NIXENV_ROOT") and Path(env["NIXENV_ROOT"]).resolve() == cfg.root:
        return True
    return bool(env.get("IN_NIX_SHELL")) and env.get("NIXENV_PROJECT") == cfg.project.name


def env_digest(cfg: Config) -> str:
    """Hash of what the services' environment is made from (not of their own entries)."""
    digest = hashlib.sha256()
    names = ["flake.nix", "flake.lock", ".envrc", ".envrc.local", ".nixenv/exports.env",
             *cfg.project.dotenv, *([cfg.secrets.file] if cfg.secrets else [])]
    for name in names:
        digest.update(name.encode() + b"\0")
        try:
            digest.update((cfg.root / name).read_bytes())
        except OSError:
            digest.update(b"-")
    digest.update(repr(sorted(cfg.env.items())).encode())
    digest.update(os.environ.get(NIX_ARGS_VAR, "").encode())
    return digest.hexdigest()[:16]
