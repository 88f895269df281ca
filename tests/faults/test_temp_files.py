"""Issue 12 item 8: temp files a `kill -9` left beside generated files are removed by the next
write; those of a writer still running are kept (the pid in the name tells them apart)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from faults.harness import COUNTS
from nixenv.support import files


def test_the_next_write_sweeps_temp_files_of_killed_writers(tmp_path):
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    stale = tmp_path / f".flake.nix.nixenv-{dead}-k9x2ab.tmp"
    stale.write_text("half a flake")
    stale_dir = tmp_path / f".secrets.env.nixenv-{dead}-q1w2e3.tmp"
    stale_dir.mkdir()
    (stale_dir / "secrets.env").write_text("ciphertext")
    live = tmp_path / f".flake.nix.nixenv-{os.getpid()}-live00.tmp"
    live.write_text("being written")
    other = tmp_path / ".flake.nix.notours.tmp"
    other.write_text("not nixenv's")
    files.apply(tmp_path, files.plan(tmp_path, [files.GeneratedFile("flake.nix", "{ }\n")]))
    COUNTS["scenarios"] += 1
    assert not stale.exists() and not stale_dir.exists()
    assert live.exists() and other.exists()
    assert (tmp_path / "flake.nix").read_text().endswith("{ }\n")


def test_write_atomic_killed_midway_leaves_the_old_file(tmp_path):
    target = tmp_path / "flake.nix"
    target.write_text("old\n")
    code = ("import sys; from pathlib import Path; from nixenv.support.files import write_atomic\n"
            "write_atomic(Path(sys.argv[1]), 'new\\n' * 5_000_000)\n")
    lost = 0
    for delay in (0.05, 0.1, 0.2, 0.3):
        proc = subprocess.Popen([sys.executable, "-c", code, str(target)])
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        text = target.read_text()
        lost += text not in ("old\n", "new\n" * 5_000_000)
        target.write_text("old\n")
        COUNTS["scenarios"] += 1
    COUNTS["data_lost"] += lost
    assert lost == 0
    files.apply(tmp_path, [])  # nothing to write: no sweep either
    files.write_atomic(target, "new\n")
    files.sweep_temps(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flake.nix"]
