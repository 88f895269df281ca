"""The bodies of the everyday `nixenv services` commands, without typer: `up`, `down`,
`status` are run many times a day, and cli/fast.py calls these directly when the arguments
are plain (no --help), so that they cost little more than the interpreter.

The use cases are imported inside the functions: each command pays only for its own.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Sequence

from nixenv.cli.output import Printer, echo, table
from nixenv.cli.project import load_config
from nixenv.support.text import printable

STATE_COLOURS = {"ready": "32", "up": "32", "done": "32", "running": "33", "starting": "33",
                 "crash-looping": "31", "failed": "31", "orphaned": "31"}


def run_up(names: Sequence[str], timeout: float) -> None:
    from nixenv.app.services.noop import already_ready

    ready = already_ready(Path.cwd(), names)
    if ready is not None:
        echo(f"all {len(ready)} service(s) already up and ready")
        return
    from nixenv.app.services.up import up

    cfg = load_config()
    progress = Printer()
    try:
        result = up(cfg, names, timeout=timeout, progress=progress)
    finally:
        progress.done()
    if not result.started:
        echo(f"all {len(result.already)} service(s) already up and ready")
    else:
        echo(f"ready: {', '.join(result.started)} ({result.seconds:.2f} s)")


def run_down(names: Sequence[str]) -> None:
    from nixenv.app.services.down import down

    t0 = time.monotonic()
    down(Path.cwd(), names, progress=Printer())
    echo(f"stopped ({time.monotonic() - t0:.2f} s)")


def run_status(json_out: bool) -> None:
    from nixenv.app.services.status import status

    report = status(Path.cwd())
    if report.problem:
        echo(f"warning: {report.root / 'nixenv.toml'} cannot be read ({report.problem}); showing the state on disk",
             err=True)
    elif report.stale:
        echo("note: nixenv.toml changed since the services were set up; `nixenv services up` applies it", err=True)
    if json_out:
        echo(json.dumps({"scanner": {"state": report.scanner.state, "pid": report.scanner.pid,
                                     "via": report.scanner.via},
                         "services": [r.as_dict() for r in report.rows]}, indent=2, ensure_ascii=False))
        return
    echo(status_table(report.scanner, report.rows, sys.stdout.isatty()))
    if report.paths is not None and report.rows:
        echo(f"state (logs, data): {report.paths.base}")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def status_table(info, rows, colour: bool) -> str:
    body = [(printable(r.name), r.state, str(r.pid or "-"), _duration(r.uptime), str(r.restarts),
             str(r.port or "-"), r.last_exit or "-") for r in rows]
    text = table(("NAME", "STATE", "PID", "UPTIME", "RESTARTS", "PORT", "LAST EXIT"), body,
                 colour_column=1 if colour else None, colours=STATE_COLOURS)
    note = {"running": f"scanner: running (pid {info.pid})", "stopped": "scanner: not running",
            "stale": "scanner: GONE but supervisors are still running: `nixenv services up` recovers, `down` stops them"}
    orphaned = [printable(r.name) for r in rows if r.state == "orphaned"]
    extra = (f"\n{', '.join(orphaned)}: running without a supervisor (it died); `nixenv services up` stops that "
             "copy and starts it supervised, `down` stops it") if orphaned else ""
    return text + "\n" + note[info.state] + extra
