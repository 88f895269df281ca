"""Unit tests of the secrets helpers that need no sops: dotenv rules, key lookup paths,
the layout-preserving nixenv.toml edit, .sops.yaml rendering."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nixenv.config import edit as config_edit
from nixenv.config import load as config
from nixenv.secrets import store as secrets
from nixenv.secrets import dotenv as secrets_dotenv
from nixenv.secrets import keys as secrets_keys
from nixenv.support import tomledit as secrets_toml
from nixenv.support.errors import NixenvError

AGE_A = "age1" + "q" * 58
AGE_B = "age1" + "p" * 58
AGE_C = "age1" + "z" * 58

PIECES = list("\"'$`\\{}\n\t\r -;|&!#*?~=ü€😀") + ["${", "''", "${x}", "$(id)", "--", "-e ", "=", "# x"]
hostile_value = st.lists(
    st.one_of(st.sampled_from(PIECES), st.characters(blacklist_categories=("Cs",), blacklist_characters="\0")),
    max_size=20,
).map("".join).filter(lambda v: secrets_dotenv.value_problem(v) is None)
env_name = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True).filter(
    lambda k: secrets_dotenv.key_problem(k) is None)


# --------------------------------------------------------------------------- dotenv


def test_value_rules_name_the_reason_without_the_value():
    assert secrets_dotenv.value_problem('a b=c "d"\nline2 # x ü') is None
    assert secrets_dotenv.value_problem("") is None
    problem = secrets_dotenv.value_problem("C:\\new-secret-xyz")
    assert problem and "backslash followed by `n`" in problem and "secret-xyz" not in problem
    assert "NUL" in secrets_dotenv.value_problem("a\0b")


@pytest.mark.parametrize("key, fragment", [
    ("1ABC", "not a valid environment variable name"), ("A-B", "not a valid"), ("A B", "not a valid"),
    ("", "not a valid"), ("sops_mac", "reserves"), ("SOPS_X", "reserves"),
    ("TOKEN_unencrypted", "unencrypted"), ("PATH", "managed"), ("HOME", "managed"), ("DIRENV_DIR", "managed"),
    ("A=B", "not a valid"), ("A\nB", "not a valid"),
])
def test_bad_keys(key, fragment):
    assert fragment in secrets_dotenv.key_problem(key)


def test_good_keys():
    for key in ("TOKEN", "_x", "a1", "STRIPE_API_KEY"):
        assert secrets_dotenv.key_problem(key) is None


@given(st.dictionaries(env_name, hostile_value, max_size=6))
def test_encode_then_parse_like_sops_round_trips(values):
    assert secrets_dotenv.parse_sops(secrets_dotenv.encode_sops(values)) == values


def test_parse_sops_is_raw():
    text = 'A="quoted" # not a comment\nexport B=x\n#C=comment\nD=one\\ntwo\nE=\nF=a=b\r\n'
    assert secrets_dotenv.parse_sops(text) == {
        "A": '"quoted" # not a comment', "export B": "x", "D": "one\ntwo", "E": "", "F": "a=b\r"}
    with pytest.raises(ValueError, match="line 1"):
        secrets_dotenv.parse_sops("no equals sign\n")


def test_parse_conventional():
    text = (
        "# comment\n\nexport A=plain value  # trailing comment\nB = 'single $x \\n'\n"
        'C="double \\"q\\" \\\\ \\n next"\nD="multi\nline"\nE=\nF=a#b\n'
    )
    assert secrets_dotenv.parse_conventional(text) == {
        "A": "plain value", "B": "single $x \\n", "C": 'double "q" \\ \n next', "D": "multi\nline",
        "E": "", "F": "a#b"}
    with pytest.raises(ValueError, match="line 2"):
        secrets_dotenv.parse_conventional("A=1\nB='open\n")


ENC = "ENC[AES256_GCM,data:Oz2+,iv:Bx6eKJQxyv1TqMmJE+VSVUEKS4R6GrRY1WL9HxACK+M=,tag:ieBwoI0lOWJZXMTCXFlalw==,type:str]"
META = "sops_mac=" + ENC + "\nsops_version=3.11.0\nsops_unencrypted_suffix=_unencrypted\n"


def test_read_encrypted():
    info = secrets_dotenv.read_encrypted(f"#{ENC}\nA={ENC}\nB=\nC_unencrypted=clear\n{META}")
    assert info.names == ("A", "B", "C_unencrypted") and info.encrypted
    leaked = secrets_dotenv.read_encrypted(f"A={ENC}\nB=hunter2\n{META}")
    assert leaked.clear == ("B",) and not leaked.encrypted
    plain = secrets_dotenv.read_encrypted("A=1\n")
    assert not plain.has_metadata and not plain.encrypted
    assert not secrets_dotenv.read_encrypted(f"# plain comment\n{META}").encrypted


# --------------------------------------------------------------------------- key lookup


def test_default_key_path_linux_and_macos():
    env = {"HOME": "/home/u"}
    assert secrets_keys.default_key_path(env, "linux") == Path("/home/u/.config/sops/age/keys.txt")
    assert secrets_keys.default_key_path({**env, "XDG_CONFIG_HOME": "/x"}, "linux") == Path("/x/sops/age/keys.txt")
    assert secrets_keys.default_key_path(env, "darwin") == Path(
        "/home/u/Library/Application Support/sops/age/keys.txt")
    assert secrets_keys.default_key_path({**env, "XDG_CONFIG_HOME": "/x"}, "darwin") == Path("/x/sops/age/keys.txt")
    with pytest.raises(NixenvError, match="relative"):
        secrets_keys.default_key_path({**env, "XDG_CONFIG_HOME": "rel"}, "linux")


def test_recipient_kind():
    assert secrets.recipient_kind(AGE_A) == "age"
    assert secrets.recipient_kind("85D77543B3D624B63CEA9E6DBC17301B491B3F21") == "pgp"
    assert secrets.recipient_kind("arn:aws:kms:eu-west-1:123:key/abc") == "kms"
    with pytest.raises(NixenvError, match="not an age public key"):
        secrets.recipient_kind("age1short")


# --------------------------------------------------------------------------- nixenv.toml edit

LAYOUTS = {
    "inline": (f'[project]\nname = "x"\n\n[secrets]  # team\nage = ["{AGE_A}", "{AGE_B}"]  # keep me\n',),
    "multiline-comma": (f'[project]\nname = "x"\n[secrets]\nage = [\n    "{AGE_A}",  # alice\n    "{AGE_B}",  # bob\n]\n# tail\n',),
    "multiline-nocomma": (f'[project]\nname = "x"\n[secrets]\nage = [\n  "{AGE_A}", # alice\n  "{AGE_B}" # bob\n]\n',),
    "first-on-bracket-line": (f'[project]\nname = "x"\n[secrets]\nage = ["{AGE_A}",\n       "{AGE_B}"]\n',),
    "secrets-not-last": (f'[project]\nname = "x"\n[secrets]\nfile = "s.env"\nage = [\'{AGE_A}\', \'{AGE_B}\']\n\n[env]\nA = "1"\n',),
}


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_add_and_remove_keep_everything_else(name):
    (text,) = LAYOUTS[name]
    added = secrets_toml.edit_recipients(text, "age", add=AGE_C)
    assert tomllib.loads(added)["secrets"]["age"] == [AGE_A, AGE_B, AGE_C]
    # every original comment and line survives an addition
    for line in text.splitlines():
        if "#" in line:
            comment = line[line.index("#"):]
            assert comment in added
    for gone, kept in ((AGE_A, [AGE_B]), (AGE_B, [AGE_A])):
        removed = secrets_toml.edit_recipients(text, "age", remove=gone)
        assert tomllib.loads(removed)["secrets"]["age"] == kept
        assert removed.count("\n") >= text.count("\n") - 1
    # add then remove gives back the original text exactly for one-per-line layouts
    back = secrets_toml.edit_recipients(added, "age", remove=AGE_C)
    assert tomllib.loads(back) == tomllib.loads(text)
    if name.startswith("multiline-comma"):
        assert back == text


def test_add_creates_key_or_table():
    text = '[project]\nname = "x"  # mine\n'
    out = secrets_toml.edit_recipients(text, "age", add=AGE_A)
    assert out.startswith(text) and tomllib.loads(out)["secrets"] == {"age": [AGE_A]}
    text = '[project]\nname = "x"\n\n[secrets]\nfile = "s.env"  # here\n\n[env]\nA = "1"\n'
    out = secrets_toml.edit_recipients(text, "pgp", add="ABCDEF0123456789")
    assert tomllib.loads(out)["secrets"] == {"file": "s.env", "pgp": ["ABCDEF0123456789"]}
    assert "# here" in out and tomllib.loads(out)["env"] == {"A": "1"}
    text = '[project]\nname = "x"\n[secrets]\nage = []\n'
    assert tomllib.loads(secrets_toml.edit_recipients(text, "age", add=AGE_A))["secrets"]["age"] == [AGE_A]


def test_unsafe_edit_writes_nothing(tmp_path):
    text = f'secrets = {{ file = "age = [x.env", age = ["{AGE_A}"] }}\n[project]\nname = "x"\n'
    with pytest.raises(secrets_toml.TomlEditError, match="by hand"):
        secrets_toml.edit_recipients(text, "age", add=AGE_B)


def test_write_recipients_validates_and_keeps_mode(tmp_path):
    path = tmp_path / "nixenv.toml"
    path.write_text(f'# top comment\n[project]\nname = "x"\n[secrets]\nage = ["{AGE_A}"]\n')
    path.chmod(0o640)
    config_edit.write_recipients(path, "age", add=AGE_B)
    assert path.read_text().startswith("# top comment\n") and (path.stat().st_mode & 0o777) == 0o640
    assert config.load(tmp_path).secrets.age == (AGE_A, AGE_B)


@settings(max_examples=40)
@given(st.lists(st.sampled_from([AGE_A, AGE_B, AGE_C]), unique=True, min_size=1, max_size=3),
       st.booleans(), st.sampled_from(["", "  # c", ","]))
def test_edit_property(existing, multiline, trailer):
    if multiline:
        body = "age = [\n" + "".join(f'  "{r}",{trailer if trailer != "," else ""}\n' for r in existing) + "]\n"
    else:
        body = "age = [" + ", ".join(f'"{r}"' for r in existing) + "]\n"
    text = '[project]\nname = "x"\n[secrets]\n' + body
    for r in (AGE_A, AGE_B, AGE_C):
        if r in existing:
            out = secrets_toml.edit_recipients(text, "age", remove=r)
            assert tomllib.loads(out)["secrets"]["age"] == [e for e in existing if e != r]
        else:
            out = secrets_toml.edit_recipients(text, "age", add=r)
            assert tomllib.loads(out)["secrets"]["age"] == existing + [r]


# --------------------------------------------------------------------------- generated files


def _cfg(tmp_path, toml):
    return config.parse(toml, root=tmp_path)


def _simple_yaml_rule(text: str) -> dict:
    """The one creation rule of the generated .sops.yaml (its scalars are JSON strings, valid YAML)."""
    import json

    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert lines[0] == "creation_rules:" and lines[1].startswith("  - path_regex: ")
    rule: dict = {"path_regex": json.loads(lines[1].split(": ", 1)[1])}
    current = None
    for line in lines[2:]:
        if line.startswith("      - "):
            rule[current].append(json.loads(line[len("      - "):]))
        else:
            key, _, value = line.strip().partition(":")
            current = key
            rule[key] = json.loads(value) if value.strip() else []
    return rule


def test_sops_yaml(tmp_path):
    cfg = _cfg(tmp_path, f'[project]\nname = "x"\n[secrets]\nfile = "conf/my secrets (1).env"\n'
                         f'age = ["{AGE_A}", "{AGE_B}"]\npgp = ["ABCDEF0123456789"]\n'
                         f'kms = ["arn:aws:kms:eu-west-1:1:key/a", "arn:aws:kms:eu-west-1:1:key/b"]\n')
    (generated,) = secrets.sops_files(cfg)
    assert generated.path == ".sops.yaml" and generated.comment == "#"
    rule = _simple_yaml_rule(generated.text())
    assert re.fullmatch(rule["path_regex"], "conf/my secrets (1).env")
    assert not re.fullmatch(rule["path_regex"], "conf/my secrets (1)xenv")
    assert rule["age"] == [AGE_A, AGE_B] and rule["pgp"] == ["ABCDEF0123456789"]
    assert rule["kms"] == "arn:aws:kms:eu-west-1:1:key/a,arn:aws:kms:eu-west-1:1:key/b"
    assert secrets.sops_files(_cfg(tmp_path, '[project]\nname = "x"\n')) == []


def test_envrc_fragment_only_with_secrets(tmp_path):
    from nixenv.direnv.envrc import envrc_files
    from nixenv.support.render import render

    with_secrets = _cfg(tmp_path, "[project]\nname = \"x\"\n[secrets]\nfile = \"it's.env\"\n")
    text = envrc_files(with_secrets)[0].text()
    assert "SOPS_DISABLE_VERSION_CHECK=1 sops exec-env" in text
    watch_line = next(line for line in text.splitlines() if line.startswith("_nixenv_watch "))
    assert watch_line.endswith(" 'it'\"'\"'s.env'")  # watched in the .envrc's one watch_file call
    assert "direnv_load" not in text.replace("direnv_load is avoided", "")
    without = _cfg(tmp_path, '[project]\nname = "x"\n')
    for fragment in ("envrc/secrets.j2", "envrc/secrets-on-demand.j2", "envrc/keyring-prefetch.j2"):
        assert render(fragment, cfg=without, secrets=secrets.envrc_context(without)).strip() == ""
    assert "keyctl" not in envrc_files(without)[0].text()


def test_private_dir_is_private_in_ram_and_shredded():
    from nixenv.secrets.editor import _is_tmpfs, private_dir

    with private_dir() as (path, in_memory):
        assert (path.stat().st_mode & 0o777) == 0o700
        assert in_memory == _is_tmpfs(str(path))
        (path / "secrets.env").write_text("A=plain\n")
    assert not path.exists()
    if Path("/dev/shm").is_dir() and _is_tmpfs("/dev/shm"):
        assert in_memory, "a tmpfs exists here, so the editor's file must go there"


@pytest.mark.parametrize("file, ok", [("secrets.env", True), ("conf/it's a $x.env", True), ("s.txt", False),
                                      (".env", False), ("a/.env", False), ("../s.env", False)])
def test_secrets_file_must_be_a_dotenv_path_inside_the_project(tmp_path, file, ok):
    toml = f'[project]\nname = "x"\n[secrets]\nfile = {secrets_toml._toml_str(file)}\n'
    if ok:
        assert _cfg(tmp_path, toml).secrets.file == file
    else:
        with pytest.raises(config.ConfigError, match="ending in `.env`"):
            _cfg(tmp_path, toml)
