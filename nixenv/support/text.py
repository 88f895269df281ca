"""Small text helpers shared by every layer."""

from __future__ import annotations

import difflib
import re


def did_you_mean(word: str, choices: tuple[str, ...] | list[str]) -> str | None:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in choices}
        if word.lower() in lowered:
            close = [lowered[word.lower()]]
    return f"did you mean `{close[0]}`?" if close else None


def printable(text: str) -> str:
    """`text` safe to print on a terminal: control characters (ESC, CR, TAB, ...) escaped."""
    return re.sub(r"[\x00-\x1f\x7f\x80-\x9f]", lambda m: f"\\x{ord(m.group()):02x}", text)
