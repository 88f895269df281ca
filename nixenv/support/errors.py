"""One error family. The CLI's top-level handler prints these without a traceback."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Sequence


class NixenvError(Exception):
    """A user-facing error: printed as one clear message, exit code 1."""

    exit_code = 1


@dataclass(frozen=True)
class Problem:
    """One problem in a config file, located as precisely as we can."""

    file: str
    line: int | None
    key: str
    message: str
    suggestion: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"
        if self.suggestion:
            text += f" ({self.suggestion})"
        return text


class ConfigError(NixenvError):
    """nixenv.toml is invalid. Every problem is reported at once; exit code 2."""

    exit_code = 2

    def __init__(self, problems: Sequence[Problem]):
        self.problems = tuple(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the configuration; nothing was written"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in self.problems))


class ToolMissing(NixenvError):
    """An external tool nixenv needs is not on PATH."""

    def __init__(self, tool: str, hint: str):
        self.tool = tool
        self.hint = hint
        super().__init__(f"`{tool}` was not found on PATH. {hint}")


class ToolError(NixenvError):
    """An external command failed: says which tool, the command line and what it printed."""

    def __init__(self, tool: str, argv: Sequence[str], returncode: int, output: str, hint: str = ""):
        self.tool = tool
        self.argv = tuple(argv)
        self.returncode = returncode
        self.output = output
        lines = [f"{tool} failed (exit {returncode}): {shlex.join(self.argv)}"]
        tail = output.strip()
        if tail:
            tail_lines = tail.splitlines()[-30:]
            lines.append("\n".join("  | " + line for line in tail_lines))
        if hint:
            lines.append(hint)
        super().__init__("\n".join(lines))
