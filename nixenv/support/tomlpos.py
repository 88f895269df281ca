"""Line numbers for keys in a TOML document.

tomllib gives values but no positions; error messages must say `file:line`. This scanner
walks the text once and records the line on which every key path is defined (table
headers, dotted keys, keys inside inline tables). It is forgiving: it only runs on text
that tomllib already accepted.
"""

from __future__ import annotations

KeyPath = tuple[str, ...]

_BARE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class _Scanner:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0
        self.line = 1
        self.lines: dict[KeyPath, int] = {}

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def advance(self, n: int = 1) -> None:
        for _ in range(n):
            if self.pos < len(self.text):
                if self.text[self.pos] == "\n":
                    self.line += 1
                self.pos += 1

    def skip_ws(self, newlines: bool = False) -> None:
        while True:
            c = self.peek()
            if c in (" ", "\t", "\r") or (newlines and c == "\n"):
                self.advance()
            elif c == "#":
                while self.peek() not in ("\n", ""):
                    self.advance()
            else:
                return

    def read_string(self) -> str:
        quote = self.peek()
        triple = self.text.startswith(quote * 3, self.pos)
        delim = quote * 3 if triple else quote
        self.advance(len(delim))
        out = []
        while self.pos < len(self.text):
            if self.text.startswith(delim, self.pos):
                self.advance(len(delim))
                # TOML allows up to two extra quotes at the end of a multi-line string
                while triple and self.peek() == quote:
                    out.append(quote)
                    self.advance()
                return "".join(out)
            c = self.peek()
            if c == "\\" and quote == '"':
                nxt = self.text[self.pos + 1 : self.pos + 2]
                out.append({"n": "\n", "t": "\t", '"': '"', "\\": "\\"}.get(nxt, nxt))
                self.advance(2)
                continue
            out.append(c)
            self.advance()
        return "".join(out)

    def read_key(self) -> KeyPath:
        parts: list[str] = []
        while True:
            self.skip_ws()
            c = self.peek()
            if c in ('"', "'"):
                parts.append(self.read_string())
            else:
                start = self.pos
                while self.peek() in _BARE and self.peek() != "":
                    self.advance()
                parts.append(self.text[start : self.pos])
            self.skip_ws()
            if self.peek() == ".":
                self.advance()
                continue
            return tuple(parts)

    def record(self, path: KeyPath) -> None:
        self.lines.setdefault(path, self.line)

    def read_value(self, prefix: KeyPath) -> None:
        self.skip_ws()
        c = self.peek()
        if c in ('"', "'"):
            self.read_string()
        elif c == "[":
            self.advance()
            index = 0
            while True:
                self.skip_ws(newlines=True)
                if self.peek() in ("]", ""):
                    self.advance()
                    return
                self.read_value(prefix + (str(index),))
                index += 1
                self.skip_ws(newlines=True)
                if self.peek() == ",":
                    self.advance()
        elif c == "{":
            self.advance()
            while True:
                self.skip_ws()
                if self.peek() in ("}", ""):
                    self.advance()
                    return
                line = self.line
                key = prefix + self.read_key()
                self.lines.setdefault(key, line)
                if self.peek() == "=":
                    self.advance()
                self.read_value(key)
                self.skip_ws()
                if self.peek() == ",":
                    self.advance()
        else:
            while self.peek() not in (",", "]", "}", "\n", "#", ""):
                self.advance()

    def scan(self) -> dict[KeyPath, int]:
        table: KeyPath = ()
        array_counts: dict[KeyPath, int] = {}
        while self.pos < len(self.text):
            self.skip_ws(newlines=True)
            c = self.peek()
            if c == "":
                break
            if c == "[":
                is_array = self.text.startswith("[[", self.pos)
                self.advance(2 if is_array else 1)
                line = self.line
                table = self.read_key()
                # a table that exists only through a dotted header ([servces.web] makes `servces`)
                # is where that header is
                for depth in range(1, len(table)):
                    self.lines.setdefault(table[:depth], line)
                if is_array:
                    index = array_counts.get(table, 0)
                    array_counts[table] = index + 1
                    table = table + (str(index),)
                self.lines.setdefault(table, line)
                while self.peek() == "]":
                    self.advance()
                continue
            line = self.line
            key = table + self.read_key()
            for depth in range(len(table) + 1, len(key) + 1):
                self.lines.setdefault(key[:depth], line)
            if self.peek() == "=":
                self.advance()
            self.read_value(key)
        return self.lines


def key_lines(text: str) -> dict[KeyPath, int]:
    """Map every key path in `text` to the line (1-based) where it is defined."""
    try:
        return _Scanner(text).scan()
    except Exception:  # positions are a courtesy; never let them hide the real error
        return {}


def line_of(lines: dict[KeyPath, int], path: KeyPath) -> int | None:
    """The line of `path`, or of its nearest defined ancestor."""
    for depth in range(len(path), 0, -1):
        found = lines.get(tuple(path[:depth]))
        if found:
            return found
    return None
