"""Status: one row per service, read from s6's status files and the scripts' state files.

Works from the service directories alone when nixenv.toml cannot be read. A service whose
supervisor died while it kept running is shown as `orphaned` with its pid, never as `down`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Mapping

from nixenv.config.paths import ProjectPaths
from nixenv.services import s6
from nixenv.services.dirs import STABLE_AFTER, is_oneshot, read_stripped, service_dirs
from nixenv.services.supervise import Scanner, scanner, unsupervised


@dataclass(frozen=True)
class Row:
    name: str
    state: str  # down | starting | ready | up | done | crash-looping | failed | orphaned
    pid: int | None
    uptime: float | None  # seconds up (None when down)
    restarts: int
    port: int | None
    last_exit: str | None
    ready: str | None  # what readiness means for it
    since: float | None  # unix time of the last up/down transition
    ready_since: float | None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Known:
    """What the configuration says of a service (when it can be read)."""
    port: int | None
    ready_text: str | None
    oneshot: bool


def status(paths: ProjectPaths, known: Mapping[str, Known] | None) -> tuple[Scanner, list[Row]]:
    info = scanner(paths)
    now = time.time()
    names = list(known) if known is not None else [d.name for d in service_dirs(paths)]
    dirs = [paths.service(n) for n in names]
    orphaned = unsupervised(dirs) if info.state != "stopped" or dirs else {}
    rows = []
    for name, d in zip(names, dirs):
        spec = known.get(name) if known is not None else None
        notified = (d / "notification-fd").exists() if spec is None else spec.ready_text is not None
        oneshot = is_oneshot(d) if spec is None else spec.oneshot
        st = s6.read_status(d) if info.state != "stopped" and s6.supervised(d) else None
        restarts_text = read_stripped(d / "data/restarts")
        restarts = int(restarts_text) if restarts_text.isdigit() else 0
        last_exit = read_stripped(d / "data/last-exit") or None
        failed = bool(read_stripped(d / "data/failed"))
        pid = uptime = None
        if name in orphaned:
            state, pid = "orphaned", min(orphaned[name])
        elif st is None:
            state = "failed" if failed else "down"
        elif st.up:
            pid, uptime = st.pid, max(0.0, now - st.since)
            state = ("ready" if st.ready else "starting") if notified else ("running" if oneshot else "up")
            if _looping(d, now) and st.want_up and not st.ready:
                state = "crash-looping"
        elif oneshot and not st.never_started and last_exit is not None:
            state = "done" if last_exit == "exit 0" else "failed"
        elif st.want_up:
            state = "crash-looping" if _looping(d, now) else "starting"
        else:
            state = "failed" if failed else "down"
        rows.append(Row(name, state, pid, uptime, restarts, spec.port if spec else None, last_exit,
                        spec.ready_text if spec else ("notified" if notified else None),
                        st.since if st and st.since else None,
                        st.ready_since if st and st.ready else None))
    return info, rows


def _looping(d, now: float) -> bool:
    crashes = read_stripped(d / "data/crashes").split()
    if len(crashes) != 3 or not all(c.isdigit() for c in crashes):
        return False
    n, last, delay = map(int, crashes)
    return n >= 2 and now - last <= delay + STABLE_AFTER + 1
