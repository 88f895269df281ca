"""Variable interpolation and `.env` files, as compose does them.

Rules from compose-spec 12-interpolation.md and docker/docs reference/compose-file/
interpolation.md: `$VAR` and `${VAR}`; `${VAR:-default}` (unset or empty), `${VAR-default}`
(unset); `${VAR:?err}`, `${VAR?err}` (required); `${VAR:+alt}`, `${VAR+alt}`; defaults and
messages nest (`${A:-${B:-x}}`); `$$` is a literal `$`; a `$` not followed by a name or `{` is
kept as is; an unset variable with no default becomes "" with a warning. Interpolation applies
to values, not keys, per file before merging.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from nixenv.compose.yamlio import Override
from nixenv.support.errors import NixenvError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")


class InterpolationError(NixenvError):
    pass


@dataclass
class Lookup:
    """Where variables come from, and the unset ones that were used (for the report)."""
    values: Any  # anything with .get(name) -> str | None
    missing: list[str] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        return self.values.get(name)


def interpolate(text: str, lookup: Lookup, *, where: str = "") -> str:
    out, _ = _scan(text, 0, lookup, where, stop_at_brace=False)
    return out


def _scan(text: str, pos: int, lookup: Lookup, where: str, *, stop_at_brace: bool) -> tuple[str, int]:
    """Interpolate from `pos` to the end, or to the `}` closing an enclosing `${`."""
    out: list[str] = []
    while pos < len(text):
        char = text[pos]
        if stop_at_brace and char == "}":
            return "".join(out), pos
        if char != "$":
            out.append(char)
            pos += 1
            continue
        nxt = text[pos + 1] if pos + 1 < len(text) else ""
        if nxt == "$":
            out.append("$")
            pos += 2
        elif nxt == "{":
            value, pos = _braced(text, pos + 2, lookup, where)
            out.append(value)
        else:
            match = _NAME.match(text, pos + 1)
            if match:
                out.append(_value(match.group(), lookup))
                pos = match.end()
            else:  # not a variable: compose keeps the `$`
                out.append("$")
                pos += 1
    if stop_at_brace:
        raise InterpolationError(f"{where}: invalid interpolation format for {text!r}: a `${{` is not closed; "
                                 "write `$$` for a literal `$`")
    return "".join(out), pos


def _value(name: str, lookup: Lookup) -> str:
    value = lookup.get(name)
    if value is None:
        lookup.missing.append(name)
        return ""
    return value


def _braced(text: str, pos: int, lookup: Lookup, where: str) -> tuple[str, int]:
    """`${...}` starting after `${`; returns the value and the position after `}`."""
    match = _NAME.match(text, pos)
    if not match:
        end = text.find("}", pos)
        raise InterpolationError(f"{where}: invalid interpolation format {text[pos - 2:end + 1 if end >= 0 else None]!r}: "
                                 "expected ${NAME}, ${NAME:-default}, ${NAME?error} ...; write `$$` for a literal `$`")
    name = match.group()
    pos = match.end()
    if text.startswith("}", pos):
        return _value(name, lookup), pos + 1
    operator = next((op for op in _OPERATORS if text.startswith(op, pos)), None)
    if operator is None:
        raise InterpolationError(f"{where}: invalid interpolation format in {text!r} after `${{{name}`: "
                                 "expected `}`, `:-`, `-`, `:?`, `?`, `:+` or `+`")
    # the argument is interpolated too (nesting); scanning it consumes it up to the closing `}`
    argument_lookup = Lookup(lookup.values)
    argument, end = _scan(text, pos + len(operator), argument_lookup, where, stop_at_brace=True)
    value = lookup.get(name)
    unset, empty = value is None, not value
    used = False
    result = value or ""
    if operator == ":-" and empty or operator == "-" and unset:
        result, used = argument, True
    elif operator in (":?", "?") and (empty if operator == ":?" else unset):
        raise InterpolationError(f"{where}: required variable {name} is {'unset' if unset else 'empty'}: "
                                 f"{argument or 'no message'} (set it in the environment or in .env)")
    elif operator == ":+":
        result, used = (argument, True) if not empty else ("", False)
    elif operator == "+":
        result, used = (argument, True) if not unset else ("", False)
    if used:
        lookup.missing.extend(argument_lookup.missing)
    return result, end + 1


def interpolate_tree(node: Any, lookup: Lookup, *, where: str = "") -> Any:
    """Every string value of a parsed YAML tree (not the keys)."""
    if isinstance(node, str):
        return interpolate(node, lookup, where=where)
    if isinstance(node, dict):
        return {key: interpolate_tree(value, lookup, where=f"{where}.{key}" if where else str(key))
                for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(item, lookup, where=f"{where}[{index}]") for index, item in enumerate(node)]
    if isinstance(node, Override):
        return Override(interpolate_tree(node.value, lookup, where=where))
    return node


# --------------------------------------------------------------------------- dotenv

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "$": "$$"}


def parse_dotenv(text: str, *, file: Path | str, lookup: Callable[[str], str | None] = lambda name: None,
                 ) -> dict[str, str | None]:
    """A compose `.env`/`env_file` (compose-go/dotenv): KEY=VALUE, `export KEY=VALUE`, quoted
    values, comments. Unquoted and double-quoted values are interpolated (earlier keys of the
    file, then `lookup`); single-quoted values are literal. A bare `KEY` takes its value from
    `lookup` (None when unset)."""
    values: dict[str, str | None] = {}
    pos = 0
    line_no = 1
    while pos < len(text):
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        line = text[pos:end].strip()
        start_line = line_no
        if not line or line.startswith("#"):
            pos, line_no = end + 1, line_no + 1
            continue
        if line.startswith("export ") or line.startswith("export\t"):
            line = line[7:].lstrip()
        key, sep, rest = line.partition("=")
        key = key.strip()
        if not _NAME.fullmatch(key):
            raise NixenvError(f"{file}:{start_line}: {key!r} is not a variable name (expected KEY=VALUE)")
        if not sep:
            values[key] = lookup(key)
            pos, line_no = end + 1, line_no + 1
            continue
        rest = rest.lstrip()
        scope = Lookup(_Chain(lookup, values))
        if rest[:1] in ("'", '"'):
            quote = rest[0]
            body_start = pos + text[pos:end].index(rest) + 1
            close = body_start
            while True:
                close = text.find(quote, close)
                if close < 0:
                    raise NixenvError(f"{file}:{start_line}: {key}: the {quote} quote is not closed")
                if quote == '"' and _escaped(text, close, body_start):
                    close += 1
                    continue
                break
            body = text[body_start:close]
            line_no += body.count("\n")
            if quote == "'":
                value = body
            else:
                body = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), body, flags=re.S)
                value = interpolate(body, scope, where=f"{file}:{start_line}")
            end = text.find("\n", close)
            end = len(text) if end < 0 else end
        else:
            value = re.split(r"\s+#", rest, maxsplit=1)[0].rstrip()
            value = interpolate(value, scope, where=f"{file}:{start_line}")
        values[key] = value
        pos, line_no = end + 1, line_no + 1
    return values


def _escaped(text: str, index: int, start: int) -> bool:
    count = 0
    while index - 1 >= start and text[index - 1] == "\\":
        count += 1
        index -= 1
    return count % 2 == 1


class _Chain:
    """The file's own earlier keys, then the outer lookup."""

    def __init__(self, lookup: Callable[[str], str | None], own: Mapping[str, str | None]):
        self._lookup = lookup
        self._own = own

    def get(self, name: str) -> str | None:
        value = self._own.get(name)
        return value if value is not None else self._lookup(name)
