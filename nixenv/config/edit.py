"""Edits of nixenv.toml that nixenv makes itself (a recipient added or removed): the text is
edited in place, keeping comments and layout, validated like a hand edit, written atomically."""

from __future__ import annotations

from pathlib import Path

from nixenv.config.load import parse
from nixenv.support.files import write_atomic
from nixenv.support.tomledit import edit_recipients


def write_recipients(path: Path, kind: str, *, add: str | None = None, remove: str | None = None) -> str:
    """Edit nixenv.toml in place (validated with config.parse, written atomically); returns the new text."""
    text = path.read_text(encoding="utf-8")
    new = edit_recipients(text, kind, add=add, remove=remove)
    parse(new, root=path.parent, file=path.name)  # raises ConfigError: nothing written
    write_atomic(path, new, path.stat().st_mode & 0o7777)
    return new
