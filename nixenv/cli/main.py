"""The command line. Thin: parse arguments, call plain functions, print.

Heavy modules (jinja2, the generators, services, secrets) are imported inside commands so
that `nixenv --help` and `nixenv services status` start fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List

import typer

from nixenv import __version__
from nixenv.cli.output import echo, print_report, table
from nixenv.cli.project import load_config

app = typer.Typer(
    name="nixenv",
    help="Docker-free development environments from one nixenv.toml: Nix packages, direnv, s6 services, sops secrets.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

PASSTHROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}


def _version(value: bool) -> None:
    if value:
        print(f"nixenv {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """nixenv wires Nix, direnv, s6 and sops together from nixenv.toml."""


@app.command()
def init(
    force: bool = typer.Option(False, "--force", help="Overwrite an existing nixenv.toml."),
    directory: Path = typer.Option(Path("."), "--dir", "-C", help="Project directory."),
    compose: List[Path] = typer.Option([], "--compose", help="Take the services from this compose file (repeat to "
                                       "merge several); default: compose.yaml, docker-compose.yml ... when present."),
) -> None:
    """Detect the project, write nixenv.toml, then generate flake.nix, .envrc and the rest."""
    from nixenv.app import init as init_mod

    result = init_mod.init(directory.resolve(), force=force, compose=[c.resolve() for c in compose])
    for line in result.detections:
        echo(f"  detected: {line}")
    for line in result.compose_report:
        echo(f"  compose: {line}")
    echo(f"wrote {result.config_path.name}")
    for line in result.gitignore:
        echo(line)
    print_report(result.report)
    if not result.in_git:
        echo("note: not a git repository; `git init` it so that nix evaluates only tracked files "
             "(otherwise every evaluation copies the whole directory, .venv included, into the store)")


@app.command()
def generate(
    check: bool = typer.Option(False, "--check", help="Exit 1 and list what is out of date; write nothing."),
    diff: bool = typer.Option(False, "--diff", help="Show the changes."),
    force: bool = typer.Option(False, "--force", help="Overwrite generated files that were edited by hand."),
) -> None:
    """Write the generated files from nixenv.toml (only what changed, atomically)."""
    from nixenv.app.generate import generate as run_generate

    cfg = load_config()
    report = run_generate(cfg, check=check, force=force)
    if diff or (report.edited and not force and not check):
        for change in report.changes:
            if change.status in ("updated", "edited") or (diff and change.status == "created"):
                sys.stdout.write(change.diff())
    if check:
        stale = report.out_of_date
        for change in stale:
            echo(f"out of date: {change.file.path} ({change.status})")
        if stale:
            echo("run `nixenv generate` to update" + (" (--force for hand-edited files)" if report.edited else ""))
            raise typer.Exit(1)
        echo("all generated files are current")
        return
    print_report(report)
    if report.edited and not force:
        raise typer.Exit(1)


@app.command(context_settings=PASSTHROUGH)
def shell(ctx: typer.Context) -> None:
    """Enter the devshell (nix develop). `nixenv shell -- CMD...` runs CMD in it.

    Arguments before `--` go to nix, e.g. `--override-input nixpkgs path:/src/nixpkgs`."""
    from nixenv.app import run as runner

    nix_args, command = runner.split_args(ctx.args)
    runner.shell(load_config(), nix_args, command)


@app.command(context_settings=PASSTHROUGH)
def run(ctx: typer.Context) -> None:
    """Run a [scripts] entry, or `-- CMD...`, inside the devshell; exits with its exit code."""
    from nixenv.app import run as runner

    nix_args, command = runner.split_args(ctx.args)
    cfg = load_config()
    raise typer.Exit(runner.run(cfg, nix_args, command))


@app.command()
def doctor() -> None:
    """Check nix, flakes, direnv and its hook, s6/sops/age, and the generated files."""
    from nixenv.app import doctor as doctor_mod

    checks = doctor_mod.run_checks(Path.cwd())
    rows = [(c.name, "ok" if c.ok else ("FAIL" if c.required else "warn"), c.detail, c.fix) for c in checks]
    echo(table(("CHECK", "STATUS", "DETAIL", "FIX"), rows, last_free=True))
    if any(c.required and not c.ok for c in checks):
        raise typer.Exit(1)


@app.command()
def ide() -> None:
    """Point VS Code (and print the path for PyCharm) at the project's Python interpreter."""
    from nixenv.app.ide import write_ide

    for line in write_ide(load_config()):
        echo(line)


def _register_subcommands() -> None:
    from nixenv.cli.importer import import_app
    from nixenv.cli.secrets import secrets_app
    from nixenv.cli.services import services_app

    app.add_typer(services_app, name="services", help="Run the project's services under s6.")
    app.add_typer(secrets_app, name="secrets", help="Secrets encrypted with sops and age.")
    app.add_typer(import_app, name="import", help="Import services from another tool's files (docker compose).")


_register_subcommands()
