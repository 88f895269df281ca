"""What the CLI prints: the one table printer, progress lines."""

from __future__ import annotations

import sys
from typing import Mapping, Sequence


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, colour_column: int | None = None,
          colours: Mapping[str, str] | None = None, last_free: bool = False) -> str:
    """Columns padded to their widest cell; `colour_column` cells coloured by value (ANSI code).
    `last_free`: the last column is not padded (long free text such as a fix)."""
    all_rows = [tuple(header)] + [tuple(r) for r in rows]
    count = len(header) - (1 if last_free else 0)
    widths = [max(len(r[i]) for r in all_rows) for i in range(count)]
    lines = []
    for index, row in enumerate(all_rows):
        cells = [row[i].ljust(widths[i]) for i in range(count)]
        if colour_column is not None and colours and index and row[colour_column] in colours:
            cells[colour_column] = f"\x1b[{colours[row[colour_column]]}m{cells[colour_column]}\x1b[0m"
        if last_free and row[-1]:
            cells.append(row[-1])
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def echo(text: str = "", err: bool = False) -> None:
    (sys.stderr if err else sys.stdout).write(text + "\n")


class Printer:
    """Progress of `up`/`down`/`restart` on stderr: kept lines, and one live "waiting" line on a tty."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.shown = False

    def _clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r\x1b[K")
            self.shown = False

    def event(self, text: str) -> None:
        self._clear()
        sys.stderr.write(f"  {text}\n")
        sys.stderr.flush()

    def waiting(self, pending: dict[str, float]) -> None:
        if not self.tty or not pending:
            return
        items = ", ".join(f"{n} ({s:.1f} s)" for n, s in sorted(pending.items(), key=lambda kv: -kv[1])[:6])
        more = f" and {len(pending) - 6} more" if len(pending) > 6 else ""
        self._clear()
        sys.stderr.write(f"  waiting for {items}{more}")
        sys.stderr.flush()
        self.shown = True

    def done(self) -> None:
        self._clear()


def print_report(report) -> None:
    """What `generate` (and `init`, `secrets init`) wrote, and what it would not overwrite."""
    for status in ("created", "updated", "unchanged"):
        paths = report.by_status(status)
        if paths:
            echo(f"{status}: {', '.join(paths)}")
    if report.edited:
        names = ", ".join(c.file.path for c in report.edited)
        if any(c in report.written for c in report.edited):
            echo(f"overwrote hand-edited: {names}")
        else:
            echo(f"not overwritten (edited by hand): {names}; move your change into nixenv.toml, "
                 "or run `nixenv generate --force` to discard it", err=True)
    if report.tracked:
        echo(f"git add --intent-to-add: {', '.join(report.tracked)}")
    for warning in report.warnings:
        echo(f"warning: {warning}", err=True)
