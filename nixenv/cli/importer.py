"""`nixenv import compose` (thin typer layer over nixenv.app.import_compose)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

import_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None)


@import_app.command("compose")
def compose(
    files: Optional[List[Path]] = typer.Argument(None, help="Compose files, merged in order as `docker compose -f A -f B` "
                                                 "does (default: compose.yaml ... and its override file)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resulting nixenv.toml and the report; write nothing."),
    force: bool = typer.Option(False, "--force", help="Replace services of the same name already in nixenv.toml."),
    profile: Optional[List[str]] = typer.Option(None, "--profile", help="Also import the services of this compose profile."),
    directory: Path = typer.Option(Path("."), "--dir", "-C", help="Project directory."),
) -> None:
    """Turn a docker compose file into [services] of nixenv.toml, and say what did not carry over."""
    from nixenv.app.import_compose import import_compose

    root = directory.resolve()
    given = [f if f.is_absolute() else (Path.cwd() / f) for f in files or []]
    outcome = import_compose(root, given, dry_run=dry_run, force=force, profiles=profile or [])
    out = sys.stdout
    if dry_run:
        out.write(outcome.text)
        out.write("\n# --- report (dry run: nothing was written) ---\n")
    for line in outcome.report:
        out.write(("# " if dry_run else "  ") + line + "\n")
    if outcome.written:
        out.write(f"wrote {outcome.config_path.name} from {', '.join(p.name for p in outcome.files)}\n")
        if outcome.stored_secrets:
            out.write(f"stored in the encrypted secrets file: {', '.join(outcome.stored_secrets)}\n")
        out.write("next: `nixenv generate`, then `nixenv services up`\n")
