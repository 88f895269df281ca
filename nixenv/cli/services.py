"""`nixenv services ...` (thin typer layer over nixenv.app.services).

The use cases are imported inside the commands: `nixenv --help` and every other command do
not pay for them.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import List, Optional

import typer

from nixenv.cli.output import Printer, echo, table

services_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None)

STATE_COLOURS = {"ready": "32", "up": "32", "done": "32", "running": "33", "starting": "33",
                 "crash-looping": "31", "failed": "31", "orphaned": "31"}


def _config():
    from nixenv.config.load import load_nearest

    return load_nearest(Path.cwd())


@services_app.command()
def up(
    names: Optional[List[str]] = typer.Argument(None, help="Services to start (with their dependencies); all when none."),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for everything to be ready."),
) -> None:
    """Start services under s6 in dependency order; return when all are ready."""
    from nixenv.app import services

    cfg = _config()
    progress = Printer()
    try:
        result = services.up(cfg, names or [], timeout=timeout, progress=progress)
    finally:
        progress.done()
    if not result.started:
        echo(f"all {len(result.already)} service(s) already up and ready")
    else:
        echo(f"ready: {', '.join(result.started)} ({result.seconds:.2f} s)")


@services_app.command()
def down(
    names: Optional[List[str]] = typer.Argument(None, help="Services to stop; all (and the scanner) when none."),
) -> None:
    """Stop services in reverse dependency order; with no names nothing of the project is left running.
    Works from the state on disk when nixenv.toml cannot be read."""
    from nixenv.app import services

    t0 = time.monotonic()
    services.down(Path.cwd(), names or [], progress=Printer())
    echo(f"stopped ({time.monotonic() - t0:.2f} s)")


@services_app.command()
def status(json_out: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """One row per service: state, pid, uptime, restarts, port, last exit."""
    from nixenv.app import services

    proj, info, rows = services.status(Path.cwd())
    if proj.problem:
        echo(f"warning: {proj.root / 'nixenv.toml'} cannot be read; showing the state on disk "
             f"({proj.problem.splitlines()[0]})", err=True)
    if json_out:
        echo(json.dumps({"scanner": {"state": info.state, "pid": info.pid, "via": info.via},
                         "services": [r.as_dict() for r in rows]}, indent=2, ensure_ascii=False))
        return
    echo(_status_table(info, rows, sys.stdout.isatty()))


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def _status_table(info, rows, colour: bool) -> str:
    from nixenv.support.text import printable

    body = [(printable(r.name), r.state, str(r.pid or "-"), _duration(r.uptime), str(r.restarts),
             str(r.port or "-"), r.last_exit or "-") for r in rows]
    text = table(("NAME", "STATE", "PID", "UPTIME", "RESTARTS", "PORT", "LAST EXIT"), body,
                 colour_column=1 if colour else None, colours=STATE_COLOURS)
    note = {"running": f"scanner: running (pid {info.pid})", "stopped": "scanner: not running",
            "stale": "scanner: GONE but supervisors are still running: `nixenv services up` recovers, `down` stops them"}
    orphaned = [r.name for r in rows if r.state == "orphaned"]
    extra = (f"\n{', '.join(orphaned)}: running without a supervisor (it died); `nixenv services up` stops that "
             "copy and starts it supervised, `down` stops it") if orphaned else ""
    return text + "\n" + note[info.state] + extra


@services_app.command()
def logs(
    names: Optional[List[str]] = typer.Argument(None, help="Services whose logs to show; all when none."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines."),
    lines: Optional[int] = typer.Option(None, "-n", "--lines", help="Show only the last N lines."),
) -> None:
    """Logs from s6-log (rotated files included), interleaved by time with a name prefix."""
    from nixenv.app import services
    from nixenv.services import logs as service_logs

    proj = services.project(Path.cwd())
    if proj.cfg is not None:
        services.check_names(proj.cfg, names or [])
    if proj.paths is None:
        echo("no logs yet: the services of this project never ran")
        return
    chosen = names or (list(proj.cfg.services) if proj.cfg else [d.name for d in proj.paths.logs.iterdir()]
                       if proj.paths.logs.is_dir() else [])
    paths = {n: proj.paths.log(n) for n in chosen}
    fmt = service_logs.formatter(chosen, sys.stdout.isatty())
    for line in service_logs.merged(paths, lines if lines is not None else (10 if follow else None)):
        echo(fmt(line))
    if follow:
        sys.stdout.flush()
        try:
            service_logs.follow(paths, lambda line: print(fmt(line), flush=True))
        except KeyboardInterrupt:
            pass


@services_app.command()
def restart(
    names: List[str] = typer.Argument(..., help="Services to restart."),
    with_dependants: bool = typer.Option(False, "--with-dependants", help="Restart the services that depend on them too."),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for them to be ready again."),
) -> None:
    """Stop and start services again, waiting until they are ready (a one-shot task runs again)."""
    from nixenv.app import services

    progress = Printer()
    try:
        started = services.restart(_config(), names, with_dependants=with_dependants, timeout=timeout,
                                   progress=progress)
    finally:
        progress.done()
    echo(f"ready: {', '.join(started)}")


@services_app.command()
def shell(name: str = typer.Argument(..., help="A preset service (postgres, redis, mysql, ...).")) -> None:
    """Open the preset's client (psql, redis-cli, mysql, ...) connected to the service."""
    from nixenv.app import services

    services.exec_client(services.client_argv(_config(), name))


@services_app.command()
def reset(
    name: str = typer.Argument(..., help="The service whose data to delete."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
) -> None:
    """Stop a service and delete its data (a database's files); the next `up` starts it afresh."""
    from nixenv.app import services

    cfg = _config()
    data = services.paths_of(cfg).data(name)
    if not yes:
        if not sys.stdin.isatty():
            raise typer.BadParameter("deleting data needs confirmation: run it in a terminal, or pass --yes")
        typer.confirm(f"delete {data} (all data of {name})?", abort=True)
    removed = services.reset(cfg, name, progress=Printer())
    echo(f"deleted {removed}" if not removed.exists() else f"{removed} could not be deleted")
