"""`nixenv services ...` (thin typer layer over nixenv.services)."""

from __future__ import annotations

import typer

services_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None)
