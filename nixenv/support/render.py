"""The jinja2 environment that renders templates/: templates never interpolate a raw value,
every value goes through one of the escaping filters of support/escape.py."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from nixenv.support.escape import nix_attr, nix_list, nix_str, sh, sh_refs, to_json, yaml_str
from nixenv.support.templates import templates_dir


def _bytecode_cache():
    """Compiled templates cached across runs (jinja checks each against its source's hash):
    compiling them is most of what rendering costs a fresh process."""
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
