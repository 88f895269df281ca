"""`nixenv services ...` (thin typer layer over nixenv.services)."""

from __future__ import annotations

import sys
from typing import List, Optional

import typer

services_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None)


def _config():
    from pathlib import Path

    from nixenv.config.load import load_nearest

    return load_nearest(Path.cwd())


def _progress():
    from nixenv.services.supervisor import Progress

    tty = sys.stderr.isatty()

    class Printer(Progress):
        shown = False

        def _clear(self) -> None:
            if self.shown:
                sys.stderr.write("\r\x1b[K")
                self.shown = False

        def event(self, text: str) -> None:
            self._clear()
            sys.stderr.write(f"  {text}\n")
            sys.stderr.flush()

        def waiting(self, pending: dict[str, float]) -> None:
            if not tty or not pending:
                return
            items = ", ".join(f"{n} ({s:.1f} s)" for n, s in sorted(pending.items(), key=lambda kv: -kv[1])[:6])
            more = f" and {len(pending) - 6} more" if len(pending) > 6 else ""
            self._clear()
            sys.stderr.write(f"  waiting for {items}{more}")
            sys.stderr.flush()
            self.shown = True

        def done(self) -> None:
            self._clear()

    return Printer()


@services_app.command()
def up(
    names: Optional[List[str]] = typer.Argument(None, help="Services to start (with their dependencies); all when none."),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for everything to be ready."),
) -> None:
    """Start services under s6 in dependency order; return when all are ready."""
    from nixenv.services import supervisor as services

    cfg = _config()
    progress = _progress()
    try:
        result = services.up(cfg, names or [], timeout=timeout, progress=progress)
    finally:
        progress.done()
    if not result.started:
        print(f"all {len(result.already)} service(s) already up and ready")
    else:
        print(f"ready: {', '.join(result.started)} ({result.seconds:.2f} s)")


@services_app.command()
def down(
    names: Optional[List[str]] = typer.Argument(None, help="Services to stop; all (and the scanner) when none."),
) -> None:
    """Stop services in reverse dependency order; with no names nothing of the project is left running."""
    import time

    from nixenv.services import supervisor as services

    t0 = time.monotonic()
    services.down(_config(), names or [], progress=_progress())
    print(f"stopped ({time.monotonic() - t0:.2f} s)")


@services_app.command()
def status(json_out: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """One row per service: state, pid, uptime, restarts, port, last exit."""
    import json

    from nixenv.services import supervisor as services

    info, rows = services.status(_config())
    if json_out:
        print(json.dumps({"scanner": {"state": info.state, "pid": info.pid, "via": info.via},
                          "services": [r.as_dict() for r in rows]}, indent=2, ensure_ascii=False))
        return
    print(_table(info, rows, sys.stdout.isatty()))


def _table(info, rows, colour: bool) -> str:
    def dur(s):
        if s is None:
            return "-"
        s = int(s)
        return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"

    header = ("NAME", "STATE", "PID", "UPTIME", "RESTARTS", "PORT", "LAST EXIT")
    table = [header] + [(r.name, r.state, str(r.pid or "-"), dur(r.uptime), str(r.restarts),
                         str(r.port or "-"), r.last_exit or "-") for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    colours = {"ready": "32", "up": "32", "starting": "33", "crash-looping": "31", "failed": "31"}
    lines = []
    for index, row in enumerate(table):
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
        if colour and index and row[1] in colours:
            cells[1] = f"\x1b[{colours[row[1]]}m{cells[1]}\x1b[0m"
        lines.append("  ".join(cells).rstrip())
    note = {"running": f"scanner: running (pid {info.pid})", "stopped": "scanner: not running",
            "stale": "scanner: GONE but supervisors are still running: `nixenv services up` recovers, `down` stops them"}
    return "\n".join(lines) + "\n" + note[info.state]


@services_app.command()
def logs(
    names: Optional[List[str]] = typer.Argument(None, help="Services whose logs to show; all when none."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines."),
    lines: Optional[int] = typer.Option(None, "-n", "--lines", help="Show only the last N lines."),
) -> None:
    """Logs from s6-log (rotated files included), interleaved by time with a name prefix."""
    from nixenv.services import supervisor as services
    from nixenv.services import logs as services_logs

    cfg = _config()
    services.check_names(cfg, names or [])
    chosen = names or list(cfg.services)
    lay = services.Layout.of(cfg)
    paths = {n: lay.logs / n for n in chosen}
    fmt = services_logs.formatter(chosen, sys.stdout.isatty())
    for line in services_logs.merged(paths, lines if lines is not None else (10 if follow else None)):
        print(fmt(line))
    if follow:
        sys.stdout.flush()

        def emit(line) -> None:
            print(fmt(line), flush=True)

        try:
            services_logs.follow(paths, emit)
        except KeyboardInterrupt:
            pass


@services_app.command()
def restart(
    names: List[str] = typer.Argument(..., help="Services to restart."),
    with_dependants: bool = typer.Option(False, "--with-dependants", help="Restart the services that depend on them too."),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for them to be ready again."),
) -> None:
    """Stop and start services again, waiting until they are ready."""
    from nixenv.services import supervisor as services

    progress = _progress()
    try:
        started = services.restart(_config(), names, with_dependants=with_dependants, timeout=timeout,
                                   progress=progress)
    finally:
        progress.done()
    print(f"ready: {', '.join(started)}")
