"""SQL quoting for the presets' ensure scripts.

PostgreSQL (docs: "Lexical Structure", 4.1.1 and 4.1.2.2): an identifier in double quotes with
`"` doubled; a string as an escape string E'...' with `\\` and `'` doubled, which means the same
whatever `standard_conforming_strings` is. NUL cannot be part of either.

MariaDB/MySQL ("Identifier Names", "String Literals"): an identifier in backticks with "`"
doubled; a string in single quotes with `\\` and `'` escaped. Backslash escapes hold unless
NO_BACKSLASH_ESCAPES is in sql_mode, so the ensure script sets `sql_mode = ''` for its own
session first (MY_SESSION).
"""

from __future__ import annotations


def _no_nul(text: str) -> str:
    if "\x00" in text:
        raise ValueError("a NUL character cannot be part of an SQL name or string")
    return text


def pg_ident(name: str) -> str:
    return '"' + _no_nul(name).replace('"', '""') + '"'


def pg_literal(value: str) -> str:
    return "E'" + _no_nul(value).replace("\\", "\\\\").replace("'", "''") + "'"


def my_ident(name: str) -> str:
    return "`" + _no_nul(name).replace("`", "``") + "`"


def my_literal(value: str) -> str:
    return "'" + _no_nul(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


# first statement of every MariaDB/MySQL session an ensure script opens: makes my_literal's
# backslash escapes mean what they say even when the user's settings add NO_BACKSLASH_ESCAPES
MY_SESSION = "SET SESSION sql_mode = '';"
