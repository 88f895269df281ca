"""A cgroup per project (Linux, cgroup v2, where nixenv may create one): the proof of "nothing
left running".

The project's scanner is started inside `<cgroup2 mount>/nixenv/<project id>`; everything it
starts, and everything those start, stays in that cgroup whatever it does to its environment,
session or process group (`setsid env -i`, closed stdout: what the markers cannot follow).
`down` ends with the cgroup empty, or kills what is left in it and says so. Where no cgroup can
be created (no cgroup2, no permission: an ordinary user without a delegated subtree, macOS),
nixenv falls back to the markers and the log pipes (README, "What nixenv guarantees").
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from nixenv.config.paths import ProjectPaths
from nixenv.services import procs


def mount_point() -> Path | None:
    """Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on
    a hybrid setup), from /proc/self/mountinfo."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        left, _, right = line.partition(" - ")
        if right.split(" ", 1)[0] == "cgroup2":
            return Path(left.split()[4])
    return None


def project_cgroup(paths: ProjectPaths, *, create: bool) -> Path | None:
    """The project's cgroup (made when `create`); None where there is none to be had."""
    return _group(paths.base.name, create=create)


def of_scan_dir(scan: Path) -> Path | None:
    """The cgroup of the project whose scan directory this is, when there is one."""
    return _group(scan.parent.name, create=False)


def _group(name: str, *, create: bool) -> Path | None:
    mount = mount_point()
    if mount is None:
        return None
    group = mount / "nixenv" / name
    if create:
        try:
            group.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None
    return group if (group / "cgroup.procs").exists() and os.access(group / "cgroup.procs", os.W_OK) else None


def join(group: Path) -> None:
    """Move the calling process into `group` (called in the scanner's child before exec)."""
    with open(group / "cgroup.procs", "w") as handle:
        handle.write("0")


def members(group: Path) -> list[int]:
    try:
        text = (group / "cgroup.procs").read_text()
    except OSError:
        return []
    return [int(pid) for pid in text.split() if procs.alive(int(pid))]


def empty(group: Path, timeout: float = 2.0) -> list[int]:
    """Stop whatever is still in the cgroup (TERM, then KILL after `timeout`); returns the pids
    that were left. Then remove the cgroup."""
    left = [p for p in members(group) if p != os.getpid()]
    if left:
        procs.signal_all(left, signal.SIGTERM)
        procs.signal_all(left, signal.SIGCONT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and members(group):
            time.sleep(0.02)
        if members(group):
            try:
                (group / "cgroup.kill").write_text("1")  # Linux >= 5.14
            except OSError:
                procs.signal_all(members(group), signal.SIGKILL)
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline and members(group):
                time.sleep(0.02)
    try:
        group.rmdir()
    except OSError:
        pass
    return left
