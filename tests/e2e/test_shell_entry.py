"""Entering the project with the real direnv, nix, sops and keyctl (issue 13: `cd` never waits).

A warm entry with secrets starts no sops (a shim first on PATH records every sops run, then execs
the real one) and no process but `keyctl` besides direnv's own (strace); a changed secrets file,
a rewritten key or `nixenv secrets lock` means a real decryption; no secret value is ever in a
file. A changed flake loads the last good environment at once and rebuilds in the background;
[env] names equal to the .envrc's own variables are loaded; flake inputs are GC roots; a fresh
clone evaluates once.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest

from nixenv.secrets import keyring
from testkit import direnv_exec, files_holding, nixenv, require, run, write_project
from testkit.standin import make_standin

SECRET = "zq-secret-4471 'quoted' $HOME\nline two"


def _execs(trace: Path) -> list[tuple[str, str, str]]:
    """(pid, program, argv) of every successful execve in an strace -f log."""
    return [re.search(r'^(\d+) +execve\("([^"]*)", \[([^]]*)\]', line).groups()
            for line in trace.read_text().splitlines() if 'execve("' in line and "ENOENT" not in line]


def _traced_entry(project: Path, env: dict[str, str], *command: str) -> tuple[str, int]:
    """stdout of `direnv exec project command`, and how many sops processes it started (any sops:
    the devshell's comes first on PATH), counted from the kernel's side with strace."""
    trace = project.parent / "trace"
    result = run(["strace", "-f", "-e", "trace=execve", "-o", trace, "direnv", "exec", project, *command],
                 cwd=project, env=env)
    # one process per pid: a wrapper that execs the real sops is one run
    return result.stdout, len({pid for pid, program, _ in _execs(trace) if Path(program).name == "sops"})


@pytest.fixture
def secret_project(tmp_path, env):
    require("sops", "age", "age-keygen", "git", "direnv", "nix", "keyctl")
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    e = dict(env, TMPDIR=str(tmpdir))
    project = write_project(tmp_path / "shop", """
        [project]
        name = "shop"

        [env]
        PLAIN = "visible"

        [secrets]
        file = "secrets.env"
        """, env=e)
    nixenv("secrets", "init", "--yes", cwd=project, env=e)
    nixenv("secrets", "set", "TOKEN", cwd=project, env=e, input=SECRET)
    run(["direnv", "allow", project], cwd=project, env=e)
    yield project, e, tmpdir
    nixenv("secrets", "lock", cwd=project, env=e, check=False)


def test_warm_entry_runs_no_sops_and_every_change_decrypts_again(secret_project):
    require("strace")
    project, env, tmpdir = secret_project
    printenv = ("printenv", "TOKEN")

    assert _traced_entry(project, env, *printenv) == (SECRET + "\n", 1)
    for _ in range(3):  # warm: from the keyring, no sops
        assert _traced_entry(project, env, *printenv) == (SECRET + "\n", 0)
    assert [e.file for e in keyring.entries()].count(project / "secrets.env") == 1

    # a changed secrets file is decrypted again
    nixenv("secrets", "set", "TOKEN", cwd=project, env=env, input="second value")
    assert _traced_entry(project, env, *printenv) == ("second value\n", 1)
    assert _traced_entry(project, env, *printenv) == ("second value\n", 0)

    # a rewritten age key file (same content, new mtime: a rotation sops would see) decrypts again
    key = Path(env["XDG_CONFIG_HOME"]) / "sops/age/keys.txt"
    time.sleep(0.01)
    key.write_text(key.read_text())
    assert _traced_entry(project, env, *printenv) == ("second value\n", 1)
    assert _traced_entry(project, env, *printenv) == ("second value\n", 0)

    # another key source (SOPS_AGE_KEY) is another identity
    assert _traced_entry(project, dict(env, SOPS_AGE_KEY=key.read_text()), *printenv) == ("second value\n", 1)

    # `nixenv secrets lock` empties the cache at once
    result = nixenv("secrets", "lock", cwd=project, env=env)
    assert "forgot 1" in result.stdout
    assert project / "secrets.env" not in [e.file for e in keyring.entries()]
    assert _traced_entry(project, env, *printenv) == ("second value\n", 1)

    # no value in any file: project, HOME, TMPDIR (which stays empty)
    assert list(tmpdir.iterdir()) == []
    needles = [b"zq-secret-4471", b"second value"]
    assert files_holding([project, Path(env["HOME"])], needles) == []


def test_warm_entry_starts_only_keyctl(secret_project, tmp_path):
    """Besides direnv's own processes (exec, stdlib, its watch of .envrc, dump) and the command,
    a warm entry with secrets starts one process: keyctl. No `direnv watch` for the inputs."""
    require("strace")
    project, env, _ = secret_project
    direnv_exec(project, "true", env=env)
    direnv_exec(project, "true", env=env)
    trace = tmp_path / "trace"
    run(["strace", "-f", "-e", "trace=execve", "-o", trace, "direnv", "exec", project, "true"], cwd=project, env=env)
    names = sorted(Path(path).name + (" " + args.split(", ")[1].strip('"') if Path(path).name == "direnv" else "")
                   for _, path, args in _execs(trace))
    assert names == sorted(["direnv exec", "bash", "direnv stdlib", "direnv watch", "direnv dump",
                            "keyctl", "true"]), names


def test_names_equal_to_the_envrc_variables_are_loaded(tmp_path, env):
    """Every variable name the generated .envrc uses (its locals, direnv's source_env locals)
    set from [env] and from the secrets comes out exactly as written."""
    require("sops", "age", "git", "direnv", "nix", "keyctl")
    from nixenv.config.load import RESERVED_ENV

    project = write_project(tmp_path / "names", """
        [project]
        name = "names"

        [python]
        version = "3.12"

        [node]
        version = "22"

        [secrets]
        file = "secrets.env"
        """, env=env)
    (project / "package.json").write_text('{"name": "names", "version": "1.0.0"}\n')
    nixenv("secrets", "init", "--yes", cwd=project, env=env)
    # under a user's strict_env (set -euo pipefail in their direnvrc) too
    direnvrc = Path(env["XDG_CONFIG_HOME"]) / "direnv" / "direnvrc"
    direnvrc.parent.mkdir(parents=True)
    direnvrc.write_text("strict_env\n")
    envrc = (project / ".envrc").read_text()
    names = set()
    for line in re.findall(r"^\s*local (.*)$", envrc, re.M):
        names |= set(re.findall(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)(?==|\s|$)", line))
    names |= set(re.findall(r"^([A-Za-z_][A-Za-z0-9_]*)=", envrc, re.M))
    names |= {"REPLY", "rcpath", "rcpath_dir", "rcpath_base", "rcfile", "old_tmpdir", "nixenv_root", "nixenv_cache"}
    names -= RESERVED_ENV
    assert {"rc", "key", "tmp", "REPLY", "current", "payload", "file", "files", "venv", "node"} <= names
    toml = (project / "nixenv.toml").read_text()
    toml += "\n[env]\n" + "".join(f'{n} = "env {n}"\n' for n in sorted(names))
    (project / "nixenv.toml").write_text(toml)
    nixenv("generate", cwd=project, env=env)
    secret_names = ["file", "payload", "values", "key", "REPLY_SECRET", "cache"]
    for n in secret_names:
        nixenv("secrets", "set", n, cwd=project, env=env, input=f"secret {n}")
    run(["direnv", "allow", project], cwd=project, env=env)
    expected = {n: f"secret {n}" if n in secret_names else f"env {n}" for n in names | set(secret_names)}
    # whether the Python/Node sections ran their checks (on demand) or only applied their settings
    (project / ".envrc.local").write_text(
        'if [[ $(declare -f _nixenv_languages) == *_nixenv_on_demand* ]]; then export SECTIONS=settled; '
        'else export SECTIONS=checked; fi\n')
    sections = []
    for _ in range(3):  # cold; the installs' stamps recorded; warm (keyring, settled sections)
        out = direnv_exec(project, "env", "-0", env=env).stdout
        loaded = dict(item.split("=", 1) for item in out.split("\0") if item)
        assert {n: loaded.get(n) for n in expected} == expected
        sections.append(loaded.get("SECTIONS"))
    assert sections == ["checked", "checked", "settled"]
    nixenv("secrets", "lock", cwd=project, env=env)


def _slow_project(tmp_path: Path, env: dict[str, str]) -> tuple[Path, dict[str, str]]:
    """A project on a stand-in whose evaluation takes a few seconds."""
    require("git", "direnv", "nix")
    standin = make_standin(tmp_path / "slow-standin", eval_cost=8_000_000)
    # the default mode: not the tests' NIXENV_SYNC=1
    e = {k: v for k, v in env.items() if k != "NIXENV_SYNC"}
    e["NIXENV_NIX_ARGS"] = f"--override-input nixpkgs path:{standin}"
    project = write_project(tmp_path / "slow", """
        [project]
        name = "slow"

        [env]
        VALUE = "one"
        """, env=e)
    nixenv("generate", cwd=project, env=e)
    run(["direnv", "allow", project], cwd=project, env=e)
    assert direnv_exec(project, "printenv", "VALUE", env=e).stdout == "one\n"
    return project, e


def _set_value(project: Path, env: dict[str, str], old: str, new: str) -> None:
    toml = project / "nixenv.toml"
    toml.write_text(toml.read_text().replace(f'VALUE = "{old}"', f'VALUE = "{new}"'))
    nixenv("generate", cwd=project, env=env)


def _wait_for_status(project: Path, timeout: float = 120) -> str:
    status = project / ".direnv/nixenv/devshell.status"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = status.read_text().strip() if status.exists() else ""
        if done and not (project / ".direnv/nixenv/rebuild.lock").exists():
            return done
        time.sleep(0.1)
    raise AssertionError(f"the background rebuild did not finish in {timeout} s")


def test_changed_input_loads_the_last_good_environment_and_rebuilds_in_the_background(tmp_path, env):
    project, e = _slow_project(tmp_path, env)
    _set_value(project, e, "one", "two")
    started = time.monotonic()
    # (the functions exported to the detached rebuild are exported to nothing after it: .envrc.local,
    # sourced last, counts the exported ones)
    (project / ".envrc.local").write_text("export EXPORTED_FUNCTIONS=$(declare -F | grep -c -- '-fx ' || :)\n")
    result = direnv_exec(project, "sh", "-c", 'echo "$VALUE $NIXENV_DID_FALLBACK $EXPORTED_FUNCTIONS"',
                         env=dict(e, DIRENV_LOG_FORMAT="%s"))
    took = time.monotonic() - started
    assert result.stdout == "one 1 0\n"
    assert "rebuilt in the background" in result.stderr
    # the prompt came back while the rebuild was still running
    status = project / ".direnv/nixenv/devshell.status"
    assert (project / ".direnv/nixenv/rebuild.lock").exists() and not (status.exists() and status.read_text()), took
    # a second entry meanwhile starts no second rebuild
    direnv_exec(project, "true", env=e)
    assert _wait_for_status(project) == "ok"
    # the rebuild recorded the inputs' mtimes itself: the entry its status file reloads reads none
    assert (project / ".direnv/nixenv/matched/ok").read_text() == "1"
    log = (project / ".direnv/nixenv/rebuild.log").read_text()
    assert log.count("rebuilding the devshell in the background") == 1 and "rebuild ok" in log
    assert direnv_exec(project, "sh", "-c", 'echo "$VALUE ${NIXENV_DID_FALLBACK-}"', env=e).stdout == "two \n"

    # NIXENV_SYNC=1 waits for the evaluation
    _set_value(project, e, "two", "three")
    assert direnv_exec(project, "printenv", "VALUE", env=dict(e, NIXENV_SYNC="1")).stdout == "three\n"

    # a failed rebuild: the last good environment stays, the next entry shows the log's end
    flake = project / "flake.nix"
    flake.write_text(flake.read_text() + "\n this is not nix (\n")
    assert direnv_exec(project, "printenv", "VALUE", env=e).stdout == "three\n"
    assert _wait_for_status(project) == "failed"
    result = direnv_exec(project, "printenv", "VALUE", env=dict(e, DIRENV_LOG_FORMAT="%s"))
    assert result.stdout == "three\n"
    assert "REBUILDING THE DEVSHELL FAILED" in result.stderr and "rebuild.log" in result.stderr
    assert "rebuild failed" in result.stderr  # the log's last line, shown
    assert not (project / ".direnv/nixenv/rebuild.lock").exists(), "a failed rebuild is not retried on every entry"


def test_flake_inputs_are_gc_roots_and_a_fresh_clone_evaluates_once(tmp_path, env, standin):
    """nixpkgs given as a path: nix writes flake.lock on the first entry, which must not make
    the second entry evaluate again; the inputs' store paths are GC roots under .direnv."""
    require("git", "direnv", "nix")
    e = dict(env, NIXENV_NIX_ARGS="")
    project = write_project(tmp_path / "clone", f"""
        [project]
        name = "clone"
        nixpkgs = "path:{standin}"
        """, env=e)
    nixenv("generate", cwd=project, env=e)
    (project / "flake.lock").unlink(missing_ok=True)
    run(["direnv", "allow", project], cwd=project, env=e)
    direnv_exec(project, "true", env=e)
    assert (project / "flake.lock").exists()
    rc = project / ".direnv/nixenv/devshell.rc"
    before = rc.stat().st_mtime_ns, rc.stat().st_ino
    second = direnv_exec(project, "true", env=dict(e, DIRENV_LOG_FORMAT="%s"))
    assert "flake inputs changed" not in second.stderr
    assert (rc.stat().st_mtime_ns, rc.stat().st_ino) == before

    links = sorted((project / ".direnv/nixenv/flake-inputs").iterdir())
    assert links, "no GC root for the flake's inputs"
    targets = {os.path.realpath(link) for link in links}
    lock = (project / "flake.lock").read_text()
    nar = re.search(r'"narHash": "([^"]+)"', lock).group(1)
    source = run(["nix", "--extra-experimental-features", "nix-command flakes", "eval", "--raw", "--impure", "--expr",
                  f'(builtins.fetchTree {{ type = "path"; path = "{standin}"; narHash = "{nar}"; }}).outPath'],
                 cwd=project, env=e).stdout
    assert source in targets
    roots = run(["nix-store", "--query", "--roots", source], cwd=project, env=e).stdout
    assert str(project / ".direnv/nixenv/flake-inputs") in roots


def test_watch_list_is_direnvs_own(secret_project):
    """The cached DIRENV_WATCHES equals what `direnv watch` gives, and a touched input is seen."""
    project, env, _ = secret_project
    watches = 'printf %s "$DIRENV_WATCHES"'
    direnv_exec(project, "true", env=env)
    cached = direnv_exec(project, "sh", "-c", watches, env=env).stdout
    shutil.rmtree(project / ".direnv/nixenv/watch")
    asked = direnv_exec(project, "sh", "-c", watches, env=env).stdout
    assert cached == asked
    answer = (project / ".direnv/nixenv/watch/answer").stat().st_mtime_ns
    os.utime(project / "nixenv.toml", (time.time() + 5, time.time() + 5))
    changed = direnv_exec(project, "sh", "-c", watches, env=env).stdout
    assert changed != asked and (project / ".direnv/nixenv/watch/answer").stat().st_mtime_ns != answer


def test_a_warm_entry_reads_only_the_warm_part_and_a_touched_input_is_compared_once(secret_project):
    """The functions after the .envrc's `return` stay stubs on a warm entry (bash never parsed
    them); an input touched without a change is compared by content once, without evaluating,
    and the entries after it are warm again."""
    project, env, _ = secret_project
    (project / ".envrc.local").write_text(
        'if [[ $(declare -f _nixenv_build) == *_nixenv_on_demand* ]]; then export PART=warm; else export PART=loaded; fi\n')
    part = ("printenv", "PART")
    direnv_exec(project, "true", env=env)
    rc = project / ".direnv/nixenv/devshell.rc"
    evaluated = rc.stat().st_mtime_ns, rc.stat().st_ino
    assert direnv_exec(project, *part, env=env).stdout == "warm\n"

    flake = project / "flake.nix"
    flake.write_text(flake.read_text())  # a new mtime, the same content (a checkout, an editor's save)
    assert direnv_exec(project, *part, env=env).stdout == "loaded\n"  # compared: on demand
    assert direnv_exec(project, *part, env=env).stdout == "warm\n"
    assert direnv_exec(project, "printenv", "TOKEN", env=env).stdout == SECRET + "\n"
    assert (rc.stat().st_mtime_ns, rc.stat().st_ino) == evaluated  # never evaluated again

    # NIXENV_NIX_ARGS is part of the key: another value is a miss, whatever the mtimes say
    other = direnv_exec(project, *part, env=dict(env, NIXENV_NIX_ARGS=env["NIXENV_NIX_ARGS"] + " --impure",
                                                 NIXENV_SYNC="1", DIRENV_LOG_FORMAT="%s"))
    assert other.stdout == "loaded\n" and "evaluating the devshell" in other.stderr
