"""`nixenv secrets edit`: the plaintext lives only in a private directory nixenv removes.

`sops edit` keeps its plaintext temp file in $TMPDIR and removes it only when sops itself ends
normally: closing the terminal (SIGHUP to the process group) or `kill -9` left every secret in
clear there. So nixenv runs the editor itself:

- the plaintext goes to a private directory (mode 0700, named `nixenv-edit-PID-…`) on a tmpfs
  (XDG_RUNTIME_DIR, /dev/shm) where possible, so it never reaches a disk; the editor's own
  temp and swap files go there too (TMPDIR points at it);
- the directory is shredded (files overwritten, then removed) in a `finally`, on SIGHUP and
  SIGTERM (the editor is stopped first), and by a guard process in a session of its own that
  waits for nixenv to end: `kill -9` to nixenv's whole process group does not reach it, and it
  shreds the directory as soon as nixenv is gone;
- each run also shreds such directories of earlier runs whose process is gone (and the
  `nixenv-sops-*` directories older nixenv versions gave to `sops edit`), owned by this user.

Ctrl-C goes to the editor, which decides (vim ignores it); nixenv keeps waiting, so a Ctrl-C
in the editor does not kill it. The edited text is re-encrypted with a new data key (`sops
encrypt`, .sops.yaml's recipients) and saved atomically; an unchanged text writes nothing.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

from nixenv.secrets import dotenv as secrets_dotenv
from nixenv.secrets import sops as secrets_sops
from nixenv.support import proc
from nixenv.support.errors import NixenvError
from nixenv.support.files import pid_alive

PREFIX = "nixenv-edit-"
_OURS = re.compile(r"^nixenv-edit-(\d+)-[A-Za-z0-9_]+$")
_LEGACY = re.compile(r"^nixenv-sops-[A-Za-z0-9_]+$")  # given to `sops edit` by nixenv before this module


class Interrupted(NixenvError):
    """A signal ended the edit; nothing was saved and the plaintext is gone."""

    def __init__(self, signum: int):
        self.exit_code = 128 + signum
        super().__init__(f"stopped by {signal.Signals(signum).name}: nothing was saved, and the "
                         "decrypted copy was removed")


@dataclass(frozen=True)
class EditResult:
    changed: bool
    in_memory: bool
    problems: tuple[str, ...]


# --------------------------------------------------------------------------- where the plaintext lives


def _is_tmpfs(path: str) -> bool:
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return False
    real = os.path.realpath(path)
    best = ("", "")
    for line in mounts:
        parts = line.split()
        if len(parts) >= 3 and (real == parts[1] or real.startswith(parts[1].rstrip("/") + "/")) \
                and len(parts[1]) > len(best[0]):
            best = (parts[1], parts[2])
    return best[1] in ("tmpfs", "ramfs")


def memory_dirs(env: Mapping[str, str] | None = None) -> list[str]:
    env = os.environ if env is None else env
    return [d for d in (env.get("XDG_RUNTIME_DIR", ""), "/dev/shm") if d and _is_tmpfs(d) and os.access(d, os.W_OK)]


def shred_tree(path: Path) -> None:
    """Overwrite every regular file under `path` with zeros, then remove the tree."""
    for dirpath, dirnames, filenames in os.walk(path, topdown=False):
        for name in filenames:
            full = os.path.join(dirpath, name)
            with contextlib.suppress(OSError):
                if stat.S_ISREG(os.lstat(full).st_mode):
                    fd = os.open(full, os.O_WRONLY | os.O_NOFOLLOW)
                    try:
                        size = os.fstat(fd).st_size
                        while size > 0:
                            size -= os.write(fd, b"\0" * min(size, 1 << 16))
                        os.fsync(fd)
                    finally:
                        os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(full)
        for name in dirnames:
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(dirpath, name))
    with contextlib.suppress(OSError):
        os.rmdir(path)


def sweep(bases: list[str]) -> list[Path]:
    """Shred the edit directories of earlier runs that died (their pid is gone), owned by us."""
    removed = []
    for base in bases:
        try:
            entries = list(os.scandir(base))
        except OSError:
            continue
        for entry in entries:
            ours, legacy = _OURS.match(entry.name), _LEGACY.match(entry.name)
            if not (ours or legacy):
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if info.st_uid != os.getuid() or not stat.S_ISDIR(info.st_mode):
                continue
            if ours and pid_alive(int(ours.group(1))):
                continue
            shred_tree(Path(entry.path))
            removed.append(Path(entry.path))
    return removed


def _guard(directory: Path) -> tuple[int, int]:
    """Fork a process, in a session of its own, that shreds `directory` once we are gone.

    It waits for EOF on a pipe whose only writer is this process: EOF comes when we close it or
    die, whatever killed us. Returns (write end, guard pid)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the guard: only os-level calls, then _exit
        try:
            os.setsid()
            for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
                signal.signal(sig, signal.SIG_IGN)
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            os.closerange(3, read_end)
            os.closerange(read_end + 1, 65536)
            while os.read(read_end, 64):
                pass
            shred_tree(directory)
        finally:
            os._exit(0)
    os.close(read_end)
    return write_end, pid


@contextlib.contextmanager
def private_dir(env: Mapping[str, str] | None = None) -> Iterator[tuple[Path, bool]]:
    """(a new 0700 directory for plaintext, whether it is in RAM); shredded however we end."""
    bases = memory_dirs(env)
    fallback = tempfile.gettempdir()
    sweep([*bases, fallback])
    base = bases[0] if bases else fallback
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=base))
    write_end, guard = _guard(path)
    try:
        yield path, bool(bases)
    finally:
        shred_tree(path)
        os.close(write_end)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(guard, 0)


@contextlib.contextmanager
def _signals_end_the_edit() -> Iterator[None]:
    """SIGHUP/SIGTERM raise Interrupted (subprocess.run then kills the editor and the finally
    blocks shred); SIGINT is left to the editor (a handler, not SIG_IGN: the editor execs with
    the default action)."""
    def stop(signum, frame):
        raise Interrupted(signum)

    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)}
    signal.signal(signal.SIGHUP, stop)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, lambda signum, frame: None)
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def editor_argv(env: Mapping[str, str]) -> list[str]:
    """SOPS_EDITOR, then EDITOR (split like a shell word list, as sops does), else vi."""
    for name in ("SOPS_EDITOR", "EDITOR"):
        value = env.get(name, "").strip()
        if value:
            return shlex.split(value)
    for candidate in ("vim", "nano", "vi"):
        if proc.have(candidate):
            return [candidate]
    raise NixenvError("no editor: set EDITOR (or SOPS_EDITOR), e.g. `export EDITOR=nano`")


# --------------------------------------------------------------------------- the edit


def edit(root: Path, file: str, *, env: Mapping[str, str] | None = None) -> EditResult:
    """Decrypt into a private directory, run the editor, encrypt what it saved (when changed)."""
    env = dict(os.environ if env is None else env)
    argv = editor_argv(env)
    with _signals_end_the_edit(), private_dir(env) as (directory, in_memory):
        plain = secrets_sops.run_sops(["decrypt", "--input-type", "dotenv", "--output-type", "dotenv", file],
                                      root=root, file=file)
        path = directory / Path(file).name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(plain)
        while True:
            edited = _run_editor(argv, path, root=root, env=env, file=file)
            if edited == plain:
                return EditResult(False, in_memory, ())
            problems = _problems(edited, file)
            if not problems:
                break
            message = f"the edited {file} cannot be saved:\n" + "\n".join(f"  {p}" for p in problems)
            if not (sys.stdin.isatty() and sys.stderr.isatty()):
                raise NixenvError(message + "\nnothing was saved")
            sys.stderr.write(message + "\n")
            if input("Edit again? (no: discard the changes) [Y/n] ").strip().lower() in ("n", "no"):
                raise NixenvError(f"nothing was saved to {file}")
        encrypted = secrets_sops.run_sops(
            ["--config", secrets_sops.SOPS_CONFIG, "encrypt", "--input-type", "dotenv", "--output-type", "dotenv",
             "--filename-override", file], root=root, file=file, input=edited)
        secrets_sops.write_encrypted(root, file, encrypted)
    return EditResult(True, in_memory, ())


def _run_editor(argv: list[str], path: Path, *, root: Path, env: Mapping[str, str], file: str) -> str:
    result = proc.run([*argv, str(path)], cwd=root, env={**env, "TMPDIR": str(path.parent)}, check=False,
                      interactive=True)
    if result.returncode < 0:
        raise Interrupted(-result.returncode)
    if result.returncode != 0:
        raise NixenvError(f"the editor `{shlex.join(argv)}` failed (exit {result.returncode}); "
                          f"nothing was saved to {file}")
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NixenvError(f"the editor removed its file; nothing was saved to {file}") from None
    except UnicodeDecodeError:
        raise NixenvError(f"the edited text is not UTF-8; nothing was saved to {file}") from None


def _problems(text: str, file: str) -> list[str]:
    """Why the edited dotenv text cannot be saved (names and line numbers, never values)."""
    try:
        values = secrets_dotenv.parse_sops(text)
    except ValueError as exc:
        return [str(exc)]
    return [p for k in values if (p := secrets_dotenv.key_problem(k))]
