"""What the mapping reads from a Dockerfile: the first FROM, the final stage's WORKDIR,
ENTRYPOINT and CMD, and where COPY/ADD put files (to find the source of `/start`)."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Dockerfile:
    first_from: str | None = None
    workdir: str | None = None
    entrypoint: str | list[str] | None = None
    cmd: str | list[str] | None = None
    copies: dict[str, str] = field(default_factory=dict)  # container path -> source, relative to the context


def _instructions(text: str) -> list[tuple[str, str]]:
    lines: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        if full:
            word, _, rest = full.partition(" ")
            lines.append((word.upper(), rest.strip()))
    return lines


def _exec_or_shell(text: str) -> str | list[str]:
    if text.startswith("["):
        try:
            value = json.loads(text)
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return value
        except ValueError:
            pass
    return text


def parse_dockerfile(text: str) -> Dockerfile:
    first_from = None
    workdir = None
    entrypoint: str | list[str] | None = None
    cmd: str | list[str] | None = None
    copies: dict[str, str] = {}
    for word, rest in _instructions(text):
        if word == "FROM":
            args = [a for a in rest.split() if not a.startswith("--")]
            if first_from is None and args:
                first_from = args[0]
            workdir, entrypoint, cmd = None, None, None  # a new stage starts afresh
        elif word == "WORKDIR":
            workdir = rest if rest.startswith("/") or workdir is None else f"{workdir.rstrip('/')}/{rest}"
        elif word == "ENTRYPOINT":
            entrypoint, cmd = _exec_or_shell(rest), None  # docker: ENTRYPOINT resets an inherited CMD
        elif word == "CMD":
            cmd = _exec_or_shell(rest)
        elif word in ("COPY", "ADD"):
            value = _exec_or_shell(rest)
            try:
                args = value if isinstance(value, list) else shlex.split(rest)
            except ValueError:
                continue
            if any(a.startswith("--from") for a in args):
                continue
            args = [a for a in args if not a.startswith("--")]
            if len(args) < 2:
                continue
            *sources, dest = args
            if not dest.startswith("/") and workdir:
                dest = f"{workdir.rstrip('/')}/{dest}"
            for source in sources:
                target = f"{dest.rstrip('/')}/{Path(source).name}" if dest.endswith("/") or len(sources) > 1 else dest
                copies[target] = source
    return Dockerfile(first_from, workdir, entrypoint, cmd, copies)


def read_dockerfile(path: Path | None, inline: str | None = None) -> Dockerfile | None:
    if inline is not None:
        return parse_dockerfile(inline)
    if path is None:
        return None
    try:
        return parse_dockerfile(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None


_ARG = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}?")


def expand_args(text: str, args: dict[str, str]) -> str:
    """`FROM postgres:${PG_VERSION}`: the build args' values (or their defaults)."""
    return _ARG.sub(lambda m: args.get(m.group(1)) or m.group(2) or "", text)
