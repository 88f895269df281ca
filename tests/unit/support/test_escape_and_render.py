"""Escaping filters and templates. Hostile strings must come out of Nix, the shell and YAML
exactly as written; every generated flake must parse."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testkit import require
from testkit.hostile import env_value, hostile_text
from nixenv.support import escape as render
from nixenv.config.load import RESERVED_ENV, parse
from nixenv.nix.flake import flake_files
from nixenv.direnv.envrc import envrc_files

HERE = Path(__file__).resolve().parents[2]  # tests/
GOLDEN = HERE / "golden"

def nix_eval_json(expr: str) -> object:
    require("nix-instantiate")
    result = subprocess.run(["nix-instantiate", "--eval", "--strict", "--json", "--expr", expr],
                            capture_output=True, text=True, env={**os.environ, "NIX_REMOTE": "dummy://"}
                            if os.geteuid() != 0 else None)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(hostile_text, min_size=1, max_size=10))
def test_nix_str_round_trips_through_nix(values):
    expr = "[ " + " ".join(render.nix_str(v) for v in values) + " ]"
    assert nix_eval_json(expr) == values


@settings(max_examples=30, deadline=None)
@given(st.lists(hostile_text.filter(bool), min_size=1, max_size=8))
def test_nix_attr_round_trips_as_attribute_names(names):
    names = list(dict.fromkeys(names))
    expr = "builtins.attrNames { " + " ".join(f"{render.nix_attr(n)} = 1;" for n in names) + " }"
    assert nix_eval_json(expr) == sorted(names, key=lambda s: s.encode())


def test_nix_attr_is_bare_only_when_safe():
    assert render.nix_attr("FOO_bar-1'") == "FOO_bar-1'"
    assert render.nix_attr("in") == '"in"'
    assert render.nix_attr("1abc") == '"1abc"'
    assert render.nix_attr("a b") == '"a b"'


@settings(max_examples=40, deadline=None)
@given(st.lists(hostile_text, min_size=1, max_size=10))
def test_sh_round_trips_through_bash(values):
    script = "printf '%s\\0' " + " ".join(render.sh(v) for v in values)
    out = subprocess.run(["bash", "-c", script], capture_output=True, check=True).stdout
    assert out.decode("utf-8", "surrogateescape").split("\0")[:-1] == values


@settings(max_examples=40, deadline=None)
@given(hostile_text)
def test_yaml_str_is_json(value):
    assert json.loads(render.yaml_str(value)) == value


def _config_text(name: str, env: dict[str, str], scripts: dict[str, str]) -> str:
    import tomli_w

    return tomli_w.dumps({"project": {"name": name}, "env": env, "scripts": scripts,
                          "packages": {"include": ["hello", "python312Packages.numpy"]}})


env_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True).filter(lambda n: n not in RESERVED_ENV)
script_names = st.from_regex(r"[A-Za-z0-9_+?=][A-Za-z0-9_+?=.-]{0,10}", fullmatch=True)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(env_names, env_value, max_size=5), st.dictionaries(script_names, hostile_text, max_size=3))
def test_every_generated_flake_parses_and_keeps_values(tmp_path_factory, env, scripts):
    cfg = parse(_config_text("demo", env, scripts), root=Path("/p"))
    flake = flake_files(cfg)[0].text()
    path = tmp_path_factory.mktemp("flake") / "flake.nix"
    path.write_text(flake)
    require("nix-instantiate")
    parsed = subprocess.run(["nix-instantiate", "--parse", str(path)], capture_output=True, text=True)
    assert parsed.returncode == 0, parsed.stderr
    envrc = envrc_files(cfg)[0].text()
    assert subprocess.run(["bash", "-n"], input=envrc, text=True).returncode == 0


def _golden_config() -> str:
    return '''
[project]
name = "golden"
nixpkgs = "github:NixOS/nixpkgs/nixos-25.05"
systems = ["x86_64-linux", "aarch64-darwin"]
dotenv = [".env", "config/dev env"]

[packages]
include = ["gnumake", "libpostal"]

[env]
GREETING = "hello \\"world\\" ${HOME} $USER"

[services.db]
command = "postgres"
port = 5432

[scripts]
hello = "echo hello"
'''


def test_golden_flake_and_envrc():
    """The generated files for a fixed config, byte for byte (UPDATE_GOLDEN=1 rewrites them)."""
    cfg = parse(_golden_config(), root=Path("/p"))
    for generated, name in ((flake_files(cfg)[0], "flake.nix"), (envrc_files(cfg)[0], "envrc")):
        golden = GOLDEN / name
        if os.environ.get("UPDATE_GOLDEN"):
            golden.write_text(generated.text())
        assert generated.text() == golden.read_text(), f"{name} differs from tests/golden/{name}"
