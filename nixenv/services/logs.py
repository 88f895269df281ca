"""`nixenv services logs`: s6-log files (archives included) merged by time, name-prefixed.

s6-log with the `T` directive writes `YYYY-MM-DD HH:MM:SS.nnnnnnnnn  text` lines into
`current` and rotates it into `@<tai64n>.s` archives (names sort chronologically), so a
plain merge on the timestamp interleaves several services correctly.
"""

from __future__ import annotations

import heapq
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence, TextIO

COLOURS = ("36", "33", "32", "35", "34", "31", "96", "93", "92", "95", "94", "91")


@dataclass(frozen=True)
class Line:
    stamp: str  # "YYYY-MM-DD HH:MM:SS.nnnnnnnnn" ("" when the line has none)
    text: str
    name: str


def parse_line(raw: str, name: str) -> Line:
    stamp, sep, text = raw.partition("  ")
    if sep and len(stamp) == 29 and stamp[4] == "-" and stamp[10] == " ":
        return Line(stamp, text, name)
    return Line("", raw, name)


def log_files(log_dir: Path) -> list[Path]:
    """Archives oldest first, then `current`."""
    try:
        archives = sorted(p for p in log_dir.iterdir() if p.name.startswith("@"))
    except OSError:
        return []
    current = log_dir / "current"
    return archives + ([current] if current.exists() else [])


def read_lines(log_dir: Path, name: str) -> list[Line]:
    out: list[Line] = []
    for path in log_files(log_dir):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for raw in text.splitlines():
            line = parse_line(raw, name)
            if not line.stamp and out:  # keeps the stream sorted for the merge
                line = Line(out[-1].stamp, line.text, name)
            out.append(line)
    return out


def last_lines(log_dir: Path, count: int) -> list[str]:
    """The texts of the last `count` lines of a service's log (archives included)."""
    return [line.text for line in read_lines(log_dir, "")][-count:]


def file_tail(path: Path, count: int) -> list[str]:
    """The last `count` lines of a plain file (s6-svscan's own output)."""
    try:
        return path.read_text(errors="replace").splitlines()[-count:]
    except OSError:
        return ["(no output)"]


def merged(logs: dict[str, Path], last: int | None = None) -> list[Line]:
    streams = [read_lines(path, name) for name, path in logs.items()]
    lines = list(heapq.merge(*streams, key=lambda line: line.stamp))
    return lines[-last:] if last is not None and last >= 0 else lines


def formatter(names: Sequence[str], colour: bool) -> Callable[[Line], str]:
    width = max((len(n) for n in names), default=0)
    palette = {n: COLOURS[i % len(COLOURS)] for i, n in enumerate(names)}

    def fmt(line: Line) -> str:
        stamp = line.stamp[:23] if line.stamp else " " * 23
        prefix = f"{line.name:<{width}} |"
        if colour:
            prefix = f"\x1b[{palette.get(line.name, '0')}m{prefix}\x1b[0m"
            stamp = f"\x1b[2m{stamp}\x1b[0m"
        return f"{prefix} {stamp} {line.text}"

    return fmt


class _Follower:
    """Reads what s6-log appends to `current`, across rotations (the renamed file is
    drained through the handle that is still open before the new `current` is opened)."""

    def __init__(self, log_dir: Path, name: str, from_end: bool):
        self.dir, self.name = log_dir, name
        self.handle: TextIO | None = None
        self.inode: int | None = None
        self.partial = ""
        self._open(seek_end=from_end)

    def _open(self, seek_end: bool) -> None:
        try:
            handle = open(self.dir / "current", encoding="utf-8", errors="replace")
        except OSError:
            return
        if seek_end:
            handle.seek(0, os.SEEK_END)
        self.handle, self.inode = handle, os.fstat(handle.fileno()).st_ino

    def poll(self) -> list[Line]:
        lines = []
        if self.handle is not None:
            lines += self._drain()
        try:
            inode = (self.dir / "current").stat().st_ino
        except OSError:
            inode = None
        if inode is not None and inode != self.inode:
            if self.handle is not None:
                self.handle.close()
            self.handle = None
            self._open(seek_end=False)
            lines += self._drain()
        return lines

    def _drain(self) -> list[Line]:
        assert self.handle is not None
        data = self.partial + self.handle.read()
        *complete, self.partial = data.split("\n")
        return [parse_line(raw, self.name) for raw in complete]


def follow(logs: dict[str, Path], emit: Callable[[Line], None], interval: float = 0.2,
           stop: Callable[[], bool] = lambda: False) -> None:
    followers = [_Follower(path, name, from_end=True) for name, path in logs.items()]
    while not stop():
        batch: list[Line] = []
        for follower in followers:
            batch += follower.poll()
        for line in sorted(batch, key=lambda line: line.stamp):
            emit(line)
        time.sleep(interval)

