"""Escaping, one function per target language: every value that reaches Nix, a shell script,
YAML or JSON goes through one of these, so that quotes, `$`, `${`, backslashes, newlines and
unicode come out exactly as written, never as code (tests/unit/support/test_escape_and_render.py proves it)."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

NIX_KEYWORDS = frozenset({"if", "then", "else", "assert", "with", "let", "in", "rec", "inherit", "or"})
_NIX_BARE = re.compile(r"[A-Za-z_][A-Za-z0-9_'-]*\Z")


def nix_str(value: Any) -> str:
    """A double-quoted Nix string literal that evaluates to exactly `value`."""
    text = str(value)
    out = ['"']
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            out.append("\\\\")
        elif c == '"':
            out.append('\\"')
        elif c == "$" and text[i + 1 : i + 2] == "{":
            out.append("\\${")
            i += 1
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append("\\t")
        else:
            out.append(c)
        i += 1
    out.append('"')
    return "".join(out)


def nix_attr(name: Any) -> str:
    """An attribute name: bare when Nix allows it, quoted otherwise."""
    text = str(name)
    if _NIX_BARE.match(text) and text not in NIX_KEYWORDS:
        return text
    return nix_str(text)


def nix_list(values: Any) -> str:
    return "[ " + " ".join(nix_str(v) for v in values) + " ]"


def sh(value: Any) -> str:
    """A POSIX shell word that expands to exactly `value` (single-quoted)."""
    return shlex.quote(str(value))


_VAR_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def sh_refs(value: Any) -> str:
    """A shell word equal to `value` in which only `${NAME}` references expand (to a variable
    set when the script runs, e.g. a secret); everything else is literal."""
    parts = _VAR_REF.split(str(value))
    words = []
    for index, part in enumerate(parts):
        if index % 2:
            words.append(f'"${{{part}}}"')
        elif part:
            words.append(sh(part))
    return "".join(words) or "''"


def yaml_str(value: Any) -> str:
    """A double-quoted YAML scalar (JSON strings are valid YAML)."""
    return json.dumps(str(value), ensure_ascii=False)


def to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
