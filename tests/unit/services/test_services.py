"""Pure parts of the services code, and the generated s6 scripts executed by the real
/bin/sh (no s6 needed): hostile names and values must come out exactly as written."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testkit.hostile import HOSTILE_SAMPLES, env_value, hostile_text
from nixenv.config.load import parse
from nixenv.app.procfile import parse_procfile, procfile_problems
from nixenv.services.env import program_of
from nixenv.config.paths import ProjectPaths
from nixenv.services.plan import plan
from nixenv.services.reconcile import exec_form, service_files
from nixenv.services.logs import formatter, merged, parse_line
from nixenv.services.s6 import TAI_OFFSET, StatusFormatError, parse_status


def toml_str(value: str) -> str:
    """A TOML basic string for any text (control characters escaped, unicode kept)."""
    out = []
    for c in value:
        if c in '"\\':
            out.append("\\" + c)
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def cfg_of(toml: str, root: Path):
    return parse(textwrap.dedent(toml), root=root)


# ------------------------------------------------------------------------------ s6 status


def test_parse_status_decodes_s6_2_11_layout():
    stamp = struct.pack(">QL", TAI_OFFSET + 1_000_000_000, 500_000_000)
    ready = struct.pack(">QL", TAI_OFFSET + 1_000_000_002, 0)
    data = stamp + ready + struct.pack(">QHB", 4242, 0, 4 | 8)
    st = parse_status(data)
    assert st is not None and st.pid == 4242 and st.up and st.want_up and st.ready and not st.finishing
    assert st.since == 1_000_000_000.5 and st.ready_since == 1_000_000_002
    dead = parse_status(stamp + ready + struct.pack(">QHB", 0, 4 << 8, 2))
    assert dead is not None and not dead.up and dead.finishing and dead.exit_code == 4 and dead.signal is None
    killed = parse_status(stamp + ready + struct.pack(">QHB", 0, 9, 0))
    assert killed is not None and killed.signal == 9 and killed.exit_code is None
    with pytest.raises(StatusFormatError, match="a 5-byte status record"):
        parse_status(b"short")
    with pytest.raises(StatusFormatError, match="a 36-byte status record"):
        parse_status(data + b"\0")


S6_RECORDS = Path(__file__).resolve().parents[2] / "fixtures" / "s6-status"


def _svstat_line(st) -> str:
    """What `s6-svstat -o up,wantedup,normallyup,ready,paused,pid,exitcode,signal,signum` prints.
    normallyup is not in the record (it means: no ./down file), and every recorded directory had one."""
    def tf(value: bool) -> str:
        return "true" if value else "false"
    signum = st.signal
    return " ".join([tf(st.up), tf(st.want_up), "false", tf(st.ready), tf(st.paused and st.pid != 0),
                     str(st.pid if st.up else -1), str(-1 if st.exit_code is None else st.exit_code),
                     "NA" if signum is None else "SIG" + signal.Signals(signum).name[3:],
                     str(-1 if signum is None else signum)])


@pytest.mark.parametrize("record", sorted(S6_RECORDS.glob("*/*.status")), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_parse_status_matches_each_s6_release_s6_svstat(record):
    """Real records of s6 2.11.3.2, 2.13.2.0 (43 bytes, with the pgid) and 2.15.0.0 decode to what
    that release's own s6-svstat printed for them."""
    st = parse_status(record.read_bytes())
    assert _svstat_line(st) == record.with_suffix(".svstat").read_text().strip()


def test_every_recorded_s6_release_and_state_is_checked():
    records = sorted(S6_RECORDS.glob("*/*.status"))
    assert {p.parent.name for p in records} == {"2.11.3.2", "2.13.2.0", "2.15.0.0"}
    assert len(records) == 15 and {len(p.read_bytes()) for p in records} == {35, 43}


# ------------------------------------------------------------------------------ commands


def test_exec_form_only_for_one_simple_command():
    assert exec_form("/srv/app --port $PORT") == "exec /srv/app --port $PORT"
    assert exec_form("python -m http.server 'a;b'") == "exec python -m http.server 'a;b'"
    assert exec_form("prog > log 2>&1") == "exec prog > log 2>&1"
    for compound in ("a && b", "a; b", "a | b", "a &", "if x; then y; fi", "FOO=1 prog", "(x)",
                     "exec x", "a\nb", "unbalanced 'quote", "-x"):
        assert exec_form(compound) == compound


def test_program_of():
    assert program_of("python manage.py runserver") == "python"
    assert program_of("FOO=1 BAR=2 exec node server.js") == "node"
    assert program_of("./bin/serve --x") == "./bin/serve"
    assert program_of("exec nice -n 5 redis-server") == "nice"
    for unknown in ("$CMD --x", "if true; then x; fi", "'unbalanced", "echo hi", "`which x`", ""):
        assert program_of(unknown) is None, unknown
    assert program_of("cd web && npm start") is None  # a builtin: nothing to check


# ------------------------------------------------------------------------------ Procfile


def test_parse_procfile():
    text = "# comment\nweb: gunicorn app:app --bind 0.0.0.0:$PORT\n\nworker:   celery -A x worker  \nbad line\nweb-2: a: b\n"
    assert parse_procfile(text) == {"web": "gunicorn app:app --bind 0.0.0.0:$PORT",
                                    "worker": "celery -A x worker", "web-2": "a: b"}
    assert procfile_problems(text) == ["Procfile:5: not `name: command`: 'bad line'"]
    assert parse_procfile("a: one\na: two\n") == {"a": "two"}
    assert parse_procfile("") == {}


# ------------------------------------------------------------------------------ logs


def test_log_lines_merge_by_time_with_prefixes(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "@400000006b0000000000000a.s").write_text("2026-11-22 01:00:00.000000001  a-old\n")
    (a / "current").write_text("2026-11-22 01:00:02.000000000  a-new\n")
    (b / "current").write_text("2026-11-22 01:00:01.000000000  b-mid\nno stamp\n")
    lines = merged({"a": a, "b": b})
    assert [(l.name, l.text) for l in lines] == [("a", "a-old"), ("b", "b-mid"), ("b", "no stamp"), ("a", "a-new")]
    assert [l.text for l in merged({"a": a, "b": b}, last=2)] == ["no stamp", "a-new"]
    fmt = formatter(["a", "bb"], colour=False)
    assert fmt(parse_line("2026-11-22 01:00:02.123456789  x y", "a")) == "a  | 2026-11-22 01:00:02.123 x y"
    assert "\x1b[" in formatter(["a"], colour=True)(lines[1])


# ------------------------------------------------------------------------------ layout


def _paths(root: Path) -> ProjectPaths:
    return ProjectPaths(root=root, base=root / "state", run=root / "run")


def _files(cfg, root: Path, name: str) -> dict[str, tuple[str, int]]:
    paths = _paths(root)
    ports = {n: s.port for n, s in cfg.services.items() if s.port is not None}
    return service_files(paths, plan(cfg, paths, ports).services[name])


def test_service_directory_files(tmp_path):
    cfg = cfg_of('''
    [project]
    name = "p"

    [services.db]
    command = "postgres -D data"
    port = 5432
    ready = { tcp = 5432 }
    stop_signal = "INT"
    stop_timeout = 2.5

    [services.web]
    command = "serve"
    depends_on = ["db"]
    ready = { http = "http://localhost:8000/health?x=1" }
    restart = "never"

    [services.migrate]
    command = "migrate"
    oneshot = true
    ''', tmp_path)
    db = _files(cfg, tmp_path, "db")
    for name in ("run", "finish", "down", "timeout-kill", "down-signal", "notification-fd", "data/check",
                 "log/run", "log/notification-fd", "data/nixenv.json"):
        assert name in db
    assert db["timeout-kill"] == ("2500\n", 0o644)
    assert db["down-signal"][0] == "SIGINT\n"
    assert db["notification-fd"][0] == "3\n"
    assert db["run"][1] == 0o755 and db["data/check"][1] == 0o755
    assert "s6-notifyoncheck" in db["run"][0]
    web = _files(cfg, tmp_path, "web")
    assert "exit 125" in web["finish"][0]
    web_meta = json.loads(web["data/nixenv.json"][0])
    assert web_meta["depends_on"] == ["db"] and web_meta["ready"].startswith("http ") and len(web_meta["hash"]) == 16
    assert json.loads(db["data/nixenv.json"][0])["port"] == 5432
    check = web["data/check"][0]
    assert "/dev/tcp/localhost/8000" in check and "'/health?x=1'" in check
    # logs live outside the project tree (config/paths.py), named absolutely
    assert f"s6-log -d3 n20 s1000000 T {tmp_path}/state/logs/db" in db["log/run"][0]
    migrate = _files(cfg, tmp_path, "migrate")
    assert json.loads(migrate["data/nixenv.json"][0])["oneshot"] is True and "notification-fd" not in migrate
    assert "a one-shot task" in migrate["finish"][0]


def test_generated_scripts_pass_shellcheck_syntax(tmp_path):
    cfg = cfg_of('''
    [project]
    name = "p"

    [services.a]
    command = "x"
    ready = { command = "true" }
    restart = "on-failure"

    [services.b]
    command = "y"
    oneshot = true
    ''', tmp_path)
    for name in ("a", "b"):
        for rel, (content, mode) in _files(cfg, tmp_path, name).items():
            if mode == 0o755:
                shell = "bash" if "bash" in content.splitlines()[0] else "sh"
                subprocess.run([shell, "-n"], input=content, text=True, check=True)


def _run_script(root: Path, cfg, name: str, scanner_env: dict[str, str]) -> dict:
    """Execute the generated run script with /bin/sh in its service directory, with the
    environment the scanner would give it; the command dumps its environment and argv as JSON."""
    paths = _paths(root)
    service_dir = paths.service(name)
    for rel, (content, mode) in _files(cfg, root, name).items():
        path = service_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        path.chmod(mode)
    out = subprocess.run(["/bin/sh", "./run", name], cwd=service_dir, capture_output=True, timeout=20,
                         env={"PATH": os.environ["PATH"], **scanner_env})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


DUMP = f"{sys.executable} -c 'import os, json, sys; print(json.dumps(dict(env=dict(os.environ), cwd=os.getcwd(), pid=os.getpid())))'"

env_values = st.one_of(st.sampled_from(HOSTILE_SAMPLES), hostile_text)
# (control characters in names are rejected at validation: tests/unit/config/test_load.py)
names = hostile_text.filter(lambda n: n and not n.startswith(".") and n != "log" and "/" not in n
                            and not any(c < " " or "\x7f" <= c <= "\x9f" for c in n) and len(n.encode()) <= 100)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=names, value=st.one_of(st.sampled_from(HOSTILE_SAMPLES), env_value), own=env_values)
def test_run_script_round_trips_hostile_names_and_values(tmp_path_factory, name, value, own):
    root = tmp_path_factory.mktemp("p")
    (root / "sub dir $x").mkdir()
    cfg = cfg_of(f'''
    [project]
    name = "p"

    [env]
    SHARED = {toml_str(value)}

    [services.{toml_str(name)}]
    command = {toml_str(DUMP)}
    cwd = "sub dir $x"
    port = 4567
    env = {{ OWN = {toml_str(own)} }}
    ''', root)
    # [env] reaches a service through the scanner's environment (the devshell's), untouched
    data = _run_script(root, cfg, name, {"SHARED": value})
    assert data["env"]["SHARED"] == value and data["env"]["OWN"] == own and data["env"]["PORT"] == "4567"
    assert data["env"]["NIXENV_SERVICE"] == name
    assert data["cwd"] == str(root / "sub dir $x")
    # the supervised pid is the program itself: run -> sh -c "exec ..." -> python
    assert (_paths(root).service(name) / "data/pid").read_text().strip() == str(data["pid"])


@pytest.mark.parametrize("ready", [False, True])
def test_on_macos_the_run_script_restores_the_library_path_sip_strips(tmp_path, ready):
    """macOS strips DYLD_* from every process started through the protected /bin/sh: the run
    script sets DYLD_FALLBACK_LIBRARY_PATH again, in the last shell before the command (here
    `uname` answers Darwin; the command records what it got)."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "uname").write_text("#!/bin/sh\necho Darwin\n")
    (fake / "uname").chmod(0o755)
    # (its options, then the command it runs: /bin/sh -c ...)
    (fake / "s6-notifyoncheck").write_text('#!/bin/sh\nwhile [ "$1" != /bin/sh ]; do shift; done\nexec "$@"\n')
    (fake / "s6-notifyoncheck").chmod(0o755)
    ready_line = "ready = { tcp = 1 }" if ready else ""
    cfg = cfg_of(f'''
    [project]
    name = "p"

    [services.mac]
    command = {toml_str(DUMP)}
    {ready_line}
    ''', tmp_path)
    data = _run_script(tmp_path, cfg, "mac", {"PATH": f"{fake}:{os.environ['PATH']}",
                                              "NIXENV_LIBRARY_PATH": "/nix/store/x-libgreet/lib"})
    assert data["env"]["DYLD_FALLBACK_LIBRARY_PATH"] == "/nix/store/x-libgreet/lib"
