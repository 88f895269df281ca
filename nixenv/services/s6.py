"""Talking to s6 without spawning a process per question.

s6-svc and s6-svscanctl only write bytes into a FIFO (`supervise/control`,
`.s6-svscan/control`), and s6-svstat only decodes `supervise/status`; doing that here keeps
`up`/`down`/`status` fast at 50 services. A FIFO opened non-blocking for writing fails with
ENXIO when nobody reads it: that is how s6-svok and s6-svscanctl tell a live supervisor or
scanner (a zombie holding a pid is not fooled into looking alive).
"""

from __future__ import annotations

import errno
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path

# skalibs' TAI64N labels: 2^62 + TAI seconds; TAI = UTC + 37 s since 2017 (10 + 27 leap seconds).
TAI_OFFSET = (1 << 62) + 37
SCANNER_CTL = ".s6-svscan/control"


@dataclass(frozen=True)
class SvStatus:
    """supervise/status (35 bytes in s6 2.11): stamp, readystamp, pid, wait status, flags."""

    since: float  # unix time of the last up/down transition
    ready_since: float
    pid: int  # 0 when down
    wstat: int
    paused: bool
    finishing: bool
    want_up: bool
    ready: bool

    @property
    def up(self) -> bool:
        return self.pid != 0 and not self.finishing

    @property
    def exit_code(self) -> int | None:
        return (self.wstat >> 8) & 0xFF if self.wstat & 0x7F == 0 else None

    @property
    def signal(self) -> int | None:
        return self.wstat & 0x7F if self.wstat & 0x7F else None


def _tai(data: bytes) -> float:
    seconds, nanos = struct.unpack(">QL", data)
    return seconds - TAI_OFFSET + nanos / 1e9 if seconds else 0.0


def parse_status(data: bytes) -> SvStatus | None:
    if len(data) < 35:
        return None
    pid, wstat, flags = struct.unpack(">QHB", data[24:35])
    return SvStatus(since=_tai(data[0:12]), ready_since=_tai(data[12:24]), pid=pid, wstat=wstat,
                    paused=bool(flags & 1), finishing=bool(flags & 2), want_up=bool(flags & 4),
                    ready=bool(flags & 8))


def read_status(service_dir: Path) -> SvStatus | None:
    try:
        return parse_status((service_dir / "supervise" / "status").read_bytes())
    except OSError:
        return None


def write_fifo(path: Path, data: bytes) -> bool:
    """Write to a control FIFO; False when no process reads it (or it does not exist)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno in (errno.ENXIO, errno.ENOENT, errno.ENOTDIR):
            return False
        raise
    try:
        os.write(fd, data)
        return True
    except BrokenPipeError:
        return False
    finally:
        os.close(fd)


def has_reader(path: Path) -> bool:
    return write_fifo(path, b"")


def supervised(service_dir: Path) -> bool:
    """s6-svok: an s6-supervise process runs on this directory."""
    return has_reader(service_dir / "supervise" / "control")


def control(service_dir: Path, commands: str) -> bool:
    """s6-svc: e.g. "u" up, "d" down, "dx" down and exit the supervisor, "a" rotate (on log/)."""
    return write_fifo(service_dir / "supervise" / "control", commands.encode())


def scanner_alive(scan_dir: Path) -> bool:
    """s6-svscanctl: an s6-svscan listens on this scan directory."""
    return has_reader(scan_dir / SCANNER_CTL)


def rescan(scan_dir: Path) -> bool:
    """s6-svscanctl -a: supervise new directories, forget removed ones."""
    return write_fifo(scan_dir / SCANNER_CTL, b"a")


def stop_scanner(scan_dir: Path) -> bool:
    """s6-svscanctl -t: stop every service and logger, then exit."""
    return write_fifo(scan_dir / SCANNER_CTL, b"t")


def wait_until(predicate, timeout: float, step: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)


def read_ms(path: Path, default: int) -> int:
    try:
        return int(path.read_text().strip() or default)
    except (OSError, ValueError):
        return default


def retire(service_dir: Path) -> None:
    """Stop a service whose directory is going away, end its supervisor and logger, delete it.

    The order matters: the service goes down (its down-signal, SIGKILL after timeout-kill,
    then every process still carrying its marker), then both supervisors exit, and only then
    is the directory removed, so s6-svscan never respawns a supervisor on a half-deleted
    directory and no supervisor is left running in a deleted one."""
    from nixenv.services import procs as services_procs
    from nixenv.services.reconcile import remove_tree

    kill_ms = read_ms(service_dir / "timeout-kill", 10_000)
    signame = _read_text(service_dir / "down-signal", "SIGTERM").removeprefix("SIG")
    if supervised(service_dir):
        control(service_dir, "d")
    services_procs.stop_marked(services_procs.service_marker(service_dir), signame, kill_ms / 1000)
    wait_until(lambda: not (read_status(service_dir) or _DOWN).up, kill_ms / 1000 + 1)
    control(service_dir, "dx")
    control(service_dir / "log", "x")
    wait_until(lambda: not supervised(service_dir) and not supervised(service_dir / "log"), 5)
    remove_tree(service_dir)


def _read_text(path: Path, default: str) -> str:
    try:
        return path.read_text().strip() or default
    except OSError:
        return default


_DOWN = SvStatus(0.0, 0.0, 0, 0, False, False, False, False)
