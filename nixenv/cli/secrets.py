"""`nixenv secrets ...` (thin typer layer over nixenv.secrets)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from nixenv.cli.output import echo, print_report
from nixenv.cli.project import load_config, project_root
from nixenv.support.errors import NixenvError

secrets_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None)


@secrets_app.command()
def init(yes: bool = typer.Option(False, "--yes", "-y", help="Create an age key without asking when you have none.")) -> None:
    """Find (or create) your age key, add it as a recipient, write .sops.yaml and an empty encrypted file."""
    from nixenv.app import secrets as secrets_app_
    from nixenv.secrets import keys as secrets_keys

    root = project_root()
    keys = secrets_keys.find_age_keys()
    created = False
    if keys:
        key = keys[0]
        echo(f"age key: {key.source} ({key.recipient})")
    else:
        path = secrets_keys.default_key_path(os.environ)
        if not yes:
            if not sys.stdin.isatty():
                raise NixenvError(f"you have no age key (looked where sops looks: SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, "
                                  f"SOPS_AGE_KEY_CMD, {path}); rerun with --yes to create one at {path}")
            if not typer.confirm(f"No age key found. Create one at {path}?", default=True):
                echo("no age key created; nothing changed", err=True)
                raise typer.Exit(1)
        key = secrets_keys.create_age_key(path)
        created = True
        echo(f"created age key {path} (mode 0600); public key: {key.recipient}")
        echo("back it up: without it you cannot decrypt the secrets")
    result = secrets_app_.init(root, key, created_key=created)
    if result.added_recipient:
        echo(f"added {result.recipient} to [secrets].age in nixenv.toml")
    print_report(result.report)
    if result.created_file:
        echo(f"created {result.file} (encrypted, empty); commit it with .sops.yaml")
    for note in result.notes:
        echo(note, err=True)


def _read_value(chomp: bool) -> str:
    if sys.stdin.isatty():
        value = typer.prompt("Value (hidden)", hide_input=True, confirmation_prompt=True, default="",
                             show_default=False)
    else:
        data = sys.stdin.buffer.read()
        try:
            value = data.decode("utf-8")
        except UnicodeDecodeError:
            raise NixenvError("the value read from stdin is not UTF-8 text; encode binary data (e.g. base64)") from None
        if chomp and value.endswith("\n"):
            value = value[:-1]
    return value


@secrets_app.command("set")
def set_(
    key: str = typer.Argument(..., help="Secret name (an environment variable name)."),
    chomp: bool = typer.Option(False, "--chomp", help="Drop one trailing newline from stdin (for `echo … |`)."),
) -> None:
    """Store KEY; the value comes from stdin (exactly, newlines included) or a hidden prompt."""
    from nixenv.secrets import store as secrets

    cfg = load_config()
    secrets.validate_key(key)
    value = _read_value(chomp)
    new = secrets.set_secret(cfg, key, value)
    echo(f"{'added' if new else 'updated'} {key} in {cfg.secrets.file}" + (" (empty value)" if not value else ""))


@secrets_app.command()
def get(key: str = typer.Argument(..., help="Secret name.")) -> None:
    """Print KEY's value exactly (a newline is added only on a terminal)."""
    from nixenv.secrets import store as secrets

    value = secrets.get_secret(load_config(), key)
    sys.stdout.flush()
    sys.stdout.buffer.write(value.encode("utf-8"))
    if sys.stdout.isatty() and not value.endswith("\n"):
        sys.stdout.buffer.write(b"\n")
    sys.stdout.buffer.flush()


@secrets_app.command()
def unset(key: str = typer.Argument(..., help="Secret name.")) -> None:
    """Remove KEY."""
    from nixenv.secrets import store as secrets

    cfg = load_config()
    secrets.unset_secret(cfg, key)
    echo(f"removed {key} from {cfg.secrets.file}")


@secrets_app.command("list")
def list_() -> None:
    """Print the secret names (never values; needs no key)."""
    from nixenv.secrets import store as secrets

    listing = secrets.list_names(load_config())
    for name in listing.names:
        echo(name)
    for problem in listing.problems:
        echo(f"error: {problem}", err=True)
    if listing.problems:
        raise typer.Exit(1)


@secrets_app.command()
def edit() -> None:
    """Edit the secrets in $SOPS_EDITOR / $EDITOR (the decrypted copy lives in RAM where possible, and is always removed)."""
    from nixenv.secrets import store as secrets

    result = secrets.edit(load_config())
    if not result.in_memory:
        echo("note: no tmpfs here: the decrypted copy was in $TMPDIR (overwritten and deleted again)", err=True)
    echo("saved" if result.changed else "no changes")
    for problem in result.problems:
        echo(f"warning: {problem}", err=True)


@secrets_app.command("import")
def import_(
    file: Path = typer.Argument(..., help="Plaintext .env file to encrypt."),
    raw: bool = typer.Option(False, "--raw", help="Parse exactly as sops does (no quotes, no `export`)."),
    delete: bool = typer.Option(None, "--delete/--keep", help="Delete the plaintext afterwards (asked when not given)."),
) -> None:
    """Encrypt a plaintext .env into the secrets file (merged), then offer to delete the plaintext."""
    from nixenv.secrets import store as secrets

    cfg = load_config()
    names = secrets.import_file(cfg, file, raw=raw)
    echo(f"imported {len(names)} secret{'s' if len(names) != 1 else ''} into {cfg.secrets.file}: {', '.join(names)}")
    if delete is None:
        delete = sys.stdin.isatty() and typer.confirm(f"Delete the plaintext {file} now?", default=True)
    if delete:
        file.unlink()
        echo(f"deleted {file}")
        _warn_if_tracked(cfg.root, file)
    else:
        echo(f"kept {file}: it holds the secrets in clear; delete it (and keep it out of git)", err=True)


def _warn_if_tracked(root: Path, file: Path) -> None:
    from nixenv.support import proc

    if not proc.have("git"):
        return
    result = proc.run(["git", "ls-files", "--error-unmatch", "--", str(file.resolve())], cwd=root, check=False)
    if result.returncode == 0:
        echo(f"warning: {file} was tracked by git: its plaintext stays in the history; rotate those secrets", err=True)


@secrets_app.command("add-recipient")
def add_recipient(key: str = typer.Argument(..., help="age1… public key, PGP fingerprint or AWS KMS ARN.")) -> None:
    """Add a recipient to nixenv.toml and .sops.yaml, then re-wrap the data key (sops updatekeys)."""
    from nixenv.secrets import store as secrets

    change = secrets.add_recipient(project_root(), key)
    echo(f"{'added' if change.changed_config else 'already present:'} {key} in [secrets].{change.kind}")
    if change.rewrapped:
        echo("re-wrapped the data key for the current recipients (sops updatekeys)")


@secrets_app.command("remove-recipient")
def remove_recipient(key: str = typer.Argument(..., help="The recipient to remove.")) -> None:
    """Remove a recipient, re-wrap, and rotate the data key so the removed key cannot read the new file."""
    from nixenv.secrets import store as secrets

    change = secrets.remove_recipient(project_root(), key)
    echo(f"removed {key} from [secrets].{change.kind}")
    if change.rotated:
        echo("re-wrapped and rotated the data key; the removed key cannot decrypt the new file. "
              "Old copies in git history stay readable to it: rotate the secrets themselves if that matters.")


@secrets_app.command()
def rotate() -> None:
    """Re-encrypt every value with a new data key (and sync recipients with .sops.yaml)."""
    from nixenv.secrets import store as secrets

    cfg = load_config()
    secrets.rotate(cfg)
    echo(f"rotated the data key of {cfg.secrets.file}")


@secrets_app.command()
def check() -> None:
    """Fail if the secrets file is not encrypted or a tracked file holds a secret value (for pre-commit)."""
    from nixenv.secrets import check as secrets_check

    result = secrets_check.check(load_config())
    for note in result.notes:
        echo(f"note: {note}", err=True)
    for problem in result.problems:
        echo(f"error: {problem}", err=True)
    if not result.ok:
        raise typer.Exit(1)
    echo(f"secrets ok ({result.scanned} tracked files scanned)")


@secrets_app.command()
def lock(all_projects: bool = typer.Option(False, "--all", help="Forget the cached secrets of every project, not only this one.")) -> None:
    """Forget the decrypted secrets cached in your kernel keyring: the next shell entry decrypts again."""
    from nixenv.secrets import keyring

    if all_projects:
        count = keyring.forget()
    else:
        cfg = load_config()
        if cfg.secrets is None:
            raise NixenvError(f"{cfg.root / 'nixenv.toml'} has no [secrets] table: nothing to lock (use --all for every project)")
        count = keyring.forget(cfg.root / cfg.secrets.file)
    if not keyring.available():
        echo("no kernel keyring here (keyctl missing or refused): nothing is cached, secrets are decrypted on every entry")
    else:
        echo(f"forgot {count} cached secrets {'entry' if count == 1 else 'entries'}; the next entry runs sops again")
