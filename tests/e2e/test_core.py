"""End to end with the real nix 2.8 and direnv against the stand-in nixpkgs: what a user
(and a teammate without nixenv) does."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testkit import direnv_exec, nixenv, require, run, write_project
from testkit.hostile import HOSTILE_SAMPLES, env_value

PY = sys.executable  # the host interpreter, to read the environment back exactly


def dump_env(project: Path, names, env) -> dict:
    code = f"import os, json; print(json.dumps({{n: os.environ.get(n) for n in {list(names)!r}}}))"
    return json.loads(direnv_exec(project, PY, "-c", code, env=env).stdout)


def nix_spy(tmp_path: Path, env: dict) -> Path:
    """A `nix` first on PATH that logs each call, then runs the real nix: proves when nix runs."""
    real = shutil.which("nix")
    spy_dir = tmp_path / "spy"
    spy_dir.mkdir()
    log = tmp_path / "nix-calls.log"
    (spy_dir / "nix").write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {real} "$@"\n')
    (spy_dir / "nix").chmod(0o755)
    env["PATH"] = f"{spy_dir}:{env['PATH']}"
    log.touch()
    return log


def test_init_poetry_and_yarn_then_nix_develop(tmp_path, env, standin):
    require("nix", "git")
    project = tmp_path / "shop"
    project.mkdir()
    run(["git", "init", "-q"], cwd=project, env=env)
    (project / "pyproject.toml").write_text(
        '[tool.poetry]\nname = "shop"\nversion = "0.1.0"\n\n[tool.poetry.dependencies]\npython = "^3.12"\n')
    (project / "package.json").write_text(json.dumps({"name": "shop", "packageManager": "yarn@4.5.0"}))
    (project / "yarn.lock").write_text("")
    result = nixenv("init", cwd=project, env=env)
    assert "detected: python manager poetry: pyproject.toml has [tool.poetry]" in result.stdout
    assert "detected: node manager yarn: package.json packageManager = 'yarn@4.5.0'" in result.stdout
    import tomllib

    doc = tomllib.loads((project / "nixenv.toml").read_text())
    assert doc["python"] == {"version": "3.12", "manager": "poetry"}
    assert doc["node"]["manager"] == "yarn"
    assert {".direnv/", ".nixenv/"} <= set((project / ".gitignore").read_text().split())

    values = {"PLAIN": "x", "TRICKY": 'a "b" $HOME ${c} \\d\nline2\ttab ü -e'}
    doc["env"] = values
    (project / "nixenv.toml").write_text(tomli_w.dumps(doc))
    nixenv("generate", cwd=project, env=env)
    code = ("import os, json, shutil; print(json.dumps({'env': {n: os.environ.get(n) for n in ['PLAIN', 'TRICKY']},"
            " 'which': {t: shutil.which(t) for t in ['python3', 'poetry', 'node']}}))")
    out = run(["nix", "develop", project, "--override-input", "nixpkgs", f"path:{standin}", "-c", PY, "-c", code],
              cwd=project, env=env).stdout
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["env"] == values
    for tool, path in seen["which"].items():
        assert path and path.startswith("/nix/store/"), f"{tool} not from the devshell: {path}"


def test_direnv_loads_the_same_env_and_caches(tmp_path, env):
    values = {"GREETING": "hello", "TRICKY": 'q"uote $HOME ${x} back\\slash\nnew\tline ü'}
    project = write_project(tmp_path / "p", tomli_w.dumps({"project": {"name": "p"}, "packages": {"include": ["hello"]},
                                                           "env": values}), env=env)
    nixenv("generate", cwd=project, env=env)
    log = nix_spy(tmp_path, env)
    run(["direnv", "allow", project], cwd=project, env=env)
    env["TMPDIR"] = str(tmp_path)
    assert dump_env(project, [*values, "TMPDIR"], env) == {**values, "TMPDIR": str(tmp_path)}
    assert log.read_text().count(" print-dev-env ") == 1, "the first entry evaluates the flake"
    env["DIRENV_LOG_FORMAT"] = "direnv: %s"
    second = direnv_exec(project, "sh", "-c", "which true; printenv GREETING", env=env)
    assert second.stdout.splitlines() == [f"{_store_prefix(second.stdout)}/bin/true", "hello"]
    assert log.read_text().count(" print-dev-env ") == 1, "the second entry must come from the cache: nix ran again"
    assert "evaluating the devshell" not in second.stderr
    # editing a source file does not re-evaluate either
    (project / "app.py").write_text("print('hi')\n")
    run(["git", "add", "app.py"], cwd=project, env=env)
    direnv_exec(project, "true", env=env)
    assert log.read_text().count(" print-dev-env ") == 1


def _store_prefix(text: str) -> str:
    first = text.splitlines()[0]
    assert first.startswith("/nix/store/"), first
    return first.rsplit("/bin/", 1)[0]


def test_changed_input_reevaluates_and_broken_flake_falls_back(tmp_path, env):
    project = write_project(tmp_path / "p", '[project]\nname = "p"\n[env]\nV = "one"\n', env=env)
    nixenv("generate", cwd=project, env=env)
    log = nix_spy(tmp_path, env)
    run(["direnv", "allow", project], cwd=project, env=env)
    assert dump_env(project, ["V"], env) == {"V": "one"}
    (project / "nixenv.toml").write_text('[project]\nname = "p"\n[env]\nV = "two"\n')
    nixenv("generate", cwd=project, env=env)
    assert dump_env(project, ["V", "NIXENV_DID_FALLBACK"], env) == {"V": "two", "NIXENV_DID_FALLBACK": None}
    assert log.read_text().count(" print-dev-env ") == 2
    # the shell is a GC root (the profile's current generation); older generations are dropped
    cache = project / ".direnv" / "nixenv"
    links = sorted(p.name for p in cache.glob("devshell-profile-*-link"))
    assert links == ["devshell-profile-2-link"]
    roots = run(["nix-store", "--gc", "--print-roots"], cwd=project, env=env).stdout
    assert f"{cache}/devshell-profile-2-link -> " in roots

    flake = project / "flake.nix"
    flake.write_text(flake.read_text().replace('V = "two";', 'V = "three" BROKEN;'))
    env["DIRENV_LOG_FORMAT"] = "direnv: %s"
    broken = direnv_exec(project, PY, "-c", "import os; print(os.environ['V'], os.environ.get('NIXENV_DID_FALLBACK'))",
                         env=env)
    assert broken.stdout.strip() == "two 1"
    assert "EVALUATING THE DEVSHELL FAILED" in broken.stderr and "LAST GOOD ENVIRONMENT" in broken.stderr
    # once fixed, the next entry evaluates again and the fallback flag is gone
    nixenv("generate", "--force", cwd=project, env=env)
    assert dump_env(project, ["V", "NIXENV_DID_FALLBACK"], env) == {"V": "two", "NIXENV_DID_FALLBACK": None}


def test_teammate_with_only_nix_and_direnv(tmp_path, env, standin):
    """A clone, with no nixenv (nor this Python) on PATH, gets the shell from the committed files."""
    project = write_project(tmp_path / "p", '[project]\nname = "p"\n[env]\nTEAM = "yes"\n[scripts]\nhi = "echo hi from script"\n',
                            env=env)
    nixenv("generate", cwd=project, env=env)
    run(["git", "add", "-A"], cwd=project, env=env)
    run(["git", "commit", "-qm", "env"], cwd=project, env=env)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", project, clone], cwd=tmp_path, env=env)
    bare = {**env, "PATH": "/usr/bin:/bin"}
    assert shutil.which("nixenv", path=bare["PATH"]) is None
    run(["direnv", "allow", clone], cwd=clone, env=bare)
    out = direnv_exec(clone, "sh", "-c", 'printf "%s|" "$TEAM"; hi', env=bare).stdout
    assert out == "yes|hi from script\n"


def test_tmpdir_restored_and_unset_when_it_was_unset(tmp_path, env):
    project = write_project(tmp_path / "p", '[project]\nname = "p"\n', env=env)
    nixenv("generate", cwd=project, env=env)
    run(["direnv", "allow", project], cwd=project, env=env)
    env.pop("TMPDIR", None)
    seen = dump_env(project, ["TMPDIR", "NIX_BUILD_TOP", "NIXENV_ROOT", "NIXENV_PROJECT"], env)
    assert seen == {"TMPDIR": None, "NIX_BUILD_TOP": None, "NIXENV_ROOT": str(project), "NIXENV_PROJECT": "p"}
    # personal additions in .envrc.local load without re-allowing .envrc
    (project / ".envrc.local").write_text("export LOCAL_ONLY='mine'\n")
    assert dump_env(project, ["LOCAL_ONLY"], env) == {"LOCAL_ONLY": "mine"}


def test_run_and_shell_propagate_exit_codes(tmp_path, env):
    project = write_project(tmp_path / "p", '[project]\nname = "p"\n[scripts]\nfail = "echo failing; exit 7"\n'
                                          'greet = "printf \'%s\\n\' \\"hello $1\\""\n', env=env)
    nixenv("generate", cwd=project, env=env)
    failing = nixenv("run", "fail", cwd=project, env=env, check=False)
    assert failing.returncode == 7 and "failing" in failing.stdout
    greet = nixenv("run", "greet", "world", cwd=project, env=env)
    assert greet.stdout.strip().splitlines()[-1] == "hello world"
    assert nixenv("run", "--", "sh", "-c", "exit 3", cwd=project, env=env, check=False).returncode == 3
    shell = nixenv("shell", "--", "sh", "-c", "printf %s \"$NIXENV_PROJECT\"; exit 4", cwd=project, env=env, check=False)
    assert shell.returncode == 4 and shell.stdout.endswith("p")


def test_unknown_package_names_the_key(tmp_path, env):
    project = write_project(tmp_path / "p", '[project]\nname = "p"\n[packages]\ninclude = ["hello", "no_such_pkg"]\n', env=env)
    nixenv("generate", cwd=project, env=env)
    result = nixenv("run", "--", "true", cwd=project, env=env, check=False)
    assert result.returncode != 0
    assert "nixpkgs has no package `no_such_pkg` (asked for by packages.include[1] in nixenv.toml)" in result.stderr


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(env_value, min_size=1, max_size=4))
def test_hostile_values_round_trip_through_flake_envrc_and_shell(tmp_path_factory, env, values):
    values = values + HOSTILE_SAMPLES
    tmp = tmp_path_factory.mktemp("hostile")
    names = [f"V{i}" for i in range(len(values))]
    scripts = {f"show{i}": f"printf '%s' {_sh(v)}" for i, v in enumerate(values[:3])}
    project = write_project(tmp / "p", tomli_w.dumps({"project": {"name": "hostile"}, "env": dict(zip(names, values)),
                                                      "scripts": scripts}), env=env)
    nixenv("generate", cwd=project, env=env)
    run(["direnv", "allow", project], cwd=project, env=env)
    assert dump_env(project, names, env) == dict(zip(names, values))
    for i, value in enumerate(values[:3]):
        out = subprocess.run(["direnv", "exec", project, f"show{i}"], cwd=project, env=env, capture_output=True)
        assert out.returncode == 0, out.stderr
        assert out.stdout.decode() == value


def _sh(value: str) -> str:
    import shlex

    return shlex.quote(value)


def test_doctor_reports_and_fails_on_missing_pieces(tmp_path, env):
    project = write_project(tmp_path / "p", '[project]\nname = "p"\n', env=env)
    before = nixenv("doctor", cwd=project, env=env, check=False)
    assert before.returncode == 1
    assert "generated files  FAIL" in before.stdout and "run `nixenv generate`" in before.stdout
    nixenv("generate", cwd=project, env=env)
    run(["git", "add", "nixenv.toml"], cwd=project, env=env)
    run(["direnv", "allow", project], cwd=project, env=env)
    after = nixenv("doctor", cwd=project, env=env, check=False)
    assert after.returncode == 0, after.stdout
    for line in ("nix              ok", "direnv           ok", ".envrc allowed   ok", "generated files  ok",
                 "tracked by git   ok"):
        assert line in after.stdout


def test_an_evaluation_killed_midway_leaves_no_temp_file_after_the_next_one(tmp_path, env):
    """devshell.rc.PID (and its .f) of a killed evaluation are removed by the next evaluation."""
    project = write_project(tmp_path / "p", '[project]\nname = "p"\n', env=env)
    nixenv("generate", cwd=project, env=env)
    run(["direnv", "allow", project], cwd=project, env=env)
    run(["git", "add", "-A"], cwd=project, env=env)
    cache = project / ".direnv" / "nixenv"
    cache.mkdir(parents=True)
    dead = 4_000_000 + os.getpid() % 1000  # above pid_max: no such process
    for name in (f"devshell.rc.{dead}", f"devshell.rc.{dead}.f"):
        (cache / name).write_text("export HALF=written\n")
    direnv_exec(project, "true", env=env)
    assert not list(cache.glob(f"devshell.rc.{dead}*"))
    assert (cache / "devshell.rc").exists()
