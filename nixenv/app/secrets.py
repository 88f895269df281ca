"""Secrets use cases that also regenerate the project's files (the secrets package never
calls back into app/: layer rule)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nixenv.app import generate
from nixenv.config import edit as config_edit
from nixenv.config import load as config
from nixenv.secrets import sops as secrets_sops
from nixenv.secrets import store
from nixenv.secrets.keys import AgeKey


@dataclass
class InitResult:
    key_source: str
    recipient: str
    created_key: bool
    added_recipient: bool
    file: str
    created_file: bool
    report: generate.Report | None = None
    notes: list[str] = field(default_factory=list)


def init(root: Path, key: AgeKey, *, created_key: bool) -> InitResult:
    """Add `key` as a recipient, generate, create the empty secrets file (or re-wrap an existing one)."""
    cfg = config.load(root)
    recipient = key.recipient
    added = cfg.secrets is None or recipient not in cfg.secrets.age
    if added:
        config_edit.write_recipients(cfg.path, "age", add=recipient)
        cfg = config.load(root)
    root, file = store.require(cfg)
    report = generate.generate(cfg)
    store.write_sops_config(cfg)
    result = InitResult(key.source, recipient, created_key, added, file, False, report)
    if not (root / file).exists():
        secrets_sops.write_encrypted(root, file, secrets_sops.encrypt({}, root=root, file=file))
        result.created_file = True
    else:
        try:
            secrets_sops.rekey(root=root, file=file, rotate=False)
        except secrets_sops.SecretsUnavailable:
            result.notes.append(f"{file} exists but your key cannot decrypt it yet: ask a teammate to run "
                                f"`nixenv secrets add-recipient {recipient}`")
    return result
