"""Procfile import for `nixenv init`: one service per `name: command` line.

Follows what foreman and honcho accept: blank lines and `#` comments are skipped, the name
is letters, digits, `_` and `-`, the command is everything after the first colon (trimmed).
A later line with the same name replaces the earlier one, as in honcho.
"""

from __future__ import annotations

import re

_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+?)\s*$")


def parse_procfile(text: str) -> dict[str, str]:
    """{service name: command} in file order."""
    services: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match:
            services[match.group(1)] = match.group(2)
    return services


def procfile_problems(text: str) -> list[str]:
    """Lines that look like entries but cannot be imported (for init to warn about)."""
    out = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line and not line.startswith("#") and not _LINE.match(line):
            out.append(f"Procfile:{number}: not `name: command`: {raw!r}")
    return out
