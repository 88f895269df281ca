"""Every sops command nixenv runs, through nixenv.proc.

Values travel only through pipes: plaintext goes to sops on stdin and comes back on stdout,
never in argv (visible in `ps`) and never in a file. Errors carry sops's stderr (which names
keys and files, never values) and never its stdout.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping, Sequence

from nixenv.support import proc
from nixenv.support.errors import NixenvError

EXIT_NO_KEY = 128  # none of the user's keys can decrypt the data key
EXIT_TAMPERED = 25  # MAC mismatch
EXIT_NO_METADATA = 1  # also other generic errors
EXIT_EDIT_UNCHANGED = 200


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


def set_value(key: str, value: str, *, root: Path, file: str) -> None:
    """`sops set --value-stdin`: only this value changes; the data key and the others stay."""
    run_sops(["set", "--input-type", "dotenv", "--output-type", "dotenv", "--value-stdin", file, _key_path(key)],
             root=root, file=file, input=json.dumps(value))


def unset_value(key: str, *, root: Path, file: str) -> None:
    run_sops(["unset", "--input-type", "dotenv", "--output-type", "dotenv", file, _key_path(key)], root=root, file=file)


def updatekeys(*, root: Path, file: str) -> str:
    return run_sops(["--config", ".sops.yaml", "updatekeys", "--yes", "--input-type", "dotenv", file],
                    root=root, file=file)


def rotate(*, root: Path, file: str) -> None:
    run_sops(["rotate", "--in-place", "--input-type", "dotenv", "--output-type", "dotenv", file], root=root, file=file)


def edit(*, root: Path, file: str, env: Mapping[str, str] | None = None) -> bool:
    """sops's editor flow (SOPS_EDITOR, then EDITOR). True when the file changed."""
    result = proc.run(["sops", "edit", "--input-type", "dotenv", "--output-type", "dotenv", file], cwd=root,
                      env=sops_env(env), check=False, interactive=True)
    if result.returncode == EXIT_EDIT_UNCHANGED:
        return False
    if result.returncode != 0:
        raise error_for(result.returncode, "", file, "edit")
    return True
