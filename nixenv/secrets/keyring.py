"""The cache of decrypted secrets in the user's kernel keyring (Linux, `keyctl` of keyutils).

The generated .envrc (templates/envrc/secrets.j2) fills it: one `user` key in the user keyring
(@u) per secrets file, described `nixenv:secrets:<project>/<file>`, with a timeout, readable by
this user only. Its payload starts with the exact content of the secrets file and the identity
of the keys sops would use, so a changed file or key is a miss. This module forgets entries:
`nixenv secrets lock`. Values never pass through here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from nixenv.support import proc

PREFIX = "nixenv:secrets:"


@dataclass(frozen=True)
class Entry:
    id: str
    file: Path  # the secrets file the entry caches, as the .envrc named it


def available() -> bool:
    """True when keyctl is installed and the user keyring answers."""
    if not proc.have("keyctl"):
        return False
    return proc.run(["keyctl", "rdescribe", "@u"], check=False).returncode == 0


def entries() -> list[Entry]:
    """Every nixenv cache entry linked in the user keyring."""
    if not available():
        return []
    listed = proc.run(["keyctl", "rlist", "@u"], check=False)
    found = []
    for key_id in listed.stdout.split() if listed.returncode == 0 else []:
        # "type;uid;gid;perm;description" (the description may itself hold ';')
        described = proc.run(["keyctl", "rdescribe", key_id], check=False)
        parts = described.stdout.rstrip("\n").split(";", 4)
        if described.returncode == 0 and len(parts) == 5 and parts[0] == "user" and parts[4].startswith(PREFIX):
            found.append(Entry(key_id, Path(parts[4][len(PREFIX):])))
    return found


def _same_file(a: Path, b: Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def forget(secrets_file: Path | None = None) -> int:
    """Revoke and unlink the entries of `secrets_file` (every entry when None); their count.

    Revoking makes the key unreadable at once, even where it is linked elsewhere."""
    count = 0
    for entry in entries():
        if secrets_file is not None and not _same_file(entry.file, secrets_file):
            continue
        proc.run(["keyctl", "revoke", entry.id], check=False)
        proc.run(["keyctl", "unlink", entry.id, "@u"], check=False)
        count += 1
    return count
