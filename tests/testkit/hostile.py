"""Hypothesis strategies for hostile names and values (shared by the test modules)."""

from __future__ import annotations

from hypothesis import strategies as st

# Pieces that break naive generators: quotes, $, ${, backslashes, newlines, tabs, unicode,
# leading dashes, Nix '' escapes, command substitution.
PIECES = list("\"'$`\\{}\n\t\r -;|&!#*?~=ü€😀") + ["${", "''", "'''", "${x}", "$(id)", "\\n", "--", "''${", "-e "]

# Any text without NUL (no environment variable, argv or Nix string can hold one).
hostile_text = st.lists(
    st.one_of(st.sampled_from(PIECES), st.characters(blacklist_categories=("Cs",), blacklist_characters="\0")),
    max_size=15,
).map("".join)

# What an environment variable set through the devshell can hold: nix print-dev-env rejects
# the C0 control characters other than tab, newline and CR (config validation says so).
env_value = hostile_text.filter(lambda s: not any(c < " " and c not in "\t\n\r" for c in s))

HOSTILE_SAMPLES = ['q"uote', "$HOME", "${x}", "back\\slash", "new\nline", "tab\there", "ünï€😀",
                   "-leading-dash", "''", "'''${}'''", "\\${", "$'x'", "--", "", "a=b #c"]
