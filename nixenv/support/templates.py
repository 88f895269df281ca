"""Where the templates are: inside the wheel as nixenv/templates, in a checkout ../templates."""

from __future__ import annotations

from pathlib import Path


def templates_dir() -> Path:
    here = Path(__file__).resolve().parent
    packaged = here.parent / "templates"
    return packaged if packaged.is_dir() else here.parent.parent / "templates"
