"""`nixenv services` end to end with the real s6 (Debian's s6 + execline), no mocks.

Each test gets its own project directory and random free ports; services are a tiny C TCP
listener (benchmarks/listener.c) that opens its port after a delay. Leftover processes are
looked for in /proc independently of nixenv's own code: by the project's marker in
/proc/PID/environ and by a cwd inside the project. The fixture's teardown runs
`nixenv services down` and then SIGKILLs anything of the project still alive, so a failing
test never leaves processes behind.
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

from testkit import nixenv, require, run, wait_for, write_project

ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------ helpers


@pytest.fixture(scope="session")
def listener(tmp_path_factory) -> str:
    require("gcc", "s6-svscan", "s6-supervise", "s6-log", "s6-notifyoncheck", "bash")
    out = tmp_path_factory.mktemp("listener") / "listener"
    subprocess.run(["gcc", "-O2", "-o", str(out), str(ROOT / "benchmarks" / "listener.c")], check=True)
    return str(out)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def project_pids(root: Path, state_home: Path) -> list[int]:
    """Live processes of the project: its marker in environ (the scan directory under the
    test's state home), or cwd inside the project or its state."""
    marker = f"NIXENV_SCANDIR={state_home}/".encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        pid = int(name)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            if stat[stat.rindex(")") + 2] in "ZX":
                continue
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if any(e.startswith(marker) for e in env) or any(cwd == str(d) or cwd.startswith(f"{d}/")
                                                            for d in (root, state_home)):
            found.append(pid)
    return found


def describe(pids: list[int]) -> str:
    out = []
    for pid in pids:
        try:
            out.append(f"{pid}: " + Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            pass
    return "\n".join(out)


class Project:
    def __init__(self, root: Path, env: dict[str, str]):
        self.root, self.env = root, env
        self.state_home = Path(env["NIXENV_STATE_HOME"])

    @property
    def base(self) -> Path:
        """The project's state directory (config/paths.py), outside the project tree."""
        found = sorted(self.state_home.glob("*-*"))
        assert len(found) == 1, found
        return found[0]

    def write(self, toml: str) -> None:
        write_project(self.root, textwrap.dedent(toml), git=False)

    def nixenv(self, *args, check=True, timeout=60):
        return nixenv("services", *args, cwd=self.root, env=self.env, check=check, timeout=timeout)

    def status(self) -> dict:
        data = json.loads(self.nixenv("status", "--json").stdout)
        data["by_name"] = {s["name"]: s for s in data["services"]}
        return data

    def popen(self, *args):
        return subprocess.Popen([sys.executable, "-m", "nixenv", "services", *args], cwd=self.root,
                                env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def log(self, name: str) -> str:
        path = self.base / "logs" / name / "current"
        return path.read_text() if path.exists() else ""

    def pids(self) -> list[int]:
        return project_pids(self.root, self.state_home)


@pytest.fixture
def project(tmp_path, listener):
    root = tmp_path / "proj"
    root.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIXENV_", "DIRENV_", "IN_NIX_SHELL"))}
    # nixenv runs "inside the devshell" of this project: the scanner starts directly, fast
    env.update(NIXENV_ROOT=str(root), HOME=str(tmp_path / "home"), LISTENER=listener,
               NIXENV_STATE_HOME=str(tmp_path / "state"))
    (tmp_path / "home").mkdir()
    proj = Project(root, env)
    try:
        yield proj
    finally:
        if (root / "nixenv.toml").exists():
            try:
                proj.nixenv("down", check=False, timeout=60)
            except subprocess.TimeoutExpired:
                pass
        for pid in project_pids(root, tmp_path / "state"):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def two_services(listener: str, db_port: int, web_port: int, *, db_delay=1000, web_extra="") -> str:
    return f'''
    [project]
    name = "shop"

    [services.db]
    command = "{listener} {db_port} {db_delay}"
    port = {db_port}
    ready = {{ tcp = {db_port} }}
    stop_timeout = 2

    [services.web]
    command = "{listener} {web_port} 0 {web_extra}"
    port = {web_port}
    depends_on = ["db"]
    ready = {{ tcp = {web_port} }}
    stop_timeout = 1
    '''


# ------------------------------------------------------------------------------ tests


def test_up_starts_a_dependant_only_after_its_dependency_is_ready(project, listener):
    db, web = free_port(), free_port()
    project.write(two_services(listener, db, web))
    t0 = time.time()
    result = project.nixenv("up")
    elapsed = time.time() - t0
    assert "ready: db, web" in result.stdout
    # both listen when `up` returns
    for port in (db, web):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    status = project.status()["by_name"]
    assert status["db"]["state"] == "ready" and status["web"]["state"] == "ready"
    # db took its 1 s to open the port; web was started (s6 `since`) after db was ready
    assert status["db"]["ready_since"] - status["db"]["since"] >= 0.9
    assert status["web"]["since"] >= status["db"]["ready_since"]
    assert elapsed >= 1.0
    assert "db ready (tcp port" in result.stderr and result.stderr.index("db ready") < result.stderr.index("starting web")


def test_up_again_is_a_fast_no_op_and_a_new_service_starts_alone(project, listener):
    db, web, extra = free_port(), free_port(), free_port()
    project.write(two_services(listener, db, web, db_delay=0))
    project.nixenv("up")
    before = project.status()["by_name"]
    t0 = time.monotonic()
    again = project.nixenv("up")
    assert "already up and ready" in again.stdout
    assert time.monotonic() - t0 < 3
    toml = (project.root / "nixenv.toml").read_text() + textwrap.dedent(f'''
    [services.cache]
    command = "{listener} {extra}"
    ready = {{ tcp = {extra} }}
    ''')
    (project.root / "nixenv.toml").write_text(toml)
    result = project.nixenv("up")
    assert "ready: cache" in result.stdout
    after = project.status()["by_name"]
    assert after["db"]["pid"] == before["db"]["pid"] and after["web"]["pid"] == before["web"]["pid"]
    assert after["cache"]["state"] == "ready"


def test_down_leaves_no_process_not_even_a_forked_grandchild(project, listener):
    db, web = free_port(), free_port()
    # web forks a child that ignores SIGTERM, double-forks and leaves the process group
    project.write(two_services(listener, db, web, db_delay=0, web_extra="fork daemon"))
    project.nixenv("up")
    running = project.pids()
    grandchildren = [p for p in running if Path(f"/proc/{p}/cmdline").read_bytes().startswith(
        listener.encode()) and open(f"/proc/{p}/stat").read().split()[3] == "1"]
    assert grandchildren, "the daemonized grandchild should run (reparented to init)"
    result = project.nixenv("down")
    assert "stopped" in result.stdout
    # reverse dependency order: web (the dependant) first
    assert result.stderr.index("stopped web") < result.stderr.index("stopped db")
    left = project.pids()
    assert not left, "left behind:\n" + describe(left)
    assert not any(os.path.exists(f"/proc/{p}") and open(f"/proc/{p}/stat").read().split()[2] != "Z"
                   for p in running)
    assert project.status()["scanner"]["state"] == "stopped"
    assert {s["state"] for s in project.status()["services"]} == {"down"}


def test_scanner_killed_then_up_recovers_with_one_scanner_and_nothing_twice(project, listener):
    db, web = free_port(), free_port()
    project.write(two_services(listener, db, web, db_delay=0))
    project.nixenv("up")
    first = project.status()
    os.kill(first["scanner"]["pid"], signal.SIGKILL)
    assert wait_for(lambda: project.status()["scanner"]["state"] == "stale", 3)
    project.nixenv("up")
    second = project.status()
    assert second["scanner"]["state"] == "running" and second["scanner"]["pid"] != first["scanner"]["pid"]
    scanners, supervisors, services = [], [], []
    for pid in project.pids():
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        (scanners if cmd[0].endswith(b"s6-svscan") else supervisors if cmd[0].endswith(b"s6-supervise")
         else services if cmd[0] == listener.encode() else []).append(cmd)
    assert len(scanners) == 1
    assert sorted(c[1] for c in supervisors) == [b"db", b"db/log", b"web", b"web/log"]
    assert len(services) == 2, services
    for name in ("db", "web"):
        assert second["by_name"][name]["state"] == "ready"
        assert second["by_name"][name]["pid"] != first["by_name"][name]["pid"]
    assert not os.path.exists(f"/proc/{first['by_name']['db']['pid']}/environ") or \
        open(f"/proc/{first['by_name']['db']['pid']}/stat").read().split()[2] == "Z"


def test_down_after_the_scanner_was_killed_stops_the_orphans(project, listener):
    db, web = free_port(), free_port()
    project.write(two_services(listener, db, web, db_delay=0))
    project.nixenv("up")
    os.kill(project.status()["scanner"]["pid"], signal.SIGKILL)
    project.nixenv("down")
    left = project.pids()
    assert not left, describe(left)


def test_readiness_timeout_fails_naming_the_service_with_its_log_tail(project, listener):
    port = free_port()
    project.write(f'''
    [project]
    name = "t"

    [services.slow]
    command = "sh -c 'for i in $(seq 1 30); do echo line-$i; done; echo \\"last words\\"; exec sleep 30'"
    ready = {{ tcp = {port} }}
    stop_timeout = 1
    ''')
    t0 = time.monotonic()
    result = project.nixenv("up", "--timeout", "1.5", check=False)
    assert result.returncode == 1
    assert time.monotonic() - t0 < 8
    assert "slow was not ready within 1.5 s (waiting for tcp port" in result.stderr
    assert "last words" in result.stderr and "line-30" in result.stderr
    assert "line-10" not in result.stderr  # only the last 20 lines
    assert project.status()["by_name"]["slow"]["state"] == "failed"


def test_a_service_dying_before_ready_fails_up(project, listener):
    port, other = free_port(), free_port()
    project.write(f'''
    [project]
    name = "t"

    [services.base]
    command = "{listener} {other}"
    ready = {{ tcp = {other} }}

    [services.boom]
    command = "sh -c 'echo about to fail >&2; exit 4'"
    depends_on = ["base"]
    ready = {{ tcp = {port} }}
    ''')
    result = project.nixenv("up", "--timeout", "10", check=False)
    assert result.returncode == 1, result.stdout
    assert "boom died before it was ready (exit 4)" in result.stderr
    assert "about to fail" in result.stderr


def test_crash_is_restarted_and_counted(project, listener):
    port = free_port()
    project.write(f'''
    [project]
    name = "t"

    [services.api]
    command = "{listener} {port}"
    ready = {{ tcp = {port} }}
    ''')
    project.nixenv("up")
    first = project.status()["by_name"]["api"]
    os.kill(first["pid"], signal.SIGKILL)
    row = wait_for(lambda: (r := project.status()["by_name"]["api"])["state"] == "ready"
                   and r["pid"] != first["pid"] and r, 5)
    assert row, project.status()
    assert row["restarts"] == 1 and row["last_exit"] == "signal 9"


def test_restart_policies_on_failure_and_never(project, listener, tmp_path):
    count = tmp_path / "count"
    count.mkdir()
    project.write(f'''
    [project]
    name = "t"

    [services.clean]
    command = "sh -c 'echo x >> {count}/clean; sleep 0.3; exit 0'"
    restart = "on-failure"

    [services.flaky]
    command = "sh -c 'echo x >> {count}/flaky; sleep 0.3; exit 1'"
    restart = "on-failure"

    [services.once]
    command = "sh -c 'echo x >> {count}/once; sleep 0.3; exit 1'"
    restart = "never"
    ''')
    project.nixenv("up")
    assert wait_for(lambda: (count / "flaky").exists() and len((count / "flaky").read_text().split()) >= 2, 5)
    time.sleep(1.0)
    rows = project.status()["by_name"]
    assert len((count / "clean").read_text().split()) == 1
    assert rows["clean"]["state"] == "down" and rows["clean"]["last_exit"] == "exit 0"
    assert len((count / "once").read_text().split()) == 1
    assert rows["once"]["state"] == "failed" and rows["once"]["last_exit"] == "exit 1"
    assert rows["flaky"]["restarts"] >= 1


def test_crash_loop_backs_off_and_shows_in_status(project, tmp_path):
    starts = tmp_path / "starts"
    project.write(f'''
    [project]
    name = "t"

    [services.loop]
    command = "sh -c 'date +%s.%N >> {starts}; exit 1'"
    stop_timeout = 1
    ''')
    project.nixenv("up")
    assert wait_for(lambda: starts.exists() and len(starts.read_text().split()) >= 4, 12, step=0.2)
    times = [float(t) for t in starts.read_text().split()]
    gaps = [b - a for a, b in zip(times, times[1:])]
    # s6 waits 1 s, then the backoff adds 1 s, 2 s, ...: the gaps grow
    assert gaps[0] >= 0.9 and gaps[1] >= gaps[0] + 0.7 and gaps[2] >= gaps[1] + 0.7, gaps
    row = project.status()["by_name"]["loop"]
    assert row["state"] == "crash-looping" and row["restarts"] >= 3 and row["last_exit"] == "exit 1"
    t0 = time.monotonic()
    project.nixenv("down")  # does not wait for the backoff
    assert time.monotonic() - t0 < 3
    assert not project.pids()


def test_status_json_names_every_service_even_when_nothing_runs(project, listener):
    project.write(two_services(listener, free_port(), free_port()))
    data = project.status()
    assert data["scanner"]["state"] == "stopped"
    assert [s["name"] for s in data["services"]] == ["db", "web"]
    assert all(s["state"] == "down" and s["pid"] is None for s in data["services"])
    table = project.nixenv("status").stdout
    assert "db" in table and "web" in table and "scanner: not running" in table


def test_logs_rotate_and_are_read_back_interleaved(project, tmp_path):
    project.write('''
    [project]
    name = "t"

    [services.big]
    command = "sh -c 'echo first-line; i=0; while [ $i -lt 2600 ]; do printf \\"%01000d\\\\n\\" $i; i=$((i+1)); done; echo last-line; exec sleep 60'"
    stop_timeout = 1

    [services.small]
    command = "sh -c 'echo hello from small; exec sleep 60'"
    stop_timeout = 1
    ''')
    project.nixenv("up")
    logs = project.base / "logs" / "big"
    assert wait_for(lambda: "last-line" in project.log("big"), 10)
    archives = [p for p in logs.iterdir() if p.name.startswith("@")]
    assert len(archives) >= 2, list(logs.iterdir())  # rotated at 1 MB
    out = project.nixenv("logs").stdout.splitlines()
    assert out[0].startswith("big   | ") or any("first-line" in line for line in out[:3])
    assert any(line.startswith("big   |") and line.endswith("first-line") for line in out)
    assert any(line.startswith("small |") and line.endswith("hello from small") for line in out)
    stamps = [line.split("|", 1)[1][1:24] for line in out]
    assert stamps == sorted(stamps)
    tail = project.nixenv("logs", "big", "-n", "2").stdout.splitlines()
    assert len(tail) == 2 and tail[-1].endswith("last-line")


def test_logs_follow_prints_new_lines(project, tmp_path):
    project.write('''
    [project]
    name = "t"

    [services.ticker]
    command = "sh -c 'i=0; while :; do echo tick-$i; i=$((i+1)); sleep 0.2; done'"
    stop_timeout = 1
    ''')
    project.nixenv("up")
    child = project.popen("logs", "-f", "-n", "1")
    try:
        time.sleep(1.5)
    finally:
        child.send_signal(signal.SIGINT)
        out, _ = child.communicate(timeout=5)
    ticks = [line for line in out.splitlines() if "tick-" in line]
    assert len(ticks) >= 4, out


HOSTILE_NAME = "we b \"$x\" 'q' ü -"


def test_hostile_names_commands_and_values_round_trip(project, listener):
    port, dash_port = free_port(), free_port()
    value = "a'b\"c $HOME ${x} `id` \\n tab\there ü\nline2"
    project.write(f'''
    [project]
    name = "t"

    [env]
    SHARED = {json.dumps(value)}

    [services.{json.dumps(HOSTILE_NAME)}]
    command = "printf '<%s|%s|%s>\\\\n' \\"$SHARED\\" \\"$OWN\\" \\"$PORT\\"; exec {listener} {port}"
    port = {port}
    env = {{ OWN = {json.dumps(value + "$(touch /tmp/pwned)")} }}
    ready = {{ tcp = {port} }}

    [services."-dash"]
    command = "{listener} {dash_port}"
    ready = {{ tcp = {dash_port} }}
    depends_on = [{json.dumps(HOSTILE_NAME)}]
    ''')
    # [env] reaches services through the devshell's environment, as in the shell (here nixenv
    # runs "inside the devshell": its environment is the devshell's)
    project.env["SHARED"] = value
    project.nixenv("up")
    assert wait_for(lambda: "line2|" in project.log(HOSTILE_NAME), 3)
    from nixenv.services.logs import parse_line

    text = "\n".join(parse_line(raw, "").text for raw in project.log(HOSTILE_NAME).splitlines())
    assert f"<{value}|{value}$(touch /tmp/pwned)|{port}>" in text
    rows = project.status()["by_name"]
    assert rows[HOSTILE_NAME]["state"] == "ready" and rows["-dash"]["state"] == "ready"
    out = project.nixenv("logs", HOSTILE_NAME).stdout
    assert HOSTILE_NAME in out
    project.nixenv("restart", HOSTILE_NAME, "--with-dependants")
    project.nixenv("down", "--", "-dash", HOSTILE_NAME)  # a leading dash needs `--`
    assert {r["state"] for r in project.status()["services"]} == {"down"}


def test_stop_signal_is_sent_and_the_service_can_clean_up(project):
    project.write('''
    [project]
    name = "t"

    [services.graceful]
    command = "trap 'echo got INT; exit 0' INT; echo waiting; while :; do sleep 0.1; done"
    stop_signal = "INT"
    stop_timeout = 3
    ''')
    project.nixenv("up")
    assert wait_for(lambda: "waiting" in project.log("graceful"), 3)
    project.nixenv("down")
    assert "got INT" in project.log("graceful")
    assert not project.pids()


def test_checks_before_anything_starts(project, listener):
    taken, free = free_port(), free_port()
    squatter = subprocess.Popen([listener, str(taken)])
    try:
        assert wait_for(lambda: socket.socket().connect_ex(("127.0.0.1", taken)) == 0, 3)
        project.write(f'''
        [project]
        name = "t"

        [services.a]
        command = "{listener} {taken}"
        port = {taken}

        [services.b]
        command = "no-such-program-xyz --flag"

        [services.c]
        command = "{listener} {free}"
        port = {free}

        [services.d]
        command = "{listener} {free}"
        cwd = "no/such dir"
        ''')
        result = project.nixenv("up", check=False)
        assert result.returncode == 1
        assert f"port {taken} is already in use by pid {squatter.pid} ({listener} {taken})" in result.stderr
        assert "`no-such-program-xyz` is not on the services' PATH" in result.stderr
        assert "services.d.cwd: directory" in result.stderr and "no/such dir does not exist" in result.stderr
        assert all(r["state"] == "down" for r in project.status()["services"])
        assert socket.socket().connect_ex(("127.0.0.1", free)) != 0
        assert not project.pids(), describe(project.pids())
    finally:
        squatter.kill()
        squatter.wait()


def test_config_errors_come_before_anything_starts(project):
    project.write('''
    [project]
    name = "t"

    [services.a]
    command = "sleep 10"
    depends_on = ["b"]

    [services.b]
    command = "sleep 10"
    depends_on = ["a"]

    [services.c]
    command = "sleep 10"
    depends_on = ["nope"]
    ''')
    result = project.nixenv("up", check=False)
    assert result.returncode == 2
    assert "dependency cycle: a -> b -> a" in result.stderr and "unknown service 'nope'" in result.stderr
    assert not (project.root / ".nixenv").exists() and not list(project.state_home.glob("*"))


def test_two_concurrent_ups_start_one_scanner_and_each_service_once(project, listener):
    db, web = free_port(), free_port()
    project.write(two_services(listener, db, web, db_delay=500))
    first, second = project.popen("up"), project.popen("up")
    outs = [p.communicate(timeout=30) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outs
    pids = project.pids()
    cmds = [Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0") for p in pids]
    assert sum(c[0].endswith(b"s6-svscan") for c in cmds) == 1
    assert sum(c[0] == listener.encode() for c in cmds) == 2
    rows = project.status()["by_name"]
    assert rows["db"]["restarts"] == 0 and rows["web"]["restarts"] == 0
    assert sum("waiting for another" in o[1] for o in outs) + sum("already up" in o[0] for o in outs) >= 1


def test_restart_waits_for_ready_and_with_dependants(project, listener):
    db, web = free_port(), free_port()
    project.write(two_services(listener, db, web, db_delay=300))
    project.nixenv("up")
    before = project.status()["by_name"]
    project.nixenv("restart", "web")
    mid = project.status()["by_name"]
    assert mid["db"]["pid"] == before["db"]["pid"] and mid["web"]["pid"] != before["web"]["pid"]
    assert mid["web"]["state"] == "ready"
    project.nixenv("restart", "db", "--with-dependants")
    after = project.status()["by_name"]
    assert after["db"]["pid"] != mid["db"]["pid"] and after["web"]["pid"] != mid["web"]["pid"]
    assert after["web"]["since"] >= after["db"]["ready_since"]


def test_removed_service_is_stopped_and_its_directory_pruned(project, listener):
    db, web = free_port(), free_port()
    project.write(two_services(listener, db, web, db_delay=0))
    project.nixenv("up")
    before = project.status()["by_name"]
    web_pid = before["web"]["pid"]
    toml = (project.root / "nixenv.toml").read_text()
    (project.root / "nixenv.toml").write_text(toml[:toml.index("[services.web]")])
    project.nixenv("up")
    assert not (project.base / "services" / "web").exists()
    assert not os.path.exists(f"/proc/{web_pid}/cmdline") or not Path(f"/proc/{web_pid}/cmdline").read_bytes()
    after = project.status()["by_name"]
    assert after["db"]["pid"] == before["db"]["pid"]  # its supervise/ state was left alone
    assert socket.socket().connect_ex(("127.0.0.1", web)) != 0


def up_outside_the_shell(root: Path, env: dict) -> tuple[subprocess.CompletedProcess, str, str]:
    """`services up` on `root` from outside its shell: (up's result, the greeter's log, how the
    scanner got the environment); then `down` must leave nothing; cleans up even on failure."""
    try:
        result = nixenv("services", "up", cwd=root, env=env, timeout=300)
        state_home = Path(env["NIXENV_STATE_HOME"])
        log = next(state_home.glob("*/logs/greeter/current")).read_text()
        via = json.loads(nixenv("services", "status", "--json", cwd=root, env=env).stdout)["scanner"]["via"]
        nixenv("services", "down", cwd=root, env=env)
        assert not project_pids(root, state_home), describe(project_pids(root, state_home))
        return result, log, via
    finally:
        nixenv("services", "down", cwd=root, env=env, check=False)
        for pid in project_pids(root, Path(env["NIXENV_STATE_HOME"])):
            os.kill(pid, signal.SIGKILL)


def test_outside_the_devshell_the_scanner_runs_in_nix_develop(tmp_path, env, listener):
    require("nix", "git")
    root = tmp_path / "outside"
    port = free_port()
    write_project(root, f'''
    [project]
    name = "outside"

    [env]
    GREETING = "from [env]"

    [scripts]
    serve = "echo \\"$GREETING / $IN_NIX_SHELL / $PORT\\"; exec {listener} $PORT"

    [services.greeter]
    command = "serve"
    port = {port}
    ready = {{ tcp = {port} }}
    ''', env=env)
    result, log, via = up_outside_the_shell(root, env)
    assert "nix develop" in result.stderr and via == "nix develop"
    # `serve` is a [scripts] command: only the devshell has it on PATH
    assert f"from [env] / impure / {port}" in log


def test_with_an_allowed_envrc_the_scanner_gets_everything_the_shell_has(tmp_path, env, listener):
    """Outside the shell, an allowed .envrc starts the scanner through `direnv exec`: services
    then also get what only the .envrc adds (here a [project].dotenv file)."""
    require("nix", "git", "direnv")
    root = tmp_path / "viadirenv"
    port = free_port()
    write_project(root, f'''
    [project]
    name = "viadirenv"
    dotenv = [".env"]

    [services.greeter]
    command = "echo \\"dotenv: $FROM_DOTENV\\"; exec {listener} $PORT"
    port = {port}
    ready = {{ tcp = {port} }}
    ''', env=env)
    (root / ".env").write_text('FROM_DOTENV="only the .envrc loads me"\n')
    nixenv("generate", cwd=root, env=env)
    run(["direnv", "allow", root], cwd=root, env=env)
    _, log, via = up_outside_the_shell(root, env)
    assert via == "direnv"
    assert "dotenv: only the .envrc loads me" in log


def test_services_see_decrypted_secrets(project):
    require("sops", "age-keygen")
    home = Path(project.env["HOME"])
    key_dir = home / ".config" / "sops" / "age"
    key_dir.mkdir(parents=True)
    run(["age-keygen", "-o", key_dir / "keys.txt"], cwd=home, env=project.env)
    public = run(["age-keygen", "-y", key_dir / "keys.txt"], cwd=home, env=project.env).stdout.strip()
    project.env.update(XDG_CONFIG_HOME=str(home / ".config"), SOPS_DISABLE_VERSION_CHECK="1")
    project.write(f'''
    [project]
    name = "t"

    [secrets]
    file = "secrets.env"
    age = ["{public}"]

    [services.show]
    command = "sh -c 'printf \\"secret=[%s]\\\\n\\" \\"$API_KEY\\"; exec sleep 30'"
    stop_timeout = 1
    ''')
    nixenv("generate", cwd=project.root, env=project.env)
    nixenv("secrets", "init", cwd=project.root, env=project.env)
    value = 'sk "quoted" $x ü'
    nixenv("secrets", "set", "API_KEY", cwd=project.root, env=project.env, input=value)
    project.nixenv("up")
    assert wait_for(lambda: "secret=[" in project.log("show"), 3)
    assert f"secret=[{value}]" in project.log("show")
    on_disk = [*project.root.rglob("*"), *project.state_home.rglob("*")]
    assert value not in "".join(p.read_text(errors="replace") for p in on_disk
                                if p.is_file() and p.name not in ("current",))


def test_a_changed_service_is_restarted_by_up_and_only_it(project, listener):
    db, web = free_port(), free_port()
    project.write(two_services(listener, db, web, db_delay=0))
    project.nixenv("up")
    before = project.status()["by_name"]
    toml = (project.root / "nixenv.toml").read_text()
    (project.root / "nixenv.toml").write_text(toml.replace("stop_timeout = 1", "stop_timeout = 1\nenv = { NEW = \"1\" }"))
    result = project.nixenv("up")
    assert "configuration changed: restarting web" in result.stderr
    after = project.status()["by_name"]
    assert after["db"]["pid"] == before["db"]["pid"] and after["web"]["pid"] != before["web"]["pid"]
    assert after["web"]["state"] == "ready"
    environ = Path(f"/proc/{after['web']['pid']}/environ").read_bytes().split(b"\0")
    assert b"NEW=1" in environ and f"PORT={web}".encode() in environ


def test_http_and_command_readiness(project, tmp_path):
    http_port = free_port()
    flag = tmp_path / "flag"
    project.write(f'''
    [project]
    name = "t"

    [services.api]
    command = "{sys.executable} -m http.server {http_port} --bind 127.0.0.1"
    ready = {{ http = "http://127.0.0.1:{http_port}/" }}
    stop_timeout = 2

    [services.worker]
    command = "sh -c 'sleep 0.7; touch {flag}; exec sleep 60'"
    ready = {{ command = "test -e {flag}" }}
    depends_on = ["api"]
    stop_timeout = 1
    ''')
    t0 = time.monotonic()
    project.nixenv("up")
    assert time.monotonic() - t0 >= 0.7 and flag.exists()
    rows = project.status()["by_name"]
    assert rows["api"]["state"] == "ready" and rows["worker"]["state"] == "ready"
    assert rows["api"]["ready"] == f"http http://127.0.0.1:{http_port}/"
    assert rows["worker"]["since"] >= rows["api"]["ready_since"]
