"""A table given only by a dotted header has the header's line (issue 8, item 7)."""

from __future__ import annotations

import pytest

from nixenv.config.load import load
from nixenv.support.errors import ConfigError
from nixenv.support.tomlpos import key_lines


def test_the_implicit_parent_of_a_dotted_header_has_its_line():
    text = '[project]\nname = "p"\n\n[servces.web]\ncommand = "x"\n\n[[a.b.c]]\nx = 1\n'
    lines = key_lines(text)
    assert lines[("servces",)] == 4 and lines[("servces", "web")] == 4
    assert lines[("a",)] == 7 and lines[("a", "b")] == 7 and lines[("a", "b", "c", "0")] == 7


def test_an_explicit_header_later_keeps_the_first_place_the_table_appears():
    lines = key_lines('[x.y]\nk = 1\n[x]\nz = 2\n')
    assert lines[("x",)] == 1 and lines[("x", "z")] == 4


def test_the_unknown_table_error_names_the_line(tmp_path):
    (tmp_path / "nixenv.toml").write_text('[project]\nname = "p"\n\n[servces.web]\ncommand = "python -m http.server"\n')
    with pytest.raises(ConfigError) as raised:
        load(tmp_path)
    assert "nixenv.toml:4: servces:" in str(raised.value), str(raised.value)
