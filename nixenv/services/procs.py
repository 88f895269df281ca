"""Processes of a project found through /proc: markers, whole-tree stops, port owners, PSS.

Every process nixenv starts for a project carries `NIXENV_SCANDIR=<abs .nixenv/services>`
in its environment (the scanner gets it, supervisors, loggers and services inherit it), and
every service process `NIXENV_SERVICE_DIR=<abs service dir>` (set by its run script). A
grandchild that double-forked away from its process group still carries them, so a sweep
over /proc/*/environ finds everything a stop must end. Zombies are already dead and are
ignored (their environ is empty); nixenv never matches itself or its ancestors.
"""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path
from typing import Iterable, Iterator

PROJECT_VAR = "NIXENV_SCANDIR"
SERVICE_VAR = "NIXENV_SERVICE_DIR"


def project_marker(scan_dir: Path) -> bytes:
    return f"{PROJECT_VAR}={scan_dir}".encode()


def service_marker(service_dir: Path) -> bytes:
    return f"{SERVICE_VAR}={service_dir.resolve()}".encode()


def pids() -> Iterator[int]:
    try:
        names = os.listdir("/proc")
    except OSError:
        return
    for name in names:
        if name.isdigit():
            yield int(name)


def stat(pid: int) -> tuple[str, str, int, int, int] | None:
    """(comm, state, ppid, pgid, sid) from /proc/PID/stat, or None when gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes().decode("utf-8", "replace")
    except OSError:
        return None
    comm = data[data.index("(") + 1 : data.rindex(")")]
    fields = data[data.rindex(")") + 2 :].split()
    return comm, fields[0], int(fields[1]), int(fields[2]), int(fields[3])


def alive(pid: int) -> bool:
    info = stat(pid)
    return info is not None and info[1] not in ("Z", "X")


def _environ_raw(pid: int) -> bytes:
    try:
        fd = os.open(f"/proc/{pid}/environ", os.O_RDONLY)
    except OSError:
        return b""
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return b""
    finally:
        os.close(fd)


def env_values(var: str, skip: set[int] | frozenset[int] = frozenset(),
               among: Iterable[int] | None = None) -> dict[int, bytes]:
    """pid -> value of environment variable `var`, for every readable process that has it
    (one pass over /proc, or over `among`; fast enough to poll while stopping 50 services)."""
    key = b"\0" + var.encode() + b"="
    out = {}
    for pid in (pids() if among is None else among):
        if pid in skip:
            continue
        data = b"\0" + _environ_raw(pid)
        start = data.find(key)
        if start < 0:
            continue
        start += len(key)
        end = data.find(b"\0", start)
        out[pid] = data[start:end if end >= 0 else None]
    return out


def environ(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return []


def environ_dict(pid: int) -> dict[str, str]:
    out = {}
    for entry in environ(pid):
        key, sep, value = entry.partition(b"=")
        if sep:
            out[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    return out


def cmdline(pid: int) -> str:
    try:
        parts = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    except OSError:
        return ""
    return " ".join(p.decode("utf-8", "replace") for p in parts)


def _ancestors() -> set[int]:
    out = set()
    pid = os.getpid()
    while pid > 1 and pid not in out:
        out.add(pid)
        info = stat(pid)
        if info is None:
            break
        pid = info[2]
    return out


def marked(*markers: bytes) -> list[int]:
    """Live processes whose environment holds any of these exact NAME=VALUE entries."""
    by_var: dict[str, set[bytes]] = {}
    for marker in markers:
        var, _, value = marker.partition(b"=")
        by_var.setdefault(var.decode(), set()).add(value)
    mine = _ancestors()
    found = set()
    for var, values in by_var.items():
        for pid, value in env_values(var, mine).items():
            if value in values and alive(pid):
                found.add(pid)
    return sorted(found)


def signal_all(pids_: Iterable[int], sig: int) -> None:
    for pid in pids_:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def signum(name: str) -> int:
    return getattr(signal, "SIG" + name.upper().removeprefix("SIG"), signal.SIGTERM)


def fd_target(pid: int, fd: int) -> str | None:
    """What an open file descriptor points at (e.g. "pipe:[1234]"), or None."""
    try:
        return os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        return None


def holders(targets: set[str], skip: set[int] | frozenset[int] = frozenset(),
            among: Iterable[int] | None = None) -> dict[str, set[int]]:
    """target -> live pids with an fd open on it (one pass over /proc/*/fd, or over `among`)."""
    found: dict[str, set[int]] = {}
    if not targets:
        return found
    for pid in (pids() if among is None else among):
        if pid in skip:
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target in targets and alive(pid):
                found.setdefault(target, set()).add(pid)
    return found


def describe(pid: int) -> str:
    cmd = cmdline(pid) or (stat(pid) or ("?",))[0]
    return f"pid {pid} ({cmd[:80]})"


# ------------------------------------------------------------------------------ ports


def listening_ports() -> dict[int, set[str]] | None:
    """TCP port -> inodes of the sockets listening on it (None when /proc/net is unavailable)."""
    found: dict[int, set[str]] = {}
    seen_any = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        seen_any = True
        for line in lines:
            fields = line.split()
            if len(fields) >= 10 and fields[3] == "0A":  # 0A = LISTEN
                found.setdefault(int(fields[1].rsplit(":", 1)[1], 16), set()).add(fields[9])
    return found if seen_any else None


def _listening_inodes(port: int) -> set[str] | None:
    """Socket inodes listening on TCP `port` (None when /proc/net is unavailable)."""
    ports = listening_ports()
    return None if ports is None else ports.get(port, set())


def port_owner(port: int) -> str | None:
    """None when nothing listens on `port`; otherwise who does, as precisely as /proc allows."""
    inodes = _listening_inodes(port)
    if inodes is None:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return "another process"
        return None
    if not inodes:
        return None
    owners = listening_pids(port)
    return describe(min(owners)) if owners else "a process of another user"


def listening_pids(port: int) -> set[int]:
    targets = {f"socket:[{inode}]" for inode in _listening_inodes(port) or set()}
    return set().union(*holders(targets).values()) if targets else set()


def pss_kb(pid: int) -> int:
    """Proportional set size of one process in kB (0 when unreadable)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
