"""Properties: `$$`-escaped text interpolates back to itself; any value comes out of the written
nixenv.toml exactly (quotes, backslashes, newlines, unicode, `$`)."""

from __future__ import annotations

import tomllib

from hypothesis import given, settings, strategies as st

from nixenv.app.import_compose import import_compose
from nixenv.compose.interpolate import Lookup, interpolate
from nixenv.compose.load import load_project

text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=60)
pieces = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00"), max_size=8) | \
    st.sampled_from(["\n", "\t", '"', "'", "\\", "${", "$", "é", "日本", "🙂", '"""', "'''"])


@given(text)
def test_escaped_dollars_round_trip(value):
    assert interpolate(value.replace("$", "$$"), Lookup({"A": "x"})) == value


def yaml_double_quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


@settings(max_examples=60, deadline=None)
@given(st.lists(pieces, max_size=8).map("".join))
def test_values_come_out_of_the_written_toml_exactly(tmp_path_factory, value):
    root = tmp_path_factory.mktemp("p")
    (root / "compose.yaml").write_text(
        "services:\n  prop-svc:\n    build: .\n    command: run\n    environment:\n      VALUE: "
        + yaml_double_quoted(value.replace("$", "$$")) + "\n", encoding="utf-8")
    (root / "Dockerfile").write_text("FROM python:3\n")
    assert load_project([root / "compose.yaml"], environ={}).services["prop-svc"].environment["VALUE"] == value
    outcome = import_compose(root, dry_run=True, environ={})  # mapped, written with tomlkit, validated
    assert tomllib.loads(outcome.text)["services"]["prop-svc"]["env"]["VALUE"] == value
