"""`nixenv secrets ...` (thin typer layer over nixenv.secrets)."""

from __future__ import annotations

import typer

secrets_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None)
