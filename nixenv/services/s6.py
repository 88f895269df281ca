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

from nixenv.support.errors import NixenvError

# skalibs' TAI64N labels: 2^62 + TAI seconds; TAI = UTC + 37 s since 2017 (10 + 27 leap seconds).
TAI_OFFSET = (1 << 62) + 37
SCANNER_CTL = ".s6-svscan/control"


# Sizes of supervise/status (skarnet s6 src/libs6/s6_svstatus_pack.c, S6_SVSTATUS_SIZE):
# 35 bytes up to 2.12 and again from 2.14.0.0; 43 bytes in 2.13.0.0-2.13.2.0, which inserted the
# process group id (8 bytes) after the pid (added in s6 commit 15e3e40, removed in 43253d3).
# Checked against real records of 2.11.3.2, 2.13.2.0 and 2.15.0.0 (tests/fixtures/s6-status).
STATUS_SIZES = {35: 32, 43: 40}  # record size -> offset of the wait status


class StatusFormatError(NixenvError):
    """A supervise/status record of a size no s6 release from 2.11 to 2.15 writes."""


@dataclass(frozen=True)
class SvStatus:
    """supervise/status: stamp, readystamp, pid, [pgid,] wait status, flags."""

    since: float  # unix time of the last up/down transition
    ready_since: float
    pid: int  # 0 when down
    wstat: int
    paused: bool
    finishing: bool
    want_up: bool
    ready_flag: bool  # s6 keeps this bit after the service went down: see `ready`

    @property
    def up(self) -> bool:
        return self.pid != 0 and not self.finishing

    @property
    def ready(self) -> bool:
        """As s6-svstat's `ready`: true only while the service is up and notified readiness."""
        return self.up and self.ready_flag

    @property
    def never_started(self) -> bool:
        # s6 >= 2.13.2.0 writes pid 0 with the paused bit before the first start; older
        # releases never write that combination, so the rule holds for every version
        return self.pid == 0 and not self.finishing and self.paused

    @property
    def exit_code(self) -> int | None:
        if self.up or self.never_started or self.wstat & 0x7F:
            return None
        return (self.wstat >> 8) & 0xFF

    @property
    def signal(self) -> int | None:
        if self.up or self.never_started or self.wstat & 0x7F in (0, 0x7F):
            return None
        return self.wstat & 0x7F


def _tai(data: bytes) -> float:
    seconds, nanos = struct.unpack(">QL", data)
    return seconds - TAI_OFFSET + nanos / 1e9 if seconds else 0.0


def parse_status(data: bytes, where: Path | str = "supervise/status") -> SvStatus:
    """Decode a status record of any s6 from 2.11 to 2.15; another size is an error, never a guess."""
    offset = STATUS_SIZES.get(len(data))
    if offset is None:
        raise StatusFormatError(
            f"{where}: a {len(data)}-byte status record; s6 2.11 to 2.15 write 35 bytes (43 in 2.13.x): "
            "this s6 is not supported, report its version (`s6-svscan -h` or your package manager)")
    (pid,) = struct.unpack(">Q", data[24:32])
    wstat, flags = struct.unpack(">HB", data[offset:offset + 3])
    return SvStatus(since=_tai(data[0:12]), ready_since=_tai(data[12:24]), pid=pid, wstat=wstat,
                    paused=bool(flags & 1), finishing=bool(flags & 2), want_up=bool(flags & 4),
                    ready_flag=bool(flags & 8))


def read_status(service_dir: Path | str) -> SvStatus | None:
    """The service's status; None when s6 has not written one (yet). s6 writes status.new and
    renames it, so a partial record is never read. (A str path: no pathlib in polling loops.)"""
    path = f"{service_dir}/supervise/status"
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    return parse_status(data, path)


def write_fifo(path: Path | str, data: bytes) -> bool:
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


def has_reader(path: Path | str) -> bool:
    return write_fifo(path, b"")


def supervised(service_dir: Path | str) -> bool:
    """s6-svok: an s6-supervise process runs on this directory."""
    return has_reader(f"{service_dir}/supervise/control")


def control(service_dir: Path | str, commands: str) -> bool:
    """s6-svc: e.g. "u" up, "d" down, "dx" down and exit the supervisor, "a" rotate (on log/)."""
    return write_fifo(f"{service_dir}/supervise/control", commands.encode())


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
