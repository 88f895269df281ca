"""Shared by the fault scenarios: a secrets project without nix, the real CLI in its own process
group, and the four counters the README reports (scenarios tried, data lost, plaintext found,
processes left). Every scenario adds to the counters and the tests assert the losses are zero."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from testkit import require

COUNTS: Counter[str] = Counter()  # scenarios, data_lost, plaintext_found, processes_left


@dataclass
class Project:
    root: Path
    env: dict[str, str]
    marker: str  # in the environment of every process we start: finds what is left behind
    values: dict[str, str] = field(default_factory=dict)

    def cli(self, *args: str, input: bytes | None = None, timeout: float = 120,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "nixenv", *args], cwd=self.root, env=env or self.env,
                              input=input, capture_output=True, timeout=timeout)

    def start(self, *args: str, input: bytes | None = None, env: dict[str, str] | None = None) -> subprocess.Popen:
        """The CLI in a process group of its own, as a shell runs a job (killpg = Ctrl-C / a closed terminal)."""
        proc = subprocess.Popen([sys.executable, "-m", "nixenv", *args], cwd=self.root, env=env or self.env,
                                stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        if input is not None:
            try:
                proc.stdin.write(input)  # under the 64 KiB a pipe holds: never blocks
                proc.stdin.close()
            except BrokenPipeError:
                pass
            proc.stdin = None
        return proc

    def decrypt(self) -> dict[str, str] | None:
        """The secrets file's content, or None when sops cannot read it (damaged)."""
        result = subprocess.run(["sops", "decrypt", "--input-type", "dotenv", "--output-type", "json", "secrets.env"],
                                cwd=self.root, env=dict(self.env, SOPS_DISABLE_VERSION_CHECK="1"),
                                capture_output=True, timeout=120)
        return json.loads(result.stdout) if result.returncode == 0 else None

    def left_processes(self, wait: float = 3.0) -> list[int]:
        """Processes (other than us) whose environment holds this project's marker."""
        deadline = time.monotonic() + wait
        while True:
            found = []
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit() or int(entry.name) == os.getpid():
                    continue
                try:
                    if self.marker.encode() in (entry / "environ").read_bytes():
                        status = (entry / "status").read_text()
                        if "\nState:\tZ" not in status:
                            found.append(int(entry.name))
                except OSError:
                    continue
            if not found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def kill_left(self) -> None:
        for pid in self.left_processes(wait=0):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def make_project(base: Path, values: dict[str, str]) -> Project:
    """A project with [secrets] and `values` stored, set up through nixenv's own functions
    (no `generate`: these scenarios need sops and age, not nix)."""
    require("sops", "age", "age-keygen", "git")
    from nixenv.config import edit as config_edit
    from nixenv.config import load as config
    from nixenv.secrets import sops as secrets_sops
    from nixenv.secrets import store

    home = base / "home"
    tmpdir = base / "tmpdir"
    root = base / "project"
    for d in (home, tmpdir, root):
        d.mkdir(parents=True, exist_ok=True)
    marker = f"NIXENV_FAULTS_MARKER={uuid.uuid4().hex}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIRENV_", "NIXENV_", "SOPS_", "VIRTUAL_ENV"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_CACHE_HOME=str(home / ".cache"),
               TMPDIR=str(tmpdir), SOPS_DISABLE_VERSION_CHECK="1", NIXENV_FAULTS_MARKER=marker.split("=", 1)[1])
    env.pop("XDG_RUNTIME_DIR", None)  # the edit's plaintext then goes to /dev/shm, which the scans cover
    key = home / ".config/sops/age/keys.txt"
    key.parent.mkdir(parents=True)
    subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True, env=env)
    pub = subprocess.run(["age-keygen", "-y", str(key)], check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run(["git", "init", "-q"], cwd=root, check=True, env=env)
    (root / "nixenv.toml").write_text('[project]\nname = "faults"\n\n[secrets]\nfile = "secrets.env"\n')
    config_edit.write_recipients(root / "nixenv.toml", "age", add=pub)
    cfg = config.load(root)
    store.write_sops_config(cfg)
    saved = {k: os.environ.get(k) for k in ("SOPS_AGE_KEY_FILE", "SOPS_DISABLE_VERSION_CHECK")}
    os.environ.update(SOPS_AGE_KEY_FILE=str(key), SOPS_DISABLE_VERSION_CHECK="1")
    try:
        text = secrets_sops.encrypt(values, root=root, file="secrets.env")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    (root / "secrets.env").write_text(text)
    return Project(root, env, marker.split("=", 1)[1], dict(values))


def files_holding(needles: list[str], *dirs: Path) -> list[Path]:
    """Every regular file under `dirs` whose bytes contain one of `needles` (plaintext found)."""
    found = []
    encoded = [n.encode() for n in needles]
    for top in dirs:
        for dirpath, _dirnames, filenames in os.walk(top):
            for name in filenames:
                path = Path(dirpath, name)
                try:
                    if path.is_symlink() or not path.is_file():
                        continue
                    data = path.read_bytes()
                except OSError:
                    continue
                if any(n in data for n in encoded):
                    found.append(path)
    return found


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".nixenv-" in p.name and p.name.endswith(".tmp"))
