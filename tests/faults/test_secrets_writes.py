"""Issue 12 item 1: a failing or interrupted `secrets set/unset/rotate/add-recipient` never
damages secrets.env. sops rewrites a file in place (O_TRUNC, then write), so a full disk or a
signal in between used to leave a truncated file: every secret lost. nixenv now has sops work
on a copy and renames it over the file (nixenv/secrets/sops.py `updating`).

Checked with the real sops: after each scenario the file decrypts to exactly the old or the
new content, no process is left, and the next write sweeps what a SIGKILL left behind."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time

import pytest

from faults.harness import COUNTS, make_project, leftovers


def _small_tmpfs(path, size: str) -> None:
    if os.geteuid() != 0:
        pytest.fail("the full-disk scenarios mount a small tmpfs: run them as root (or in `unshare -rm`)",
                    pytrace=False)
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)


def _free_bytes(path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def test_full_disk_never_damages_the_file(tmp_path):
    root = tmp_path / "project"
    _small_tmpfs(root, "3m")
    try:
        rng = random.Random(12)
        values = {"A": "alpha-zq", "BIG": "".join(rng.choice("abcdef0123456789") for _ in range(300_000))}
        project = make_project(tmp_path, values)
        size = (root / "secrets.env").stat().st_size
        filler = root / "filler"
        with open(filler, "wb") as handle:  # fill the filesystem to the last byte
            try:
                while True:
                    handle.write(b"\0" * 65536)
                    handle.flush()
            except OSError:
                pass
        full = filler.stat().st_size
        damaged, tried, failed = [], 0, 0
        big_new = "".join(rng.choice("ghijkl") for _ in range(200_000))
        for free in (0, 4096, 65536, size // 2, size + 8192, 3 * size):
            for op in (("set", "BIG4"), ("unset", "A"), ("rotate",), ("set", "A")):
                os.truncate(filler, max(0, full - free))
                old = project.decrypt()
                if old is None:  # destroyed by the previous scenario (counted there)
                    break
                stdin = big_new.encode() if op[0] == "set" else None
                result = project.cli("secrets", *op, input=stdin)
                tried += 1
                after = project.decrypt()
                expected_new = dict(old)
                if op[0] == "set":
                    expected_new[op[1]] = big_new
                elif op[0] == "unset":
                    expected_new.pop(op[1])
                ok = after == (expected_new if result.returncode == 0 else old)
                if not ok:
                    damaged.append((free, op, result.returncode, after is None))
                stderr = result.stderr.decode()
                assert "Traceback" not in stderr, stderr
                if result.returncode != 0:
                    failed += 1
                    assert "unchanged" in stderr or "space" in stderr, stderr
                assert leftovers(root) == [], (free, op)
                if op[0] == "unset" and result.returncode == 0:  # put A back for the next round
                    os.truncate(filler, 0)
                    assert project.cli("secrets", "set", "A", input=b"alpha-zq").returncode == 0
                    full = full  # the filler is re-grown below
                    with open(filler, "ab") as handle:
                        try:
                            while True:
                                handle.write(b"\0" * 65536)
                                handle.flush()
                        except OSError:
                            pass
                    full = filler.stat().st_size
        COUNTS["scenarios"] += tried
        COUNTS["data_lost"] += len(damaged)
        assert failed > 0, "the filesystem was never full enough to make a write fail: the test tests nothing"
        assert damaged == []
        assert _free_bytes(root) >= 0
    finally:
        subprocess.run(["umount", "-l", str(root)], check=False)


def _bulky_values(rng: random.Random, count: int = 160, size: int = 16_000) -> dict[str, str]:
    return {f"K{i:03d}": "".join(rng.choice("abcdefghij") for _ in range(size)) for i in range(count)}


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_signals_during_set_unset_rotate_never_damage_the_file(tmp_path, sig):
    rng = random.Random(int(sig))
    project = make_project(tmp_path, _bulky_values(rng))
    durations = {}
    for op, stdin in ((("set", "K000"), b"first"), (("unset", "K001"), None), (("rotate",), None)):
        start = time.monotonic()
        result = project.cli("secrets", *op, input=stdin)
        assert result.returncode == 0, result.stderr.decode()
        durations[op[0]] = time.monotonic() - start
    current = project.decrypt()
    damaged, tried, killed, left = [], 0, 0, []
    for run in range(12):
        for op in ("set", "unset", "rotate"):
            key = rng.choice(sorted(current))
            args, stdin, expected = ("rotate",), None, dict(current)
            if op == "set":
                value = f"new-{run}-" + "x" * rng.randrange(1, 40_000)
                args, stdin, expected = ("set", key), value.encode(), {**current, key: value}
            elif op == "unset":
                args, expected = ("unset", key), {k: v for k, v in current.items() if k != key}
            proc = project.start("secrets", *args, input=stdin)
            # sops writes at the end of its run: most kills aim there, some anywhere
            share = rng.uniform(0.75, 1.0) if rng.random() < 0.7 else rng.uniform(0.02, 1.0)
            time.sleep(durations[op] * share)
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
            proc.communicate(timeout=60)
            tried += 1
            killed += proc.returncode != 0
            left += project.left_processes()
            project.kill_left()
            after = project.decrypt()
            if after not in (current, expected):
                damaged.append((op, proc.returncode, after is None))
            current = after if after is not None else current
    COUNTS["scenarios"] += tried
    COUNTS["data_lost"] += len(damaged)
    COUNTS["processes_left"] += len(left)
    assert killed >= tried // 3, f"only {killed} of {tried} runs were interrupted: the delays miss the writes"
    assert damaged == [] and left == []
    # what a SIGKILL left beside the file goes at the next write
    assert project.cli("secrets", "set", "AFTER", input=b"v").returncode == 0
    assert leftovers(project.root) == []


def test_recipient_changes_are_atomic(tmp_path):
    """add-recipient / remove-recipient (updatekeys, rotate) write through the same copy: a
    SIGKILL at a random moment leaves the old or the new file, both readable by the caller."""
    rng = random.Random(3)
    project = make_project(tmp_path, _bulky_values(rng, count=80))
    other = subprocess.run(["age-keygen"], capture_output=True, text=True, check=True).stdout
    other_pub = next(line.split(": ")[1] for line in other.splitlines() if "public key" in line)
    start = time.monotonic()
    assert project.cli("secrets", "add-recipient", other_pub).returncode == 0
    duration = time.monotonic() - start
    original = project.decrypt()
    damaged, tried = [], 0
    for run in range(8):
        present = other_pub in (project.root / "nixenv.toml").read_text()
        args = ("remove-recipient" if present else "add-recipient", other_pub)
        proc = project.start("secrets", *args)
        time.sleep(rng.uniform(0.02, duration * 1.1))
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate(timeout=60)
        tried += 1
        project.kill_left()
        if project.decrypt() != original:
            damaged.append(args)
    COUNTS["scenarios"] += tried
    COUNTS["data_lost"] += len(damaged)
    assert damaged == []
