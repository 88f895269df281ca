"""Issue 12 item 2: no plaintext survives any signal to `nixenv secrets edit`.

`sops edit` left every secret in clear in /dev/shm when the terminal closed (SIGHUP to the
process group) or on `kill -9`. nixenv now runs the editor itself on a private directory it
shreds in a finally, on SIGHUP/SIGTERM, and through a guard process in its own session after
SIGKILL (nixenv/secrets/editor.py). The editor here appends a secret, then sleeps; the
scenarios signal the process group or one process at that moment, then search /dev/shm,
TMPDIR, the project and HOME for any secret value, byte for byte."""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

import pytest

from faults.harness import COUNTS, files_holding, make_project

SCENARIOS = [  # (who gets the signal, signal)
    ("group", signal.SIGHUP), ("group", signal.SIGKILL), ("group", signal.SIGTERM), ("group", signal.SIGINT),
    ("nixenv", signal.SIGKILL), ("nixenv", signal.SIGTERM), ("nixenv", signal.SIGHUP), ("editor", signal.SIGKILL),
]


def _editor(base: Path, secret: str) -> tuple[Path, Path]:
    started = base / "editor-started"
    script = base / "editor.sh"
    script.write_text(f'#!/bin/sh\nprintf "NEW_ONE=%s\\n" "$(cat {base / "new-value"})" >> "$1"\n'
                      f'echo "$1" > {started}\nexec sleep 60\n')
    (base / "new-value").write_text(secret)  # outside every scanned directory
    script.chmod(0o755)
    return script, started


def _pids_of(pattern: str) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().replace(b"\0", b" ").startswith(pattern.encode()):
                    out.append(int(entry.name))
            except OSError:
                pass
    return out


def _scan_dirs(project) -> list[Path]:
    return [Path("/dev/shm"), Path(project.env["TMPDIR"]), project.root, Path(project.env["HOME"])]


@pytest.mark.parametrize("who, sig", SCENARIOS, ids=[f"{w}-{s.name}" for w, s in SCENARIOS])
def test_no_plaintext_after_a_signal_to_edit(tmp_path, who, sig):
    secrets = {"TOKEN": f"zq-token-{uuid.uuid4().hex}", "DB_URL": f"postgres://u:zq-{uuid.uuid4().hex}@h/db"}
    project = make_project(tmp_path, secrets)
    new_value = f"zq-new-{uuid.uuid4().hex}"
    needles = [*secrets.values(), new_value]
    before = project.root.joinpath("secrets.env").read_bytes()
    script, started = _editor(tmp_path, new_value)
    proc = project.start("secrets", "edit", env=dict(project.env, EDITOR=str(script)))
    deadline = time.monotonic() + 30
    while not started.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the editor never started"
        time.sleep(0.02)
    plain = Path(started.read_text().strip())
    assert files_holding(needles, plain.parent), "the scan must see the plaintext while the editor runs"
    editor_pids = [p for p in _pids_of("sleep 60") if project.marker.encode() in Path(f"/proc/{p}/environ").read_bytes()]
    if who == "group":
        os.killpg(proc.pid, sig)
    elif who == "nixenv":
        os.kill(proc.pid, sig)
    else:
        for pid in editor_pids:
            os.kill(pid, sig)
    proc.wait(timeout=30)  # not communicate(): an editor that outlives nixenv holds its stdout
    found: list[Path] = []
    deadline = time.monotonic() + 3  # the guard shreds within milliseconds of nixenv's death
    while time.monotonic() < deadline:
        found = files_holding(needles, *_scan_dirs(project))
        if not found:
            break
        time.sleep(0.05)
    left = [p for p in project.left_processes(wait=2) if p not in editor_pids]
    project.kill_left()
    proc.communicate(timeout=30)
    COUNTS["scenarios"] += 1
    COUNTS["plaintext_found"] += len(found)
    COUNTS["processes_left"] += len(left)
    COUNTS["data_lost"] += project.decrypt() != secrets
    assert found == [], f"plaintext left in {found}"
    assert left == [], "processes left behind (the guard must end once it has shredded)"
    assert project.root.joinpath("secrets.env").read_bytes() == before, "an interrupted edit must save nothing"
    if who != "nixenv" or sig != signal.SIGKILL:
        assert proc.returncode != 0


def test_the_next_edit_sweeps_what_crashed_runs_left(tmp_path):
    """Leftovers of a crash (a dead pid's `nixenv-edit-*`, and the `nixenv-sops-*` of nixenv
    before this fix) are shredded by the next `secrets edit`; a live run's directory is kept."""
    secret = f"zq-old-{uuid.uuid4().hex}"
    project = make_project(tmp_path, {"TOKEN": secret})
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    made = []
    for name in (f"nixenv-edit-{dead}-abc123", "nixenv-sops-xyz789", f"nixenv-edit-{os.getpid()}-live01"):
        d = Path("/dev/shm", name)
        d.mkdir(mode=0o700)
        (d / "secrets.env").write_text(f"TOKEN={secret}\n")
        made.append(d)
    try:
        result = project.cli("secrets", "edit", env=dict(project.env, EDITOR="true"))
        assert result.returncode == 0, result.stderr
        assert not made[0].exists() and not made[1].exists()
        assert made[2].exists(), "the directory of a running edit (live pid) must be kept"
        COUNTS["scenarios"] += 1
        found = files_holding([secret], *_scan_dirs(project))
        assert found == [made[2] / "secrets.env"]
    finally:
        import shutil

        for d in made:
            shutil.rmtree(d, ignore_errors=True)


def test_edit_saves_through_the_private_copy(tmp_path):
    project = make_project(tmp_path, {"TOKEN": "zq-kept"})
    script = tmp_path / "add.sh"
    script.write_text('#!/bin/sh\nprintf "ADDED=zq-added\\n" >> "$1"\n')
    script.chmod(0o755)
    result = project.cli("secrets", "edit", env=dict(project.env, EDITOR=str(script)))
    assert result.returncode == 0 and b"saved" in result.stdout, result.stderr
    assert project.decrypt() == {"TOKEN": "zq-kept", "ADDED": "zq-added"}
    bad = tmp_path / "bad.sh"
    bad.write_text('#!/bin/sh\nprintf "no equals sign\\n" >> "$1"\n')
    bad.chmod(0o755)
    result = project.cli("secrets", "edit", env=dict(project.env, EDITOR=str(bad)))
    assert result.returncode == 1 and b"nothing was saved" in result.stderr and b"zq-" not in result.stderr
    assert project.decrypt() == {"TOKEN": "zq-kept", "ADDED": "zq-added"}
    assert files_holding(["zq-kept", "zq-added"], *_scan_dirs(project)) == []
