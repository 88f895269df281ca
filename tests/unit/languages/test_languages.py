"""Python/Node: nixpkgs attributes, the generated .envrc sections (syntax, hostile file names),
and `nixenv ide`'s edit of .vscode/settings.json (JSON with comments kept byte for byte)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from testkit import nixenv
from testkit.hostile import HOSTILE_SAMPLES, hostile_text
from nixenv.config.load import parse
from nixenv.direnv.envrc import envrc_files
from nixenv.support.errors import NixenvError
from nixenv.app.ide import VSCODE_KEY, VSCODE_SETTINGS, VSCODE_VALUE, write_ide
from nixenv.languages.registry import envrc_context, flake_packages
from nixenv.support.jsonc import JsoncError
from nixenv.support.jsonc import parse_jsonc as _parse
from nixenv.support.jsonc import set_jsonc_member as _set_member


def set_jsonc_member(text: str, key: str, value: str, *, where: str = VSCODE_SETTINGS) -> str:
    return _set_member(text, key, value, where=where)


def parse_jsonc(text: str, where: str = VSCODE_SETTINGS) -> dict:
    return _parse(text, where)

ROOT = Path("/p")


def config(python: dict | None = None, node: dict | None = None, packages: list[str] | None = None):
    data: dict = {"project": {"name": "t"}}
    if packages:
        data["packages"] = {"include": packages}
    if python is not None:
        data["python"] = python
    if node is not None:
        data["node"] = node
    return parse(tomli_w.dumps(data), root=ROOT)


# --------------------------------------------------------------------------- nixpkgs attributes


@pytest.mark.parametrize("manager, extra", [("uv", ["uv"]), ("poetry", ["poetry"]), ("pdm", ["pdm"]),
                                            ("pip", []), ("none", [])])
@pytest.mark.parametrize("version", ["3.11", "3.12", "3.13", "3.14"])
def test_python_attributes(version, manager, extra):
    refs = flake_packages(config(python={"version": version, "manager": manager}))
    assert [r.attr for r in refs] == ["python3" + version.split(".")[1], *extra]
    assert refs[0].asked_by == "python.version"


@pytest.mark.parametrize("manager", ["npm", "yarn", "pnpm"])
@pytest.mark.parametrize("version", ["22", "24", "26"])
def test_node_attribute_and_corepack_where_node_no_longer_bundles_it(version, manager):
    # nodejs_22/24 ship npm and corepack; from Node 25 on nixpkgs' standalone corepack provides
    # yarn and pnpm (pkgs/development/web/nodejs/nodejs.nix: bundlesCorepack)
    extra = ["corepack"] if manager != "npm" and version == "26" else []
    refs = flake_packages(config(node={"version": version, "manager": manager}))
    assert [r.attr for r in refs] == [f"nodejs_{version}", *extra]


def test_no_languages_no_packages_and_no_envrc_sections():
    cfg = config()
    assert flake_packages(cfg) == []
    envrc = envrc_files(cfg)[0].content
    assert "_nixenv_python" not in envrc and "_nixenv_node" not in envrc and "_nixenv_which" not in envrc


# --------------------------------------------------------------------------- .envrc sections


def test_inputs_per_manager():
    assert envrc_context(config(python={"manager": "uv"}))["python"].inputs == ("pyproject.toml", "uv.lock")
    assert envrc_context(config(python={"manager": "poetry"}))["python"].inputs == ("pyproject.toml", "poetry.lock")
    assert envrc_context(config(python={"manager": "pdm"}))["python"].inputs == ("pyproject.toml", "pdm.lock")
    assert envrc_context(config(python={"manager": "pip"}))["python"].inputs == ("requirements.txt",)
    pip = envrc_context(config(python={"manager": "pip", "requirements": ["a.txt", "b.txt", "a.txt"]}))
    assert pip["python"].inputs == ("a.txt", "b.txt")
    node = envrc_context(config(node={"manager": "pnpm"}))
    assert node["node"].inputs == ("package.json", "pnpm-lock.yaml") and node["node"].corepack
    assert not envrc_context(config(node={"manager": "npm"}))["node"].corepack
    both = envrc_context(config(python={"manager": "uv"}, node={"manager": "yarn"}))
    assert both["watch"] == ("pyproject.toml", "uv.lock", "package.json", "yarn.lock")


ALL = [(p, n) for p in (None, "uv", "poetry", "pdm", "pip", "none") for n in (None, "npm", "yarn", "pnpm")]


@pytest.mark.parametrize("py, node", ALL)
def test_every_combination_is_valid_bash(py, node):
    cfg = config(python={"manager": py} if py else None, node={"manager": node} if node else None)
    envrc = envrc_files(cfg)[0].text()
    result = subprocess.run(["bash", "-n"], input=envrc, text=True, capture_output=True)
    assert result.returncode == 0, result.stderr
    # the helpers are defined exactly once, and only when a language needs them
    assert envrc.count("_nixenv_which() {") == (1 if (py or node) else 0)
    watched = re.search(r"^_nixenv_watch (.*)$", envrc, re.M).group(1)  # the one watch list
    for name in envrc_context(cfg)["watch"]:
        assert name in watched
    if py:
        assert "pkgutil" not in envrc and "layout python" not in envrc


def test_changing_a_version_does_not_change_the_envrc():
    """Only flake.nix names the versions: a new one needs no new `direnv allow`."""
    def envrc(py: str, node: str) -> str:
        return envrc_files(config(python={"version": py, "manager": "uv"}, node={"version": node, "manager": "yarn"}))[0].text()

    assert envrc("3.12", "22") == envrc("3.14", "24")


def _inputs_from_envrc(envrc: str) -> list[str]:
    """Run the generated `local inputs=(...)` line in bash and read the words back exactly."""
    line = re.search(r"^  local inputs=\(.*\)$", envrc, re.M).group(0).replace("local ", "", 1)
    script = line + '\nprintf "%s\\0" "${inputs[@]}"\n'
    out = subprocess.run(["bash", "-c", script], capture_output=True, check=True).stdout
    return out.decode().split("\0")[:-1]


@settings(max_examples=60, deadline=None)
@given(st.lists(hostile_text.filter(lambda s: s and "\n" not in s and not s.startswith("/")), min_size=1, max_size=4))
def test_hostile_requirement_names_round_trip_through_bash(names):
    cfg = config(python={"manager": "pip", "requirements": names})
    assert _inputs_from_envrc(envrc_files(cfg)[0].text()) == list(dict.fromkeys(names))


def test_hostile_samples_round_trip():
    names = [s for s in HOSTILE_SAMPLES if s and "\n" not in s]
    cfg = config(python={"manager": "pip", "requirements": names})
    envrc = envrc_files(cfg)[0].text()
    assert _inputs_from_envrc(envrc) == list(dict.fromkeys(names))
    watch = re.search(r"^_nixenv_watch .*$", envrc, re.M).group(0)
    words = subprocess.run(["bash", "-c", '_nixenv_watch() { printf "%s\\0" "$@"; }\n' + watch],
                           capture_output=True, check=True).stdout.decode().split("\0")[:-1]
    expected = list(dict.fromkeys(names))
    assert words[-len(expected):] == expected and words[0] == "flake.nix"


# --------------------------------------------------------------------------- JSON with comments


def test_set_member_keeps_comments_and_other_settings():
    text = """// user settings
{
  /* editor */ "editor.tabSize": 2, // two
  "files.exclude": {"**/.git": true, "a//b": "/* not a comment */"},
  "python.defaultInterpreterPath": "/usr/bin/python3",
  "trailing": [1, 2,],
}
"""
    out = set_jsonc_member(text, VSCODE_KEY, VSCODE_VALUE)
    assert out == text.replace('"/usr/bin/python3"', json.dumps(VSCODE_VALUE))
    data = parse_jsonc(out)
    assert data["editor.tabSize"] == 2 and data["files.exclude"]["a//b"] == "/* not a comment */"
    assert set_jsonc_member(out, VSCODE_KEY, VSCODE_VALUE) == out


@pytest.mark.parametrize("text, expected", [
    ("", '{\n  "k": "v"\n}\n'),
    ("{}", '{\n  "k": "v"\n}'),
    ("{\r\n}\r\n", '{\r\n  "k": "v"\r\n}\r\n'),
    ('{"a": 1}', '{"a": 1,\n  "k": "v"}'),
    ('{\n    "a": 1, // c\n}\n', '{\n    "a": 1,\n    "k": "v", // c\n}\n'),
    ("{\n  // only a comment\n}", '{\n  // only a comment\n  "k": "v"\n}'),
    ('\ufeff{"a": 1}', '\ufeff{"a": 1,\n  "k": "v"}'),
])
def test_insertion(text, expected):
    assert set_jsonc_member(text, "k", "v") == expected


@pytest.mark.parametrize("text", ["[1, 2]", '{"a": 1', '{"a": }', "{/* open", '{"a": "no end}', "nope", '"str"'])
def test_refuses_what_is_not_a_jsonc_object(text):
    with pytest.raises(JsoncError):
        set_jsonc_member(text, "k", "v")


COMMENTS = st.sampled_from(["// a comment\n", "/* block */", "/* multi\nline */", "// {\"x\": 1,}\n", " ", "\n"])
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), hostile_text)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(hostile_text, inner, max_size=3)), max_leaves=6)


def _render_jsonc(obj: dict, draw_comment, trailing: bool) -> str:
    parts = ["{" + draw_comment()]
    items = list(obj.items())
    for index, (key, value) in enumerate(items):
        sep = "," if index < len(items) - 1 or trailing else ""
        parts.append(f"{draw_comment()}{json.dumps(key, ensure_ascii=False)}{draw_comment()}:"
                     f"{draw_comment()}{json.dumps(value, ensure_ascii=False)}{sep}{draw_comment()}\n")
    parts.append("}" + draw_comment())
    return "".join(parts)


@settings(max_examples=150, deadline=None)
@given(obj=st.dictionaries(hostile_text, json_values, max_size=5), data=st.data(),
       trailing=st.booleans(), value=hostile_text, with_key=st.booleans())
def test_property_everything_else_is_kept(obj, data, trailing, value, with_key):
    key = VSCODE_KEY
    if with_key:
        obj = {**obj, key: "old"}
    comments: list[str] = []

    def draw_comment() -> str:
        comment = data.draw(COMMENTS)
        comments.append(comment)
        return comment

    text = _render_jsonc(obj, draw_comment, trailing and bool(obj))
    out = set_jsonc_member(text, key, value)
    assert parse_jsonc(out) == {**obj, key: value}
    for comment in comments:
        if comment.strip():
            assert comment.strip() in out
    assert set_jsonc_member(out, key, value) == out  # idempotent


# --------------------------------------------------------------------------- nixenv ide


def _project(tmp_path: Path, toml: str = '[project]\nname = "t"\n[python]\nversion = "3.12"\n') -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "nixenv.toml").write_text(toml, encoding="utf-8")
    return tmp_path


def test_write_ide_creates_and_keeps(tmp_path):
    root = _project(tmp_path)
    cfg = parse((root / "nixenv.toml").read_text(), root=root)
    lines = write_ide(cfg)
    settings_file = root / ".vscode/settings.json"
    assert json.loads(settings_file.read_text()) == {VSCODE_KEY: VSCODE_VALUE}
    assert any(str(root / ".venv/bin/python") in line and "PyCharm" in line for line in lines)
    settings_file.write_text('{\n  // mine\n  "editor.rulers": [100],\n}\n')
    settings_file.chmod(0o600)
    write_ide(cfg)
    text = settings_file.read_text()
    assert "// mine" in text and parse_jsonc(text) == {"editor.rulers": [100], VSCODE_KEY: VSCODE_VALUE}
    assert settings_file.stat().st_mode & 0o777 == 0o600
    assert any("unchanged" in line for line in write_ide(cfg))


def test_write_ide_edits_through_a_symlink(tmp_path):
    root = _project(tmp_path / "proj")
    shared = tmp_path / "dotfiles" / "vscode.json"
    shared.parent.mkdir()
    shared.write_text('{"editor.tabSize": 4}')
    (root / ".vscode").mkdir()
    (root / ".vscode/settings.json").symlink_to(shared)
    write_ide(parse((root / "nixenv.toml").read_text(), root=root))
    assert (root / ".vscode/settings.json").is_symlink()
    assert parse_jsonc(shared.read_text()) == {"editor.tabSize": 4, VSCODE_KEY: VSCODE_VALUE}


def test_write_ide_refuses_and_leaves_the_file(tmp_path):
    root = _project(tmp_path)
    cfg = parse((root / "nixenv.toml").read_text(), root=root)
    settings_file = root / ".vscode/settings.json"
    settings_file.parent.mkdir()
    broken = '{ "editor.tabSize": 2, oops }'
    settings_file.write_text(broken)
    with pytest.raises(NixenvError, match="settings.json.*untouched"):
        write_ide(cfg)
    assert settings_file.read_text() == broken
    assert sorted(os.listdir(settings_file.parent)) == ["settings.json"]  # no temp file left


def test_write_ide_needs_python(tmp_path):
    root = _project(tmp_path, '[project]\nname = "t"\n')
    with pytest.raises(NixenvError, match=r"\[python\]"):
        write_ide(parse((root / "nixenv.toml").read_text(), root=root))


def test_cli_ide_keeps_an_unrelated_setting(tmp_path, home):
    root = _project(tmp_path / "my proj ü")
    (root / ".vscode").mkdir()
    (root / ".vscode/settings.json").write_text('{\n  // team settings\n  "editor.formatOnSave": true\n}\n')
    env = {**os.environ, "HOME": str(home)}
    result = nixenv("ide", cwd=root, env=env)
    text = (root / ".vscode/settings.json").read_text()
    assert "// team settings" in text
    assert parse_jsonc(text) == {"editor.formatOnSave": True, VSCODE_KEY: VSCODE_VALUE}
    assert f"{root}/.venv/bin/python" in result.stdout
    bad = nixenv("ide", cwd=_project(tmp_path / "nopy", '[project]\nname = "t"\n'), env=env, check=False)
    assert bad.returncode == 1 and "[python]" in bad.stderr and "Traceback" not in bad.stderr
