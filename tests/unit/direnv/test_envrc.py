"""The generated .envrc's two parts: what a warm entry reads, and what it loads on demand."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from nixenv.config.load import parse
from nixenv.direnv.envrc import FUNCTION_DEFINITION, ON_DEMAND_MARKER, envrc_files
from testkit import envrc_function

FULL = """
[project]
name = "full"

[python]
version = "3.12"

[node]
version = "22"
manager = "pnpm"

[secrets]
file = "secrets.env"
"""
CORE = '[project]\nname = "core"\n'
STUB = re.compile(r'^(_nixenv_[a-z_]+)\(\) \{ _nixenv_on_demand && \1 "\$@"; \}$', re.M)


def _envrc(toml: str) -> str:
    return envrc_files(parse(toml, root=Path("/p")))[0].text()


def _parts(text: str) -> tuple[str, str]:
    head, tail = text.split("\n" + ON_DEMAND_MARKER + "\n")
    return head, tail


@pytest.mark.parametrize("toml", [FULL, CORE], ids=["python-node-secrets", "core"])
def test_every_function_after_the_return_that_the_warm_part_calls_has_a_stub(toml):
    head, tail = _parts(_envrc(toml))
    on_demand = FUNCTION_DEFINITION.findall(tail)
    stubs = STUB.findall(head)
    assert on_demand and set(stubs) <= set(on_demand)
    code = "\n".join(line for line in head.splitlines() if not line.lstrip().startswith("#") and not STUB.match(line))
    called = {name for name in on_demand if re.search(rf"\b{name}\b", code)}
    assert called and called <= set(stubs)
    defined_in_head = [name for name in FUNCTION_DEFINITION.findall(head) if name not in stubs]
    assert not set(defined_in_head) & set(on_demand)
    # the warm part ends with the return, the marker follows it at once
    assert head.rstrip("\n").splitlines()[-1].startswith("return 0")


def _bash(script: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=30)


def _loader_and_stubs(head: str) -> str:
    start = head.index("_nixenv_read() {")
    end = head.index("\n", head.rindex('"$@"; }'))
    return head[start:end]


def test_a_stub_loads_the_real_functions_once_and_a_missing_one_does_not_loop(tmp_path):
    text = _envrc(FULL)
    (tmp_path / ".envrc").write_text(text)
    head, _ = _parts(text)
    script = f"""
export NIXENV_ROOT=$PWD
{_loader_and_stubs(head)}
declare -f _nixenv_build | grep -q _nixenv_on_demand && echo stub-before
_nixenv_fnv 'abc' >/dev/null; declare -f _nixenv_build | grep -q _nixenv_on_demand || echo loaded
_nixenv_gone() {{ _nixenv_on_demand && _nixenv_gone "$@"; }}
_nixenv_gone; echo "gone: $?"
"""
    result = _bash(script, tmp_path)
    assert result.stdout.split("\n")[:3] == ["stub-before", "loaded", "gone: 1"], result.stderr
    # without the marker (a hand-cut file) the stub fails, once, instead of looping
    (tmp_path / ".envrc").write_text(head)
    result = _bash(script, tmp_path)
    assert "loaded" not in result.stdout and "gone: 1" in result.stdout


def test_an_unchanged_mtime_is_trusted_only_when_older_than_the_record(tmp_path):
    head, tail = _parts(_envrc(CORE))
    functions = "".join(envrc_function(part, name) for part, name in (
        (head, "_nixenv_mtimes_same"), (tail, "_nixenv_record_begin"), (tail, "_nixenv_record_end")))
    record = functions + "_nixenv_record_begin rec a b && _nixenv_record_end rec 1"
    (tmp_path / "a").write_text("one")
    old = time.time() - 60
    os.utime(tmp_path / "a", (old, old))

    def same() -> bool:
        return _bash(functions + "_nixenv_mtimes_same rec a b", tmp_path).returncode == 0

    assert _bash(record, tmp_path).returncode == 0 and not (tmp_path / "rec.lock").exists()
    assert same()
    (tmp_path / "a").write_text("two")  # a new mtime
    assert not same()
    os.utime(tmp_path / "a", (old, old))  # the recorded mtime again (the one case taken on trust)
    assert same()
    (tmp_path / "b").write_text("")  # a file that did not exist
    assert not same()
    (tmp_path / "b").unlink()
    # written in the tick of the record (here: a mtime not older than rec/now): never trusted
    now = (tmp_path / "rec" / "now").stat().st_mtime_ns
    os.utime(tmp_path / "a", ns=(now, now))
    assert _bash(record, tmp_path).returncode == 0
    os.utime(tmp_path / "rec" / "now", ns=(now, now))
    assert not same()
    (tmp_path / "a").unlink()
    assert not same()


def test_one_shell_records_at_a_time_and_a_record_being_made_is_not_trusted(tmp_path):
    head, tail = _parts(_envrc(CORE))
    functions = "".join(envrc_function(part, name) for part, name in (
        (head, "_nixenv_mtimes_same"), (tail, "_nixenv_record_begin"), (tail, "_nixenv_record_end")))
    (tmp_path / "a").write_text("one")
    old = time.time() - 60
    os.utime(tmp_path / "a", (old, old))
    assert _bash(functions + "_nixenv_record_begin rec a && _nixenv_record_end rec 1", tmp_path).returncode == 0
    # another shell (a live process) is recording: this one records nothing, and the record it is
    # making (ok emptied first) is not trusted meanwhile
    other = subprocess.Popen(["sleep", "600"])
    try:
        (tmp_path / "rec.lock").write_text(f"{other.pid}\n")
        (tmp_path / "rec" / "ok").write_text("")
        assert _bash(functions + "_nixenv_record_begin rec a", tmp_path).returncode == 1
        assert _bash(functions + "_nixenv_mtimes_same rec a", tmp_path).returncode == 1
        assert (tmp_path / "rec.lock").read_text() == f"{other.pid}\n"
    finally:
        other.kill()
        other.wait()
    # the lock of a shell that died is taken over, and released at the end
    result = _bash(functions + "_nixenv_record_begin rec a && _nixenv_record_end rec 1 && _nixenv_mtimes_same rec a",
                   tmp_path)
    assert result.returncode == 0 and not (tmp_path / "rec.lock").exists()
    # a record whose check failed is not trusted
    result = _bash(functions + "_nixenv_record_begin rec a && _nixenv_record_end rec 0; _nixenv_mtimes_same rec a",
                   tmp_path)
    assert result.returncode == 1
