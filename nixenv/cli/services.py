"""`nixenv services ...` (thin typer layer over nixenv.app.services; the everyday commands'
bodies are in cli/services_run.py, which cli/fast.py also calls).

The use cases are imported inside the commands: `nixenv --help` and every other command do
not pay for them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from nixenv.cli.output import Printer, echo
from nixenv.cli.project import load_config
from nixenv.cli.services_run import run_down, run_status, run_up

services_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None)


@services_app.command()
def up(
    names: Optional[List[str]] = typer.Argument(None, help="Services to start (with their dependencies); all when none."),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for everything to be ready."),
) -> None:
    """Start services under s6 in dependency order; return when all are ready."""
    run_up(names or [], timeout)


@services_app.command()
def down(
    names: Optional[List[str]] = typer.Argument(None, help="Services to stop; all (and the scanner) when none."),
) -> None:
    """Stop services in reverse dependency order; with no names nothing of the project is left running.
    Works from the state on disk when nixenv.toml cannot be read."""
    run_down(names or [])


@services_app.command()
def status(json_out: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """One row per service: state, pid, uptime, restarts, port, last exit."""
    run_status(json_out)


@services_app.command()
def logs(
    names: Optional[List[str]] = typer.Argument(None, help="Services whose logs to show; all when none."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines."),
    lines: Optional[int] = typer.Option(None, "-n", "--lines", help="Show only the last N lines."),
) -> None:
    """Logs from s6-log (rotated files included), interleaved by time with a name prefix."""
    from nixenv.app.services.common import check_names, project
    from nixenv.services import logs as service_logs

    proj = project(Path.cwd())
    if proj.cfg is not None:
        check_names(proj.cfg, names or [])
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
    from nixenv.app.services.up import restart as restart_services

    progress = Printer()
    try:
        started = restart_services(load_config(), names, with_dependants=with_dependants, timeout=timeout,
                                   progress=progress)
    finally:
        progress.done()
    echo(f"ready: {', '.join(started)}")


@services_app.command()
def shell(name: str = typer.Argument(..., help="A preset service (postgres, redis, mysql, ...).")) -> None:
    """Open the preset's client (psql, redis-cli, mysql, ...) connected to the service."""
    from nixenv.app.services.shell import client_argv, exec_client

    exec_client(client_argv(load_config(), name))


@services_app.command()
def reset(
    name: str = typer.Argument(..., help="The service whose data to delete."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
) -> None:
    """Stop a service and delete its data (a database's files); the next `up` starts it afresh."""
    from nixenv.app.services.common import paths_of
    from nixenv.app.services.reset import reset as reset_service

    cfg = load_config()
    data = paths_of(cfg).data(name)
    if not yes:
        if not sys.stdin.isatty():
            raise typer.BadParameter("deleting data needs confirmation: run it in a terminal, or pass --yes")
        typer.confirm(f"delete {data} (all data of {name})?", abort=True)
    removed = reset_service(cfg, name, progress=Printer())
    echo(f"deleted {removed}" if not removed.exists() else f"{removed} could not be deleted")
