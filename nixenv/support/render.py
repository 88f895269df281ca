"""The jinja2 environment, with one escaping filter per target language.

Templates never interpolate a raw value: every value goes through `nix_str`, `nix_attr`,
`sh`, `yaml_str` or `json` so that quotes, `$`, `${`, backslashes, newlines and unicode
come out exactly as written, never as code.
"""

from __future__ import annotations

import json
import re
import shlex
from functools import lru_cache
from pathlib import Path
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


def templates_dir() -> Path:
    """Templates ship inside the wheel as nixenv/templates; in a checkout they are ../templates."""
    here = Path(__file__).resolve().parent
    packaged = here.parent / "templates"
    return packaged if packaged.is_dir() else here.parent.parent / "templates"


def _bytecode_cache():
    """Compiled templates cached across runs (jinja checks each against its source's hash):
    compiling them is most of what rendering costs a fresh process."""
    import os

    import jinja2

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    directory = Path(base) / "nixenv" / "jinja"
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not os.access(directory, os.W_OK):
            return None
    except OSError:
        return None
    return jinja2.FileSystemBytecodeCache(str(directory))


@lru_cache(maxsize=1)
def environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        bytecode_cache=_bytecode_cache(),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(nix_str=nix_str, nix_attr=nix_attr, nix_list=nix_list, sh=sh, sh_refs=sh_refs,
                       yaml_str=yaml_str, json=to_json)
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
