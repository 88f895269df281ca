"""sops + age secrets: `.sops.yaml`, the .envrc fragment, and `nixenv secrets …` operations.

The secrets file is a sops-encrypted dotenv file (default `secrets.env`), committed. Plaintext
never touches the disk: values go to sops on stdin and come back on stdout, direnv loads them
with `sops exec-env` into memory, services get them from `decrypted_env()`; `edit` keeps its
plaintext in a private directory it always removes (secrets/editor.py). Every write of the
file is atomic (sops works on a copy, secrets/sops.py `updating`).

Helpers: `sops` (every sops command), `keys` (age key discovery/creation as sops does it),
`dotenv` (what the format can hold), `editor` (`secrets edit`), `check` (pre-commit).
Use cases that regenerate the project's files (`secrets init`) are in nixenv/app/secrets.py.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from nixenv.config import edit as config_edit
from nixenv.config import load as config
from nixenv.config.load import AGE_RECIPIENT, KMS_ARN, PGP_FINGERPRINT, Config
from nixenv.secrets import dotenv as secrets_dotenv
from nixenv.secrets import editor as secrets_editor
from nixenv.secrets import sops as secrets_sops
from nixenv.support import files, proc
from nixenv.support.errors import NixenvError
from nixenv.support.files import GeneratedFile
from nixenv.support.render import render
from nixenv.support.text import did_you_mean

SOPS_CONFIG = ".sops.yaml"


# --------------------------------------------------------------------------- generated files


def go_regex_escape(text: str) -> str:
    """`text` as a literal in a Go (RE2) regular expression, as sops's path_regex uses."""
    return re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", text)


def sops_files(cfg: Config) -> list[GeneratedFile]:
    """.sops.yaml with a creation rule for the secrets file only."""
    if cfg.secrets is None:
        return []

    s = cfg.secrets
    text = render("sops.yaml.j2", file=s.file, path_regex="^" + go_regex_escape(s.file) + "$",
                  age=s.age, pgp=s.pgp, kms=s.kms)
    return [GeneratedFile(SOPS_CONFIG, text)]


def envrc_context(cfg: Config) -> dict:
    """Context of templates/envrc/secrets.j2 (empty: no [secrets], no fragment)."""
    if cfg.secrets is None:
        return {}
    return {"file": cfg.secrets.file}


# --------------------------------------------------------------------------- for services


def service_command(cfg: Config, argv: list[str], env: Mapping[str, str] | None = None) -> list[str]:
    """`argv` wrapped so that it starts with the decrypted secrets in its environment.

    The hook `services_env.wrap_with_secrets` calls for the s6 scanner (every service inherits
    the scanner's environment). Contract:
    - no [secrets], or no secrets file yet: `argv` unchanged;
    - otherwise `["env", "SOPS_DISABLE_VERSION_CHECK=1", "sops", "exec-env", "--same-process",
      <absolute secrets file>, "exec <argv, shell-quoted>"]`: sops decrypts in memory and
      execs `argv` in the same process (same pid, no sops parent left behind). It runs inside
      the devshell, whose flake provides sops and age;
    - when sops is on this PATH too, decryption is tried first so that a member without a
      usable key gets `SecretsUnavailable` (one line, no values) instead of a scanner that
      dies at start; `services_env.wrap_with_secrets` then starts the services without
      secrets and prints that line as a warning. Nothing decrypted here is kept or written.
    """

    if cfg.secrets is None or not (cfg.root / cfg.secrets.file).exists():
        return list(argv)

    if shutil.which("sops", path=(os.environ if env is None else env).get("PATH")) is not None:
        decrypted_env(cfg, env=env)  # raises SecretsUnavailable early; the values are dropped
    return ["env", "SOPS_DISABLE_VERSION_CHECK=1", "sops", "exec-env", "--same-process",
            str(cfg.root / cfg.secrets.file), "exec " + shlex.join(argv)]


def decrypted_env(cfg: Config, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The secrets as environment variables, decrypted in memory, for a service's environment.

    Contract (used by `nixenv services up` when it starts the s6 scanner):
    - returns {} when nixenv.toml has no [secrets] or the secrets file does not exist yet;
    - returns {NAME: value} exactly as stored (newlines, quotes, unicode intact) otherwise;
    - raises `secrets_sops.SecretsUnavailable` (a NixenvError, one line, no values) when sops
      is missing or none of the user's keys can decrypt the file; callers that want the
      services to start anyway catch it and print `str(exc)` as a warning;
    - raises `secrets_sops.SopsError` for any other sops failure (tampered file, ...).
    Merge the result into the scanner's environment (after [env], before a service's own
    `env`); never write it to a file. `env` is the environment sops runs with (default
    os.environ: it finds the user's age key through HOME / XDG_CONFIG_HOME / SOPS_AGE_*).
    """
    if cfg.secrets is None or not (cfg.root / cfg.secrets.file).exists():
        return {}


    if shutil.which("sops", path=(os.environ if env is None else env).get("PATH")) is None:
        raise secrets_sops.SecretsUnavailable(
            f"sops is not installed: the secrets in {cfg.secrets.file} are not loaded. {proc.install_hint('sops')}", 127)
    return secrets_sops.decrypt(root=cfg.root, file=cfg.secrets.file, env=env)


# --------------------------------------------------------------------------- helpers


def require(cfg: Config) -> tuple[Path, str]:
    """(root, secrets file relative to root); errors when secrets are not set up."""
    if cfg.secrets is None:
        raise NixenvError(f"{cfg.path.name} has no [secrets] table: run `nixenv secrets init` first")
    return cfg.root, cfg.secrets.file


def _require_file(cfg: Config) -> tuple[Path, str]:
    root, file = require(cfg)
    if not (root / file).exists():
        raise NixenvError(f"{file} does not exist yet: run `nixenv secrets init` to create it")
    return root, file


def _encrypted_info(root: Path, file: str) -> secrets_dotenv.EncryptedFile:
    try:
        text = (root / file).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise NixenvError(f"{file} is not UTF-8 text: it is not a sops dotenv file (damaged? restore it "
                          f"from git: `git checkout -- {file}`)") from None
    except IsADirectoryError:
        raise NixenvError(f"{file} is a directory, not the secrets file: move it away") from None
    return secrets_dotenv.read_encrypted(text)


def _check_intact(root: Path, file: str) -> secrets_dotenv.EncryptedFile:
    """The file's structure, or a truthful error when it is damaged or not encrypted at all."""
    info = _encrypted_info(root, file)
    if info.damage:
        raise NixenvError(f"{file} is damaged: {info.damage}. Restore it from git (`git checkout -- {file}`, "
                          f"or `git log -- {file}` for an older copy)")
    if not info.has_metadata:
        raise NixenvError(f"{file} is not sops-encrypted (no sops metadata, no encrypted value): if it is a "
                          f"plaintext .env, move it aside and encrypt it with `nixenv secrets import FILE`")
    return info


def validate_key(key: str) -> None:

    problem = secrets_dotenv.key_problem(key)
    if problem:
        raise NixenvError(f"invalid secret name: {problem}")


def validate_value(key: str, value: str) -> None:

    problem = secrets_dotenv.value_problem(value)
    if problem:
        raise NixenvError(f"{key}: {problem}; nothing was stored")


def write_sops_config(cfg: Config) -> None:
    """Bring .sops.yaml up to date; refuse when it was edited by hand."""

    assert cfg.secrets is not None
    if not (cfg.secrets.age or cfg.secrets.pgp or cfg.secrets.kms):
        raise NixenvError(f"[secrets] in {cfg.path.name} lists no recipients (age, pgp or kms): "
                          "run `nixenv secrets init` to add your age key")
    changes = files.plan(cfg.root, sops_files(cfg))
    edited = [c for c in changes if c.status == "edited"]
    if edited:
        raise NixenvError(f"{SOPS_CONFIG} was edited by hand (or not written by nixenv), so its recipients "
                          f"may not be the ones in nixenv.toml: move your change into [secrets], then run "
                          f"`nixenv generate --force`")
    files.apply(cfg.root, changes)


def recipient_kind(key: str) -> str:
    """age | pgp | kms for a recipient given on the command line."""
    if AGE_RECIPIENT.match(key):
        return "age"
    if KMS_ARN.match(key):
        return "kms"
    if PGP_FINGERPRINT.match(key):
        return "pgp"
    raise NixenvError(f"{key!r} is not an age public key (age1…, from `age-keygen -y`), a PGP fingerprint "
                      "(hex) or an AWS KMS key ARN (arn:aws:kms:…)")


# --------------------------------------------------------------------------- values


def set_secret(cfg: Config, key: str, value: str) -> bool:
    """Store KEY=value; True when KEY is new."""
    validate_key(key)
    validate_value(key, value)
    root, file = _require_file(cfg)
    new = key not in _check_intact(root, file).names
    secrets_sops.set_value(key, value, root=root, file=file)
    return new


def _require_name(root: Path, file: str, key: str) -> None:
    names = _check_intact(root, file).names
    if key not in names:
        hint = did_you_mean(key, list(names))
        known = f"known: {', '.join(names)}" if names else "it holds no secrets yet"
        raise NixenvError(f"no secret named {key!r} in {file} ({hint or known})")


def get_secret(cfg: Config, key: str) -> str:
    root, file = _require_file(cfg)
    _require_name(root, file, key)
    return secrets_sops.extract(key, root=root, file=file)


def unset_secret(cfg: Config, key: str) -> None:
    root, file = _require_file(cfg)
    _require_name(root, file, key)
    secrets_sops.unset_value(key, root=root, file=file)


@dataclass(frozen=True)
class Listing:
    names: tuple[str, ...]
    problems: tuple[str, ...]  # the file is damaged, tampered with, or holds values in clear
    verified: bool  # the MAC was checked (a key was at hand)


def list_names(cfg: Config) -> Listing:
    """Secret names, read from the encrypted file (no key needed); checked when a key is at hand."""
    root, file = _require_file(cfg)
    info = _encrypted_info(root, file)
    problems = []
    if info.damage:
        problems.append(f"{file} is damaged: {info.damage}; restore it from git (`git checkout -- {file}`)")
    elif not info.has_metadata:
        problems.append(f"{file} is not sops-encrypted (no sops metadata)")
    if info.clear:
        problems.append(f"{file} holds values in clear, not encrypted by sops: {', '.join(info.clear)}")
    verified = False
    if not problems:
        try:
            secrets_sops.decrypt(root=root, file=file)
            verified = True
        except secrets_sops.SecretsUnavailable:
            pass
        except secrets_sops.SopsError as exc:
            problems.append(str(exc))
    return Listing(info.names, tuple(problems), verified)


def problems_in(values: Mapping[str, str]) -> list[str]:
    """One line per key or value that cannot round-trip (names only, never values)."""

    out = []
    for key, value in values.items():
        problem = secrets_dotenv.key_problem(key) or secrets_dotenv.value_problem(value)
        if problem:
            out.append(problem if problem.startswith(repr(key)) else f"{key}: {problem}")
    return out


def edit(cfg: Config) -> secrets_editor.EditResult:
    """Edit the secrets in $SOPS_EDITOR / $EDITOR; the plaintext never outlives the edit (secrets/editor.py)."""

    root, file = _require_file(cfg)
    _check_intact(root, file)
    write_sops_config(cfg)
    return secrets_editor.edit(root, file)


def import_file(cfg: Config, source: Path, *, raw: bool = False) -> list[str]:
    """Encrypt the plaintext dotenv `source` into the secrets file (merged; imported keys win).

    Returns the imported names. Nothing is written when any key or value cannot round-trip."""
    root, file = require(cfg)
    if source.resolve() == (root / file).resolve():
        raise NixenvError(f"{source} is the secrets file itself")
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NixenvError(f"{source} not found") from None
    except UnicodeDecodeError:
        raise NixenvError(f"{source} is not UTF-8 text") from None
    if secrets_dotenv.read_encrypted(text).has_metadata:
        raise NixenvError(f"{source} is already sops-encrypted")
    try:
        values = secrets_dotenv.parse_sops(text) if raw else secrets_dotenv.parse_conventional(text)
    except ValueError as exc:
        raise NixenvError(f"{source}: {exc}") from None
    problems = problems_in(values)
    if problems:
        raise NixenvError(f"{source} cannot be imported; nothing was written:\n" + "\n".join(f"  {p}" for p in problems))
    write_sops_config(cfg)
    existing = secrets_sops.decrypt(root=root, file=file) if (root / file).exists() else {}
    merged = {**existing, **values}
    secrets_sops.write_encrypted(root, file, secrets_sops.encrypt(merged, root=root, file=file))
    return list(values)


# --------------------------------------------------------------------------- team


@dataclass(frozen=True)
class RecipientChange:
    kind: str
    key: str
    changed_config: bool  # nixenv.toml was edited
    rewrapped: bool  # updatekeys ran on an existing secrets file
    rotated: bool


def add_recipient(root: Path, key: str) -> RecipientChange:
    return _change_recipient(root, key, add=True)


def remove_recipient(root: Path, key: str) -> RecipientChange:
    return _change_recipient(root, key, add=False)


def _change_recipient(root: Path, key: str, *, add: bool) -> RecipientChange:

    kind = recipient_kind(key)
    cfg = config.load(root)
    root, file = require(cfg)
    assert cfg.secrets is not None
    current = getattr(cfg.secrets, kind)
    exists = (root / file).exists()
    if not add:
        if key not in current:
            raise NixenvError(f"{key} is not in [secrets].{kind} of {cfg.path.name}")
        others = [r for k in ("age", "pgp", "kms") for r in getattr(cfg.secrets, k) if r != key]
        if not others:
            raise NixenvError(f"{key} is the only recipient: removing it would leave {file} unreadable; "
                              "add another recipient first")
    if exists:
        # fail before touching nixenv.toml when the file is damaged or this user cannot re-wrap the data key
        _check_intact(root, file)
        secrets_sops.decrypt(root=root, file=file)
    changed = (key not in current) if add else True
    if changed:
        config_edit.write_recipients(cfg.path, kind, add=key if add else None, remove=None if add else key)
        cfg = config.load(root)
    write_sops_config(cfg)
    if not exists:
        return RecipientChange(kind, key, changed, False, False)
    # A removed member may have kept the old data key: re-encrypt everything with a new one
    # first (while every old recipient, perhaps the caller, can still unwrap it), then wrap
    # that new key for the remaining recipients only; one atomic change of the file.
    secrets_sops.rekey(root=root, file=file, rotate=not add)
    return RecipientChange(kind, key, changed, True, not add)


def rotate(cfg: Config) -> None:

    root, file = _require_file(cfg)
    _check_intact(root, file)
    write_sops_config(cfg)
    secrets_sops.rekey(root=root, file=file, rotate=True)
