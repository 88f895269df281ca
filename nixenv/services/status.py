"""Status: one row per service, read from s6's status files and the scripts' state files.

Works from the service directories alone (so also when nixenv.toml cannot be read, and without
importing the configuration's validation: `status` is run many times a day). A service whose
supervisor died while it kept running is shown as `orphaned` with its pid, never as `down`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from nixenv.config.paths import ProjectPaths
from nixenv.services import s6
from nixenv.services.dirs import STABLE_AFTER, meta, read_stripped, service_dirs
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


def status(paths: ProjectPaths) -> tuple[Scanner, list[Row]]:
    """Every service directory's row, from the directories alone: what runs is what they were
    rendered from, whatever nixenv.toml says now (or whether it can be read at all)."""
    info = scanner(paths)
    now = time.time()
    dirs = service_dirs(paths)
    orphaned = unsupervised(dirs) if dirs else {}
    rows = []
    for d in dirs:
        name = d.name
        info_d = meta(d)
        notified, oneshot = bool(info_d.ready) and not info_d.oneshot, info_d.oneshot
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
        rows.append(Row(name, state, pid, uptime, restarts, info_d.port, last_exit, info_d.ready or None,
                        st.since if st and st.since else None,
                        st.ready_since if st and st.ready else None))
    return info, rows


def _looping(d, now: float) -> bool:
    crashes = read_stripped(d / "data/crashes").split()
    if len(crashes) != 3 or not all(c.isdigit() for c in crashes):
        return False
    n, last, delay = map(int, crashes)
    return n >= 2 and now - last <= delay + STABLE_AFTER + 1
