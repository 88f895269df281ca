"""A real stack through `nixenv services`: presets (Debian's postgresql-15 and redis-server),
one-shot tasks, per-project ports, exports, `shell`, `reset`, and what must hold when things go
wrong (kill -9 of the scanner or of one supervisor, an unreadable nixenv.toml), with the real s6.

nixenv runs "inside the project's devshell" (NIXENV_ROOT), with Debian's PostgreSQL binaries on
PATH as the devshell would have nixpkgs' postgresql: the scanner then starts directly. As root
the servers run as `nobody`; the project's state lives under the `state_home` fixture.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from testkit import require, wait_for

PG_BIN = "/usr/lib/postgresql/15/bin"


class Stack:
    def __init__(self, root: Path, state_home: Path):
        self.root, self.state_home = root, state_home
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("NIXENV_", "DIRENV_", "PG"))}
        self.env.update(NIXENV_ROOT=str(root), NIXENV_STATE_HOME=str(state_home),
                        PATH=f"{PG_BIN}:{os.environ['PATH']}", DATABASE_URL="", REDIS_URL="")
        del self.env["DATABASE_URL"], self.env["REDIS_URL"]

    def write(self, toml: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "nixenv.toml").write_text(textwrap.dedent(toml).lstrip())

    def nixenv(self, *args, check=True, timeout=120, input=None) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "-m", "nixenv", *args], cwd=self.root, env=self.env, text=True,
                                capture_output=True, timeout=timeout, input=input)
        if check and result.returncode != 0:
            raise AssertionError(f"nixenv {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
        return result

    def sh(self, script: str, check=True) -> str:
        """A command with the presets' exports loaded, as the direnv shell has them."""
        result = subprocess.run(["sh", "-c", f'. ./.nixenv/exports.env && {script}'], cwd=self.root, env=self.env,
                                text=True, capture_output=True, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"{script}: exit {result.returncode}\n{result.stdout}\n{result.stderr}")
        return result.stdout.strip()

    @property
    def base(self) -> Path:
        found = [p for p in self.state_home.iterdir() if (p / "services").is_dir()]
        assert len(found) == 1, found
        return found[0]

    def status(self) -> dict:
        data = json.loads(self.nixenv("services", "status", "--json").stdout)
        return {s["name"]: s for s in data["services"]}

    def log(self, name: str) -> str:
        return self.nixenv("services", "logs", name).stdout

    def pids(self) -> list[int]:
        marker = f"NIXENV_SCANDIR={self.state_home}/".encode()
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if any(e.startswith(marker) for e in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")):
                    stat = Path(f"/proc/{entry}/stat").read_text()
                    if stat[stat.rindex(")") + 2] not in "ZX":
                        found.append(int(entry))
            except OSError:
                continue
        return found

    def kill_all(self) -> None:
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


@pytest.fixture
def stack(tmp_path, state_home):
    require("s6-svscan", "s6-notifyoncheck", "s6-setuidgid", "redis-server", f"{PG_BIN}/initdb")
    made = []

    def make(name: str = "proj") -> Stack:
        root = tmp_path / name
        s = Stack(root, state_home / name)
        s.state_home.mkdir()
        s.state_home.chmod(0o755)
        made.append(s)
        return s

    yield make
    for s in made:
        if (s.root / "nixenv.toml").exists():
            s.nixenv("services", "down", check=False, timeout=60)
        s.kill_all()


SHOP = '''
[project]
name = "shop"

[services.db]
preset = "postgres"
databases = ["shop"]
users = [{ name = "shop", password = "s3cret p@ss", databases = ["shop"] }]
settings = { max_connections = 50 }
'''


def test_postgres_preset_databases_ensured_on_every_up_and_a_clean_quick_down(stack):
    s = stack()
    s.write(SHOP)
    s.nixenv("services", "up")
    assert s.sh('psql "$DATABASE_URL" -tAc "select current_database(), current_user"') == "shop|shop"
    assert s.sh('psql "$DATABASE_URL" -tAc "show max_connections"') == "50"
    port = s.status()["db"]["port"]
    assert 20000 <= port < 40000 and s.sh("echo $PGPORT") == str(port)

    # a database added later is created by the next `up`
    s.write(SHOP.replace('databases = ["shop"]', 'databases = ["shop", "analytics"]'))
    s.nixenv("services", "up")
    assert s.sh('psql "$DATABASE_URL" -tAc "select datname from pg_database where datname = \'analytics\'"') \
        == "analytics"
    assert s.status()["db"]["port"] == port  # stable across restarts

    # an open client session does not hold `down` (fast shutdown, SIGINT)
    client = subprocess.Popen(["sh", "-c", '. ./.nixenv/exports.env; psql "$DATABASE_URL" -c "select pg_sleep(60)"'],
                              cwd=s.root, env=s.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        t0 = time.monotonic()
        s.nixenv("services", "down")
        assert time.monotonic() - t0 < 3
    finally:
        client.kill()
    assert not s.pids()
    s.nixenv("services", "up")
    log = s.log("db")
    assert "database system was shut down at" in log
    assert "not properly shut down" not in log and "automatic recovery" not in log


def test_one_shot_task_gates_its_dependant_and_a_failing_one_stops_up(stack):
    s = stack()
    s.write('''
    [project]
    name = "gate"

    [services.cache]
    preset = "redis"

    [services.migrate]
    command = "sleep 0.3; redis-cli -u \\"$REDIS_URL\\" set migrated yes"
    oneshot = true
    depends_on = ["cache"]

    [services.web]
    command = "test \\"$(redis-cli -u \\"$REDIS_URL\\" get migrated)\\" = yes && exec sleep 60"
    depends_on = ["migrate"]
    stop_timeout = 1
    ''')
    result = s.nixenv("services", "up")
    events = result.stderr
    assert events.index("migrate done (exit 0)") < events.index("starting web")
    rows = s.status()
    assert rows["migrate"]["state"] == "done" and rows["web"]["state"] == "up" and rows["cache"]["state"] == "ready"
    assert s.sh('redis-cli -u "$REDIS_URL" get migrated') == "yes"
    # a no-op `up` does not run the task again; `restart` does
    assert "already up" in s.nixenv("services", "up").stdout
    s.nixenv("services", "restart", "migrate")

    s.nixenv("services", "down")
    s.write((s.root / "nixenv.toml").read_text().replace('set migrated yes"', 'set migrated yes; exit 3"'))
    failed = s.nixenv("services", "up", check=False)
    assert failed.returncode == 1
    assert "service migrate failed (exit 3)" in failed.stderr
    assert s.status()["web"]["state"] == "down"


def test_two_projects_with_the_same_preset_run_side_by_side(stack):
    a, b = stack("a"), stack("b")
    for s in (a, b):
        s.write(SHOP)
    a.nixenv("services", "up")
    b.nixenv("services", "up")
    assert a.status()["db"]["port"] != b.status()["db"]["port"]
    for s in (a, b):
        assert s.sh('psql "$DATABASE_URL" -tAc "select 1"') == "1"


def test_data_survives_kill_9_of_the_scanner_and_reset_wipes_it(stack):
    s = stack()
    s.write(SHOP)
    s.nixenv("services", "up")
    s.sh('psql "$DATABASE_URL" -c "create table kept (x int); insert into kept values (42)"')
    scanner = json.loads(s.nixenv("services", "status", "--json").stdout)["scanner"]["pid"]
    os.kill(scanner, signal.SIGKILL)
    result = s.nixenv("services", "up")
    assert "the scanner of this project is gone" in result.stderr
    assert s.sh('psql "$DATABASE_URL" -tAc "select x from kept"') == "42"
    assert "not properly shut down" not in s.log("db")

    # `shell` opens the preset's client on the service
    assert s.nixenv("services", "shell", "db", input="select 6 * 7;\n").stdout.split().count("42") == 1

    s.nixenv("services", "reset", "db", "--yes")
    assert not (s.base / "data" / "db").exists()
    s.nixenv("services", "up")
    missing = s.sh('psql "$DATABASE_URL" -tAc "select to_regclass(\'kept\') is null"')
    assert missing == "t"


def test_kill_9_of_one_supervisor_status_tells_the_truth_and_up_leaves_one_copy(stack):
    s = stack()
    s.write('''
    [project]
    name = "sv"

    [services.worker]
    command = "exec sleep 300"
    stop_timeout = 1
    ''')
    s.nixenv("services", "up")
    worker = s.status()["worker"]["pid"]
    supervise = int(subprocess.run(["ps", "-o", "ppid=", "-p", str(worker)], capture_output=True,
                                   text=True).stdout.split()[0])
    os.kill(supervise, signal.SIGKILL)
    t0 = time.monotonic()
    state = wait_for(lambda: s.status()["worker"]["state"] == "orphaned" and s.status()["worker"], 2)
    assert state and state["pid"] == worker and time.monotonic() - t0 < 2
    s.nixenv("services", "up")
    sleeps = [p for p in s.pids() if Path(f"/proc/{p}/cmdline").read_bytes().startswith(b"sleep\x00300")]
    assert len(sleeps) == 1 and worker not in sleeps


def test_down_and_status_work_while_nixenv_toml_is_invalid(stack):
    s = stack()
    s.write(SHOP)
    s.nixenv("services", "up")
    assert s.pids()
    (s.root / "nixenv.toml").write_text(SHOP + "\n<<<<<<< HEAD\n[[[\n")
    status = s.nixenv("services", "status")
    assert "cannot be read" in status.stderr and "db" in status.stdout and "ready" in status.stdout
    down = s.nixenv("services", "down")
    assert down.returncode == 0 and "cannot be read" in down.stderr
    assert wait_for(lambda: not s.pids(), 5), s.pids()


def test_a_port_taken_by_another_process_is_reported_before_anything_starts(stack):
    s = stack()
    s.write(SHOP)
    s.nixenv("services", "up")
    port = s.status()["db"]["port"]
    s.nixenv("services", "down")
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the server's connections may linger in TIME_WAIT
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        result = s.nixenv("services", "up", check=False)
    assert result.returncode == 1
    assert f"services.db.port: port {port} is already in use by pid {os.getpid()}" in result.stderr
    assert not s.pids()


def test_a_daemon_that_escapes_the_marker_is_found_through_its_log_pipe(stack):
    """`setsid env -i` drops the marker and the process group; the daemon still holds the
    service's log pipe, which is how `down` finds and stops it within the stop timeout."""
    seconds = str(3000 + os.getpid() % 1000)  # unique to this run
    s = stack()
    s.write(f'''
    [project]
    name = "escape"

    [services.daemon]
    command = "setsid env -i /bin/sh -c 'trap \\"\\" TERM; exec sleep {seconds}' & exec sleep 7"
    stop_timeout = 2
    ''')

    def escapees() -> list[int]:
        found = []
        for entry in os.listdir("/proc"):
            try:
                if entry.isdigit() and Path(f"/proc/{entry}/cmdline").read_bytes() == f"sleep\0{seconds}\0".encode():
                    found.append(int(entry))
            except OSError:
                pass
        return found

    try:
        s.nixenv("services", "up")
        assert wait_for(escapees, 3)
        t0 = time.monotonic()
        s.nixenv("services", "down")
        assert time.monotonic() - t0 < 4  # the stop timeout (2 s, it ignores SIGTERM) and a margin
        assert not escapees()
    finally:
        for pid in escapees():
            os.kill(pid, signal.SIGKILL)


def test_the_project_cgroup_catches_what_neither_marker_nor_log_pipe_can(stack):
    """A daemon that clears its environment, leaves the session AND closes its output has no
    marker and no log pipe: as root on Linux with cgroup v2 (here, and CI) the project's cgroup
    still holds it, and `down` leaves the cgroup empty."""
    from nixenv.config.paths import ProjectPaths
    from nixenv.services import cgroup

    seconds = str(4000 + os.getpid() % 1000)
    s = stack()
    s.write(f'''
    [project]
    name = "ghost"

    [services.daemon]
    command = "setsid env -i /bin/sh -c 'exec >/dev/null 2>&1 </dev/null; exec sleep {seconds}' & exec sleep 9"
    stop_timeout = 1
    ''')

    def ghosts() -> list[int]:
        return [int(e) for e in os.listdir("/proc") if e.isdigit() and _cmdline(e) == f"sleep\x00{seconds}\x00".encode()]

    try:
        s.nixenv("services", "up")
        assert wait_for(ghosts, 3)
        group = cgroup.project_cgroup(ProjectPaths(root=s.root, base=s.base, run=Path("/")), create=False)
        assert group is not None, "no cgroup v2 that root can write here: the proof cannot be made on this machine"
        assert set(ghosts()) <= set(cgroup.members(group))
        down = s.nixenv("services", "down")
        assert not ghosts() and "leftover process" in down.stderr
        assert not group.exists()
    finally:
        for pid in ghosts():
            os.kill(pid, signal.SIGKILL)


def _cmdline(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_a_service_whose_log_cannot_be_written_is_reported_with_the_scanners_output(stack):
    """A log directory that cannot be written (here: a file where the directory goes) used to
    be reported as "died before it was ready ... the log is empty"; the cause is in s6-svscan's
    own output, which the message now shows."""
    s = stack()
    s.write('''
    [project]
    name = "nolog"

    [services.quick]
    command = "exit 3"
    ready = { tcp = 1 }
    restart = "never"
    ''')
    s.nixenv("services", "down", check=False)
    s.nixenv("generate", check=False)
    logs = next(p for p in s.state_home.iterdir()) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "quick").write_text("not a directory\n")
    result = s.nixenv("services", "up", "--timeout", "5", check=False)
    assert result.returncode == 1
    assert "service quick" in result.stderr and "s6-svscan's own output" in result.stderr
    assert "the log is empty" not in result.stderr
