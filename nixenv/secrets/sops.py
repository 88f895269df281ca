"""Every sops command nixenv runs, through nixenv.proc.

Values travel only through pipes: plaintext goes to sops on stdin and comes back on stdout,
never in argv (visible in `ps`) and never in a file. Errors carry sops's stderr (which names
keys and files, never values) and never its stdout.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from nixenv.support import files, proc
from nixenv.support.errors import NixenvError

EXIT_NO_KEY = 128  # none of the user's keys can decrypt the data key
EXIT_TAMPERED = 25  # MAC mismatch
EXIT_NO_METADATA = 1  # also other generic errors
EXIT_EDIT_UNCHANGED = 200
SOPS_CONFIG = ".sops.yaml"


class SopsError(NixenvError):
    """sops failed. The message names the file and what to do; it never holds a value."""

    def __init__(self, message: str, returncode: int):
        self.returncode = returncode
        super().__init__(message)


class SecretsUnavailable(SopsError):
    """The secrets cannot be decrypted here (no usable key, or sops missing)."""


def sops_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env["SOPS_DISABLE_VERSION_CHECK"] = "1"  # sops otherwise asks GitHub for the latest version
    return env


def _key_path(key: str) -> str:
    return "[" + json.dumps(key) + "]"


def run_sops(args: Sequence[str], *, root: Path, file: str, input: str | None = None,
             env: Mapping[str, str] | None = None, ok: Sequence[int] = (0,)) -> str:
    """Run `sops ARGS` in the project root; return stdout, or raise SopsError (stderr only)."""
    # bytes, not text: text mode's universal newlines would turn a CR in a value into "\n"
    result = proc.run(["sops", *args], cwd=root, env=sops_env(env), check=False,
                      input=(input or "").encode("utf-8"))
    stderr = result.stderr.decode("utf-8", "replace")
    if result.returncode in ok:
        try:
            return result.stdout.decode("utf-8")
        except UnicodeDecodeError:
            raise SopsError(f"sops printed something that is not UTF-8 text for {file}", result.returncode) from None
    raise error_for(result.returncode, stderr, file, args[0] if args else "sops")


def error_for(rc: int, stderr: str, file: str, what: str) -> SopsError:
    detail = _tail(stderr)
    if rc == EXIT_NO_KEY or "Failed to get the data key" in stderr:
        return SecretsUnavailable(
            f"none of your keys can decrypt {file} (sops exit {rc}). Run `nixenv secrets init` to find or "
            f"create your age key, then ask a teammate who can decrypt it to run "
            f"`nixenv secrets add-recipient <your age1… public key>`.", rc)
    if rc == EXIT_TAMPERED:
        return SopsError(f"{file} was modified outside sops (MAC mismatch, sops exit 25): restore it from git.", rc)
    if "sops metadata not found" in stderr or "metadata not found" in stderr:
        return SopsError(f"{file} is not a sops-encrypted file (no sops metadata). "
                         f"Encrypt a plaintext .env with `nixenv secrets import FILE`.", rc)
    if "no matching creation rules" in stderr:
        return SopsError(f".sops.yaml has no creation rule for {file}: run `nixenv generate`.", rc)
    return SopsError(f"`sops {what}` failed on {file} (exit {rc})" + (f":\n{detail}" if detail else ""), rc)


def _tail(stderr: str, lines: int = 12) -> str:
    text = "\n".join(line for line in stderr.strip().splitlines()[-lines:])
    return "\n".join("  | " + line for line in text.splitlines())


# --------------------------------------------------------------------------- operations


def encrypt(values: Mapping[str, str], *, root: Path, file: str) -> str:
    """Encrypted dotenv text for `values`, using .sops.yaml's creation rule for `file`."""
    return run_sops(["--config", ".sops.yaml", "encrypt", "--input-type", "json", "--output-type", "dotenv",
                     "--filename-override", file], root=root, file=file, input=json.dumps(dict(values)))


def decrypt(*, root: Path, file: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every secret, exactly (JSON output keeps newlines and backslashes as they are)."""
    out = run_sops(["decrypt", "--input-type", "dotenv", "--output-type", "json", file], root=root, file=file, env=env)
    data = json.loads(out)
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}


def extract(key: str, *, root: Path, file: str) -> str:
    return run_sops(["decrypt", "--input-type", "dotenv", "--extract", _key_path(key), file], root=root, file=file)


@contextlib.contextmanager
def updating(root: Path, file: str) -> Iterator[Path]:
    """A work root where sops may rewrite `file` in place; committed over the real file on success.

    sops writes in place (open with O_TRUNC, then write): a full disk, Ctrl-C or SIGKILL in
    between leaves a truncated file and every secret is lost. So sops works on a copy in a
    private directory beside the file (same filesystem), with a copy of .sops.yaml at the same
    relative place so that creation rules match as in the project; the copy is fsynced and
    renamed over the file only after sops succeeded. On any failure or signal the old file is
    untouched; a directory left by SIGKILL is removed by the next write (files.sweep_temps).
    Writers of one directory take turns (flock on the directory) so no update is lost."""
    target = (root / file).resolve()
    parent = target.parent
    with locked(parent), contextlib.ExitStack() as stack:
        mode = target.stat().st_mode & 0o7777
        try:
            work = stack.enter_context(files.work_dir(parent, target.name))
            copy = work / file
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(target, copy)
            if (root / SOPS_CONFIG).is_file():
                shutil.copyfile(root / SOPS_CONFIG, work / SOPS_CONFIG)
        except OSError as exc:
            raise SopsError(f"could not copy {file} to change it safely ({exc.strerror}); "
                            f"{file} is unchanged. Free some space in {parent} and try again.", 1) from None
        yield work
        try:
            files.commit(copy, target, mode)
        except OSError as exc:
            raise SopsError(f"could not save {file} ({exc.strerror}); it is unchanged", 1) from None


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Writers of the secrets file's directory take turns (flock), and sweep what killed ones left."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        files.sweep_temps(directory)
        yield
    finally:
        os.close(fd)  # releases the lock


def write_encrypted(root: Path, file: str, text: str) -> None:
    """Replace the secrets file with `text` (already encrypted): atomic, in turn with other writers."""
    target = (root / file).resolve() if (root / file).exists() else root / file
    target.parent.mkdir(parents=True, exist_ok=True)
    with locked(target.parent):
        try:
            files.write_atomic(target, text, 0o644)
        except OSError as exc:
            raise SopsError(f"could not save {file} ({exc.strerror}); it is unchanged", 1) from None


def set_value(key: str, value: str, *, root: Path, file: str) -> None:
    """`sops set --value-stdin`: only this value changes; the data key and the others stay."""
    with updating(root, file) as work:
        run_sops(["set", "--input-type", "dotenv", "--output-type", "dotenv", "--value-stdin", file, _key_path(key)],
                 root=work, file=file, input=json.dumps(value))


def unset_value(key: str, *, root: Path, file: str) -> None:
    with updating(root, file) as work:
        run_sops(["unset", "--input-type", "dotenv", "--output-type", "dotenv", file, _key_path(key)],
                 root=work, file=file)


def rekey(*, root: Path, file: str, rotate: bool) -> None:
    """Re-wrap the data key for .sops.yaml's recipients (updatekeys), after a new data key
    (rotate) when asked: one atomic change of the file."""
    with updating(root, file) as work:
        if rotate:
            run_sops(["rotate", "--in-place", "--input-type", "dotenv", "--output-type", "dotenv", file],
                     root=work, file=file)
        run_sops(["--config", SOPS_CONFIG, "updatekeys", "--yes", "--input-type", "dotenv", file],
                 root=work, file=file)


def edit(*, root: Path, file: str, env: Mapping[str, str] | None = None) -> bool:
    """sops's editor flow (SOPS_EDITOR, then EDITOR). True when the file changed."""
    result = proc.run(["sops", "edit", "--input-type", "dotenv", "--output-type", "dotenv", file], cwd=root,
                      env=sops_env(env), check=False, interactive=True)
    if result.returncode == EXIT_EDIT_UNCHANGED:
        return False
    if result.returncode != 0:
        raise error_for(result.returncode, "", file, "edit")
    return True
