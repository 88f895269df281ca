"""Finding the user's age key the way sops 3.11 does, and creating one where sops looks.

sops merges age identities from SOPS_AGE_KEY (the key text), SOPS_AGE_KEY_FILE,
SOPS_AGE_KEY_CMD (a command printing keys) and `<config dir>/sops/age/keys.txt`, where the
config dir is `$XDG_CONFIG_HOME` or `~/.config` on Linux, and on macOS `$XDG_CONFIG_HOME` if
set, else `~/Library/Application Support`. (SSH keys also work with sops, but their
recipients are not age1… keys, so nixenv does not offer them as recipients.)
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from nixenv.support import proc
from nixenv.config.load import AGE_RECIPIENT
from nixenv.support.errors import NixenvError

KEYS_SUBPATH = Path("sops", "age", "keys.txt")


@dataclass(frozen=True)
class AgeKey:
    """An age identity the user has: where sops finds it, and its public key (recipient)."""

    source: str  # e.g. "SOPS_AGE_KEY_FILE (/path)" or the default path
    recipients: tuple[str, ...]  # public keys of the identities found there, in order
    path: Path | None = None

    @property
    def recipient(self) -> str:
        return self.recipients[0]


def user_config_dir(env: Mapping[str, str], platform: str = sys.platform) -> Path:
    """Go's os.UserConfigDir as sops uses it (XDG_CONFIG_HOME wins on macOS too)."""
    xdg = env.get("XDG_CONFIG_HOME", "")
    home = env.get("HOME", "")
    if platform == "darwin":
        if xdg:
            return Path(xdg)
        if not home:
            raise NixenvError("HOME is not set: cannot find sops's age key directory")
        return Path(home, "Library", "Application Support")
    if xdg:
        if not os.path.isabs(xdg):
            raise NixenvError(f"XDG_CONFIG_HOME={xdg!r} is relative; sops ignores it and fails. Make it absolute.")
        return Path(xdg)
    if not home:
        raise NixenvError("HOME and XDG_CONFIG_HOME are not set: cannot find sops's age key directory")
    return Path(home, ".config")


def default_key_path(env: Mapping[str, str], platform: str = sys.platform) -> Path:
    return user_config_dir(env, platform) / KEYS_SUBPATH


def recipients_of(identities: str, source: str) -> tuple[str, ...]:
    """Public keys for the age identities in `identities` (passed to age-keygen on stdin)."""
    if "AGE-SECRET-KEY-" not in identities.upper():
        return ()
    result = proc.run(["age-keygen", "-y"], input=identities, check=False)
    if result.returncode != 0:
        # age's message is not repeated: it may quote part of the key
        raise NixenvError(f"{source} does not hold a valid age key (`age-keygen -y` rejected it)")
    return tuple(line for line in result.stdout.split() if AGE_RECIPIENT.match(line))


def find_age_keys(env: Mapping[str, str] | None = None, platform: str = sys.platform) -> list[AgeKey]:
    """Every age key sops would use, in the order nixenv prefers them."""
    env = os.environ if env is None else env
    found: list[AgeKey] = []
    key_file = env.get("SOPS_AGE_KEY_FILE")
    if key_file:
        path = Path(key_file).expanduser()
        text = _read(path, "SOPS_AGE_KEY_FILE")
        if text is not None:
            found.append(AgeKey(f"SOPS_AGE_KEY_FILE ({path})", recipients_of(text, str(path)), path))
    if env.get("SOPS_AGE_KEY"):
        found.append(AgeKey("SOPS_AGE_KEY", recipients_of(env["SOPS_AGE_KEY"], "SOPS_AGE_KEY")))
    if env.get("SOPS_AGE_KEY_CMD"):
        argv = shlex.split(env["SOPS_AGE_KEY_CMD"])
        result = proc.run(argv, env=env, check=False) if argv else None
        if result is not None and result.returncode == 0:
            found.append(AgeKey("SOPS_AGE_KEY_CMD", recipients_of(result.stdout, "SOPS_AGE_KEY_CMD")))
    default = default_key_path(env, platform)
    text = _read(default, "the default key file")
    if text is not None:
        found.append(AgeKey(str(default), recipients_of(text, str(default)), default))
    return [k for k in found if k.recipients]


def _read(path: Path, what: str) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise NixenvError(f"cannot read {what} {path}: {exc}") from None


def create_age_key(path: Path) -> AgeKey:
    """`age-keygen -o PATH` with the directory 0700 and the key file 0600."""
    if path.exists():
        raise NixenvError(f"{path} already exists; not overwriting an age key")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    old_umask = os.umask(0o077)
    try:
        proc.run(["age-keygen", "-o", str(path)])
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    return AgeKey(str(path), recipients_of(path.read_text(encoding="utf-8"), str(path)), path)
