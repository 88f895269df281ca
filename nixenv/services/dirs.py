"""The files of a service directory that nixenv itself reads back, and how to read them.

`down` and `status` work from these when nixenv.toml cannot be read (a merge conflict, a
stray bracket): everything needed to stop a stack in the right order is on disk.
"""

from __future__ import annotations

from pathlib import Path

from nixenv.config.paths import ProjectPaths

HASH_FILE = "data/nixenv-hash"  # what the directory was rendered from
STARTED_HASH_FILE = "data/started-hash"  # what the running instance was started from
DEPENDS_FILE = "data/nixenv-depends"  # its depends_on, one per line
ONESHOT_FILE = "data/nixenv-oneshot"  # present for a one-shot task
STABLE_AFTER = 10  # seconds up after which a crash no longer counts as part of a loop (finish, status)
# written by the scripts at run time
RUNTIME_FILES = ("data/failed", "data/restarts", "data/crashes", "data/stopping", "data/ensure-failed")


def read_stripped(path: Path) -> str:
    """A small state file's text without surrounding blanks; "" when it is missing."""
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def service_dirs(paths: ProjectPaths) -> list[Path]:
    try:
        return sorted(p for p in paths.scan.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def depends_on(service_dir: Path) -> tuple[str, ...]:
    try:
        return tuple(line for line in (service_dir / DEPENDS_FILE).read_text().splitlines() if line)
    except OSError:
        return ()


def is_oneshot(service_dir: Path) -> bool:
    return (service_dir / ONESHOT_FILE).exists()


def stop_settings(service_dir: Path) -> tuple[str, float]:
    """(signal name, seconds before SIGKILL) as rendered into the directory."""
    signame = read_stripped(service_dir / "down-signal").removeprefix("SIG") or "TERM"
    try:
        timeout = int(read_stripped(service_dir / "timeout-kill") or 10_000) / 1000
    except ValueError:
        timeout = 10.0
    return signame, timeout
