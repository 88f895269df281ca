"""Editing JSON with comments (VS Code's settings.json) without losing a byte of what it holds:
comments, order, formatting. A file that is not a JSON object is refused, never rewritten."""

from __future__ import annotations

import json
from dataclasses import dataclass

from nixenv.support.errors import NixenvError


def new_settings_text(key: str, value: str, newline: str = "\n") -> str:
    member = f"{json.dumps(key, ensure_ascii=False)}: {json.dumps(value, ensure_ascii=False)}"
    return "{" + newline + "  " + member + newline + "}" + newline


class JsoncError(NixenvError):
    pass


@dataclass(frozen=True)
class _Member:
    key: str
    key_start: int
    value_start: int
    value_end: int


def set_jsonc_member(text: str, key: str, value: str, *, where: str) -> str:
    """`text` (JSON with comments and trailing commas, as VS Code writes it) with the top-level
    `key` set to the string `value`. Everything else (comments, order, formatting) is kept byte
    for byte; a file that is not a JSON object is refused, never rewritten."""
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body = text[len(bom):]
    if not body.strip():
        newline = "\r\n" if "\r\n" in body else "\n"
        return bom + new_settings_text(key, value, newline)
    open_at, close_at, members = _top_level_members(body, where)
    encoded = json.dumps(value, ensure_ascii=False)
    matching = [m for m in members if m.key == key]
    if matching:
        out = body
        for member in reversed(matching):
            out = out[:member.value_start] + encoded + out[member.value_end:]
    else:
        newline = "\r\n" if "\r\n" in body else "\n"
        entry = f"{json.dumps(key, ensure_ascii=False)}: {encoded}"
        if members:
            last = members[-1]
            indent = _indent_of(body, last.key_start)
            out = body[:last.value_end] + "," + newline + indent + entry + body[last.value_end:]
        else:
            # an empty object, or one holding only comments: keep them, add the member after them
            head = body[:close_at].rstrip(" \t")
            if not head.endswith(("\n", "\r")):
                head += newline
            out = head + "  " + entry + newline + body[close_at:]
    # Never write something VS Code cannot read or that lost the value.
    parsed = parse_jsonc(out, where)
    if parsed.get(key) != value:  # pragma: no cover - a bug guard
        raise JsoncError(f"{where}: nixenv could not set {key} safely; the file was left untouched.")
    return bom + out


def _indent_of(text: str, index: int) -> str:
    line_start = max(text.rfind("\n", 0, index), text.rfind("\r", 0, index)) + 1
    prefix = text[line_start:index]
    return prefix if not prefix.strip() else "  "


def parse_jsonc(text: str, where: str) -> dict:
    """The object a JSON-with-comments document holds (comments and trailing commas removed)."""
    try:
        value = json.loads(_strip_jsonc(text, where))
    except json.JSONDecodeError as exc:
        raise JsoncError(f"{where}: not valid JSON (with comments) at line {exc.lineno} column {exc.colno}: "
                         f"{exc.msg}. nixenv left it untouched; fix it, or make the change by hand.") from None
    if not isinstance(value, dict):
        raise JsoncError(f"{where}: expected a JSON object at the top level; nixenv left it untouched.")
    return value


def _strip_jsonc(text: str, where: str) -> str:
    """Comments become spaces (so positions are kept) and trailing commas are dropped."""
    out: list[str] = []
    i, n = 0, len(text)
    pending_comma: int | None = None  # index in `out` of a comma that may be trailing
    while i < n:
        c = text[i]
        if c == '"':
            end = _string_end(text, i, where)
            out.append(text[i:end])
            pending_comma = None
            i = end
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end == -1 else end
            out.append(" " * (end - i))
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end == -1:
                raise JsoncError(f"{where}: a /* comment is never closed; nixenv left the file untouched.")
            out.append("".join(ch if ch in "\r\n" else " " for ch in text[i:end + 2]))
            i = end + 2
        elif c == ",":
            pending_comma = len(out)
            out.append(c)
            i += 1
        elif c in "}]":
            if pending_comma is not None:
                out[pending_comma] = " "
            pending_comma = None
            out.append(c)
            i += 1
        else:
            if not c.isspace():
                pending_comma = None
            out.append(c)
            i += 1
    return "".join(out)


def _string_end(text: str, start: int, where: str) -> int:
    """Index just past the JSON string starting at `start` (a double quote)."""
    i = start + 1
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i + 1
        if c == "\n":
            break
        i += 1
    raise JsoncError(f"{where}: a string is never closed; nixenv left the file untouched.")


def _skip_ws(text: str, i: int) -> int:
    while i < len(text):
        if text[i].isspace():
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = len(text) if end == -1 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = len(text) if end == -1 else end + 2
        else:
            break
    return i


def _value_end(text: str, i: int, where: str) -> int:
    """Index just past the JSON value starting at `i` (strings, nesting and comments respected)."""
    if text[i] == '"':
        return _string_end(text, i, where)
    if text[i] in "{[":
        depth = 0
        while i < len(text):
            c = text[i]
            if c == '"':
                i = _string_end(text, i, where)
                continue
            if text.startswith("//", i) or text.startswith("/*", i):
                i = _skip_ws(text, i)
                continue
            if c in "{[":
                depth += 1
            elif c in "}]":
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
        raise JsoncError(f"{where}: unbalanced brackets; nixenv left the file untouched.")
    start = i
    while i < len(text) and text[i] not in ",}]/ \t\r\n":
        i += 1
    if i == start:
        raise JsoncError(f"{where}: unexpected {text[i]!r} at offset {i}; nixenv left the file untouched.")
    return i


def _top_level_members(text: str, where: str) -> tuple[int, int, list[_Member]]:
    """(index of the top-level `{`, index of its `}`, its members) of a JSONC object document."""
    parse_jsonc(text, where)  # refuses anything that is not a well-formed object first
    i = _skip_ws(text, 0)
    open_at = i
    i += 1
    members: list[_Member] = []
    while True:
        i = _skip_ws(text, i)
        if text[i] == "}":
            return open_at, i, members
        if text[i] == ",":
            i += 1
            continue
        key_start = i
        key_end = _string_end(text, i, where)
        key = json.loads(text[key_start:key_end])
        i = _skip_ws(text, key_end)
        i = _skip_ws(text, i + 1)  # past the colon
        value_end = _value_end(text, i, where)
        members.append(_Member(key, key_start, i, value_end))
        i = value_end
