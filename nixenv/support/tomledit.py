"""A minimal, layout-preserving edit of one recipient array in nixenv.toml.

`add-recipient`/`remove-recipient` change `[secrets].age` (or `pgp`, `kms`) by editing just
that array's text: comments, blank lines, key order and the array's own style (one line or
one element per line) stay as the user wrote them. The result is re-parsed and compared with
the intended data before it is written; if the edit would change anything else, nothing is
written and the user is asked to edit the file by hand.
"""

from __future__ import annotations

import copy
import re
import tomllib
from dataclasses import dataclass

from nixenv.support.errors import NixenvError
from nixenv.support.tomlpos import key_lines

KINDS = ("age", "pgp", "kms")


@dataclass(frozen=True)
class _Element:
    start: int  # offset of the opening quote
    end: int  # offset after the closing quote
    value: str


@dataclass(frozen=True)
class _Array:
    open: int  # offset of `[`
    close: int  # offset of `]`
    elements: tuple[_Element, ...]


class TomlEditError(NixenvError):
    pass


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _scan_array(text: str, open_at: int) -> _Array:
    """Elements of the string array starting at `text[open_at] == '['`."""
    pos = open_at + 1
    elements: list[_Element] = []
    while pos < len(text):
        c = text[pos]
        if c in " \t\r\n,":
            pos += 1
        elif c == "#":
            while pos < len(text) and text[pos] != "\n":
                pos += 1
        elif c == "]":
            return _Array(open_at, pos, tuple(elements))
        elif c in "\"'":
            start = pos
            value, pos = _read_string(text, pos)
            elements.append(_Element(start, pos, value))
        else:
            raise TomlEditError("the recipient list holds something other than strings")
    raise TomlEditError("unterminated array")


def _read_string(text: str, pos: int) -> tuple[str, int]:
    quote = text[pos]
    if text.startswith(quote * 3, pos):
        raise TomlEditError("multi-line strings in the recipient list are not supported")
    pos += 1
    out: list[str] = []
    while pos < len(text):
        c = text[pos]
        if c == quote:
            return "".join(out), pos + 1
        if c == "\\" and quote == '"':
            out.append(text[pos : pos + 2])
            pos += 2
            continue
        if c == "\n":
            break
        out.append(c)
        pos += 1
    raise TomlEditError("unterminated string")


def _find_array(text: str, kind: str) -> _Array | None:
    """The `kind = [...]` array of the [secrets] table, located by line via tomlpos."""
    line = key_lines(text).get(("secrets", kind))
    if line is None:
        return None
    offset = sum(len(part) + 1 for part in text.split("\n")[: line - 1])
    pattern = re.compile(r"""(?<![A-Za-z0-9_-])(?:%s|"%s"|'%s')\s*=\s*\[""" % ((re.escape(kind),) * 3))
    match = pattern.search(text, offset)
    if match is None:
        raise TomlEditError(f"could not find the `{kind} = [...]` array")
    return _scan_array(text, match.end() - 1)


def _line_bounds(text: str, pos: int) -> tuple[int, int]:
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return start, len(text) if end < 0 else end


def _add(text: str, kind: str, value: str) -> str:
    array = _find_array(text, kind)
    literal = _toml_str(value)
    if array is None:
        return _add_key(text, kind, literal)
    if not array.elements:
        return text[: array.open + 1] + literal + text[array.close :]
    last = array.elements[-1]
    body = text[array.open : array.close]
    if "\n" not in body:
        return text[: last.end] + ", " + literal + text[last.end :]
    # one element per line: copy the last element's indentation and trailing-comma style
    line_start, line_end = _line_bounds(text, last.start)
    indent = text[line_start : last.start]
    if indent.strip() or array.close < line_end:
        # the last line holds other elements or the closing `]`: append on that line
        return text[: last.end] + ", " + literal + text[last.end :]
    after = text[last.end : line_end]
    has_comma = after.lstrip().startswith(",")
    if has_comma:
        insert = f"{indent}{literal},\n"
        return text[: line_end + 1] + insert + text[line_end + 1 :] if line_end < len(text) else text + "\n" + insert
    # no trailing comma: add one right after the last element, keep the new one without
    new = text[: last.end] + "," + text[last.end : line_end] + "\n" + indent + literal + text[line_end:]
    return new


def _add_key(text: str, kind: str, literal: str) -> str:
    lines = key_lines(text)
    header = lines.get(("secrets",))
    entry = f"{kind} = [{literal}]\n"
    if header is None:
        sep = "" if text.endswith("\n\n") or not text else ("\n" if text.endswith("\n") else "\n\n")
        return text + sep + "[secrets]\n" + entry
    # after the last line that belongs to [secrets] (its header or one of its keys)
    last_line = max(n for path, n in lines.items() if path[:1] == ("secrets",))
    parts = text.split("\n")
    header_line = parts[header - 1].lstrip()
    if not header_line.startswith("["):
        raise TomlEditError("[secrets] is written as an inline or dotted table")
    # a multi-line value may continue past its first line: skip to the end of that value
    offset = sum(len(p) + 1 for p in parts[: last_line - 1])
    array_match = re.compile(r"[^=\n]*=\s*\[").match(text, offset)
    if array_match and last_line != header:
        offset = _scan_array(text, array_match.end() - 1).close
    end = text.find("\n", offset)
    if end < 0:
        return text + "\n" + entry
    return text[: end + 1] + entry + text[end + 1 :]


def _remove(text: str, kind: str, value: str) -> str:
    array = _find_array(text, kind)
    if array is None:
        raise TomlEditError(f"[secrets].{kind} is not set")
    index = next(i for i, e in enumerate(array.elements) if tomllib.loads(f"v = {text[e.start:e.end]}")["v"] == value)
    element = array.elements[index]
    body = text[array.open : array.close]
    if "\n" in body:
        line_start, line_end = _line_bounds(text, element.start)
        rest = text[element.end : line_end]
        before = text[line_start : element.start]
        if not before.strip() and re.fullmatch(r"\s*,?\s*(#.*)?", rest):
            # the element has its line to itself (with its comment): drop the line. A comma
            # left before `]` by removing the last element is valid TOML.
            return text[:line_start] + text[min(line_end + 1, len(text)) :]
    # inline: drop the element with the comma after it (or before it, for the last one)
    after = re.compile(r"\s*,\s*").match(text, element.end)
    if after:
        return text[: element.start] + text[after.end() :]
    before = re.compile(r",\s*\Z").search(text, array.open + 1, element.start)
    start = before.start() if before else element.start
    return text[:start] + text[element.end :]


def edit_recipients(text: str, kind: str, *, add: str | None = None, remove: str | None = None) -> str:
    """nixenv.toml text with `add` appended to / `remove` removed from [secrets].<kind>.

    Raises TomlEditError when a minimal edit is not possible or would change anything else."""
    if kind not in KINDS:
        raise ValueError(kind)
    before = tomllib.loads(text)
    expected = _expected(before, kind, add=add, remove=remove)
    try:
        new = _add(text, kind, add) if add is not None else _remove(text, kind, remove)  # type: ignore[arg-type]
        after = tomllib.loads(new)
    except (TomlEditError, tomllib.TOMLDecodeError, StopIteration) as exc:
        raise TomlEditError(_by_hand(kind, add, remove, str(exc))) from None
    if after != expected:
        raise TomlEditError(_by_hand(kind, add, remove, "the edit would change other settings"))
    return new


def _expected(data: dict, kind: str, *, add: str | None, remove: str | None) -> dict:
    data = copy.deepcopy(data)
    secrets = data.setdefault("secrets", {})
    current = list(secrets.get(kind, []))
    if add is not None:
        current.append(add)
    if remove is not None:
        current.remove(remove)
    secrets[kind] = current
    return data


def _by_hand(kind: str, add: str | None, remove: str | None, why: str) -> str:
    action = f"add {add!r} to" if add is not None else f"remove {remove!r} from"
    return (f"could not edit nixenv.toml safely ({why}); nothing was written. "
            f"Please {action} `{kind} = [...]` under [secrets] by hand, then run `nixenv generate` "
            "and `nixenv secrets rotate`.")
