"""Is the scanner's environment still the shell's? A digest of what it is made from.

The scanner's environment is fixed when it starts. `env_digest` hashes the files and values
that environment is made from (the flake, its lock, the .envrc, the presets' exports, dotenv
files, the secrets file, [env], NIXENV_NIX_ARGS); `up` restarts the scanner when the digest
changed, so that a service never runs with an environment older than the shell's.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from nixenv.config.environ import NIX_ARGS_VAR
from nixenv.config.paths import ProjectPaths
from nixenv.services.dirs import ENV_INPUTS_FILE, write_internal

if TYPE_CHECKING:  # the fast paths (status, a no-op up) never import the config's validation
    from nixenv.config.load import Config


@dataclass(frozen=True)
class EnvInputs:
    files: tuple[str, ...]  # relative to the project
    env: str  # hash of [env]


def in_devshell(cfg: Config, environ: Mapping[str, str] | None = None) -> bool:
    """True when this process already has the project's devshell environment."""
    env = os.environ if environ is None else environ
    if env.get("NIXENV_ROOT") and Path(env["NIXENV_ROOT"]).resolve() == cfg.root:
        return True
    return bool(env.get("IN_NIX_SHELL")) and env.get("NIXENV_PROJECT") == cfg.project.name


def env_inputs(cfg: Config) -> EnvInputs:
    """What the services' environment is made from: files of the project, and [env]."""
    files = ("flake.nix", "flake.lock", ".envrc", ".envrc.local", ".nixenv/exports.env",
             *cfg.project.dotenv, *((cfg.secrets.file,) if cfg.secrets else ()))
    return EnvInputs(files, hashlib.sha256(repr(sorted(cfg.env.items())).encode()).hexdigest()[:16])


def digest_of(root: Path, inputs: EnvInputs) -> str:
    digest = hashlib.sha256()
    for name in inputs.files:
        digest.update(name.encode() + b"\0")
        try:
            digest.update((root / name).read_bytes())
        except OSError:
            digest.update(b"-")
    digest.update(inputs.env.encode() + b"\0" + os.environ.get(NIX_ARGS_VAR, "").encode())
    return digest.hexdigest()[:16]


def env_digest(cfg: Config) -> str:
    """Hash of what the services' environment is made from (not of their own entries)."""
    return digest_of(cfg.root, env_inputs(cfg))


def write_inputs(paths: ProjectPaths, inputs: EnvInputs) -> None:
    """Kept in the scan directory, so that a no-op `up` checks the digest without the config."""
    write_internal(paths.scan / ENV_INPUTS_FILE, json.dumps({"files": list(inputs.files), "env": inputs.env}) + "\n",
                   0o644)


def read_inputs(paths: ProjectPaths) -> EnvInputs | None:
    try:
        data = json.loads((paths.scan / ENV_INPUTS_FILE).read_text())
        return EnvInputs(tuple(str(f) for f in data["files"]), str(data["env"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
