"""Presets against the real servers from Debian (postgresql-15, mariadb-server, redis-server,
memcached, rabbitmq-server, nginx), no mocks: each Plan's setup, command, ready and ensure run
as the supervisor runs them (sh -c), then the clients check what a user would.

As root (CI, these machines) the servers run as `nobody` (run_as): it exists on every
Debian/Ubuntu machine, so the tests change nothing on the system; its home is /nonexistent,
which also shows that no preset needs a home directory. pytest's tmp dirs are mode 0700 under
root, so the data lives under a 0755 directory of its own in /tmp.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from testkit import require
from nixenv.config.load import DbUser, Service
from nixenv.services.presets import Context, Plan, plan_for

RUN_AS = "nobody" if os.geteuid() == 0 else None
PG_BIN = "/usr/lib/postgresql/15/bin"  # Debian keeps initdb/postgres/pg_ctl off PATH


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def base():
    path = Path(tempfile.mkdtemp(prefix="nxp-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def sh(script: str, env=None, check=True, timeout=60) -> subprocess.CompletedProcess:
    result = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}\nscript:\n{script}")
    return result


def environ(extra=None) -> dict[str, str]:
    e = dict(os.environ)
    e["PATH"] = f"{PG_BIN}:/usr/lib/rabbitmq/bin:{e.get('PATH', '')}"
    e.update(extra or {})
    return e


class Server:
    """Runs a Plan the way the supervisor does: setup, command, poll ready, ensure."""

    def __init__(self, ctx: Context, env=None):
        self.ctx, self.env = ctx, environ(env)
        self.proc: subprocess.Popen | None = None
        self.log = ctx.data_dir.parent / f"{ctx.service.name}.log"
        self.timings: dict[str, float] = {}

    @property
    def plan(self) -> Plan:
        return plan_for(self.ctx)

    def start(self, timeout=30.0) -> "Server":
        plan = self.plan
        t0 = time.monotonic()
        sh(plan.setup, env=self.env)
        self.timings["setup"] = time.monotonic() - t0
        with open(self.log, "a") as log:
            log.write("=== nixenv test: start ===\n")
            log.flush()
            self.proc = subprocess.Popen(["sh", "-c", plan.command], env=self.env, stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while sh(plan.ready, env=self.env, check=False).returncode != 0:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"not ready after {timeout} s:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.05)
        self.timings["ready"] = time.monotonic() - t0
        if plan.ensure:
            sh(plan.ensure, env=self.env)
        self.timings["ensure"] = time.monotonic() - t0
        return self

    def stop(self, timeout=None) -> float:
        plan = self.plan
        assert self.proc is not None
        t0 = time.monotonic()
        self.proc.send_signal(getattr(signal, "SIG" + plan.stop_signal))
        self.proc.wait(timeout or plan.stop_timeout)
        return time.monotonic() - t0

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)  # the server and anything it forked
        self.proc.wait(10)

    def cleanup(self) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)

    def client(self, *args: str, input=None, check=True, env=None) -> str:
        result = subprocess.run([*self.plan.client, *args], env={**self.env, **(env or {})}, input=input,
                                capture_output=True, text=True, timeout=30)
        if check and result.returncode != 0:
            raise AssertionError(f"{self.plan.client} {args} exited {result.returncode}: {result.stderr}")
        return result.stdout.strip()


@pytest.fixture
def servers():
    started: list[Server] = []
    yield started
    for server in started:
        server.cleanup()


def context(base: Path, name: str, service: Service, port: int | None = None) -> Context:
    return Context(service=service, port=port or free_port(), data_dir=base / name / "data",
                   run_dir=base / name / "run", run_as=RUN_AS, project_root=base / "project")


# --- postgres ---------------------------------------------------------------------------------


def test_postgres_full_cycle(base, servers):
    require("psql", "pg_isready", "s6-setuidgid")
    (base / "project").mkdir()
    (base / "project" / "init.sql").write_text("CREATE TABLE seeded (v text); INSERT INTO seeded VALUES ('once');\n")
    hostile = "it's a \"value\" with $HOME `x` \\ and ; -- end"
    service = Service(name="db", command="", preset="postgres", databases=("shop",),
                      users=(DbUser("shop", password="p@ss'w\"rd\\ $x", databases=("shop",)),
                             DbUser("reporter", password_env="REPORTER_PW", databases=("shop",))),
                      settings={"max_connections": 50, "nixenv.hostile": hostile, "fsync": False},
                      extensions=("pg_trgm",), init_sql=("init.sql",))
    ctx = context(base, "pg", service)
    env = {"REPORTER_PW": "r3p'\\\"orter pw"}
    server = Server(ctx, env)
    servers.append(server)
    server.start()
    cold = dict(server.timings)
    psql = server.client
    assert psql("-tAc", "select current_database()") == "shop"
    assert psql("-tAc", "show max_connections") == "50"
    assert psql("-tAc", "show nixenv.hostile") == hostile
    assert psql("-tAc", "show server_encoding") == "UTF8"
    assert psql("-tAc", "select extname from pg_extension where extname = 'pg_trgm'") == "pg_trgm"
    assert psql("-tAc", "select v from seeded") == "once"
    assert psql("-tAc", "select rolname from pg_roles where rolname in ('shop', 'reporter') order by 1") == "reporter\nshop"

    # the exported URL works over TCP with the password; a wrong password does not
    url = server.plan.exports["DATABASE_URL"]
    assert url.startswith("postgresql://shop:") and f"127.0.0.1:{ctx.port}/shop" in url
    out = subprocess.run(["psql", url, "-tAc", "select current_user"], capture_output=True, text=True, env=server.env)
    assert out.stdout.strip() == "shop", out.stderr
    bad = subprocess.run(["psql", f"postgresql://shop:wrong@127.0.0.1:{ctx.port}/shop", "-tAc", "select 1"],
                         capture_output=True, text=True, env=server.env)
    assert bad.returncode != 0 and "password authentication failed" in bad.stderr
    env_user = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(ctx.port), "-U", "reporter", "-d", "shop",
                               "-tAc", "create table t_reporter (x int); select current_user"],
                              capture_output=True, text=True, env={**server.env, "PGPASSWORD": env["REPORTER_PW"]})
    assert env_user.stdout.strip().splitlines()[-1] == "reporter", env_user.stderr

    # a database added to the config is created by the next ensure; init_sql ran once only
    server.ctx = ctx = Context(**{**ctx.__dict__, "service": Service(**{**service.__dict__, "databases": ("shop", "analytics")})})
    os.environ.setdefault("NIXENV_TEST", "1")
    sh(server.plan.ensure, env=server.env)
    assert psql("-tAc", "select datname from pg_database where datname = 'analytics'") == "analytics"
    assert psql("-tAc", "select count(*) from seeded") == "1"
    assert psql("-d", "analytics", "-tAc", "select v from seeded") == "once"

    # stop with an open session: fast shutdown, quick, and the next start is clean
    session = subprocess.Popen([*server.plan.client, "-q"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=server.env, text=True)
    session.stdin.write("select 1;\n")
    session.stdin.flush()
    time.sleep(0.3)
    stopped = server.stop()
    assert stopped < 3, stopped
    session.kill()
    server.start()
    warm = dict(server.timings)
    log = server.log.read_text().split("=== nixenv test: start ===")[-1]
    assert "not properly shut down" not in log and "automatic recovery" not in log, log
    assert "database system is ready to accept connections" in log

    # kill -9: data intact after the restart (crash recovery is PostgreSQL's job, and it does it)
    psql("-c", "create table after_kill (v int); insert into after_kill values (42)")
    server.kill9()
    server.start()
    assert psql("-tAc", "select v from after_kill") == "42"
    assert server.stop() < 3
    print(f"\npostgres: initdb+first ready {cold['ready']:.2f}s (setup {cold['setup']:.2f}s), ensure done "
          f"{cold['ensure']:.2f}s; warm ready {warm['ready']:.2f}s; stop with open session {stopped:.2f}s")


def test_postgres_setup_fails_clearly(base):
    """A failing init prints one clear line and exits non-zero (here: data dir is a file)."""
    service = Service(name="db", command="", preset="postgres")
    ctx = context(base, "pgbad", service)
    ctx.data_dir.parent.mkdir(parents=True)
    ctx.data_dir.write_text("not a directory")
    result = sh(plan_for(ctx).setup, env=environ(), check=False)
    assert result.returncode != 0 and "nixenv: db (setup):" in result.stderr


# --- mysql (MariaDB) --------------------------------------------------------------------------


def test_mariadb_full_cycle(base, servers):
    require("mariadbd", "mariadb-install-db", "mariadb", "mariadb-admin", "s6-setuidgid")
    (base / "project").mkdir()
    (base / "project" / "seed.sql").write_text("CREATE TABLE seeded (v varchar(10)); INSERT INTO seeded VALUES ('once');\n")
    hostile = "it's a \"value\" \\ with `ticks` $HOME"
    service = Service(name="mysql", command="", preset="mysql", databases=("shop",),
                      users=(DbUser("shop", password="p@ss'w\"rd\\ $x", databases=("shop",)),
                             DbUser("env_user", password_env="ENV_PW", databases=("shop",))),
                      settings={"report_host": hostile, "max_connections": 40, "sql_mode": "NO_BACKSLASH_ESCAPES"},
                      init_sql=("seed.sql",))
    ctx = context(base, "my", service)
    env = {"ENV_PW": "e'nv\\pw\"x"}
    server = Server(ctx, env)
    servers.append(server)
    server.start()
    cold = dict(server.timings)
    q = lambda sql, *extra: server.client("-N", "--raw", "-e", sql, *extra)  # noqa: E731
    assert q("select database()") == "shop"
    assert q("select @@report_host") == hostile
    assert q("select @@max_connections") == "40"
    assert q("select v from seeded") == "once"

    def tcp(user, password, sql="select current_user()"):
        return subprocess.run(["mariadb", "--no-defaults", "--protocol=tcp", "-h", "127.0.0.1", "-P", str(ctx.port),
                               "-u", user, f"--password={password}", "-N", "-e", sql, "shop"],
                              capture_output=True, text=True)
    shop = tcp("shop", "p@ss'w\"rd\\ $x")
    assert shop.stdout.strip() == "shop@%", shop.stderr
    assert tcp("env_user", env["ENV_PW"]).stdout.strip() == "env_user@%"
    assert "Access denied" in tcp("shop", "wrong").stderr
    # the exported URL's user and database
    assert server.plan.exports["DATABASE_URL"].endswith(f"@127.0.0.1:{ctx.port}/shop")
    root_tcp = subprocess.run(["mariadb", "--no-defaults", "--protocol=tcp", "-h", "127.0.0.1", "-P", str(ctx.port),
                               "-u", "root", "-N", "-e", "select 1"], capture_output=True, text=True)
    assert root_tcp.stdout.strip() == "1", root_tcp.stderr

    server.ctx = ctx = Context(**{**ctx.__dict__, "service": Service(**{**service.__dict__, "databases": ("shop", "analytics")})})
    sh(server.plan.ensure, env=server.env)
    assert q("select count(*) from analytics.seeded") == "1"
    assert q("select count(*) from shop.seeded") == "1"

    session = subprocess.Popen([*server.plan.client], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=server.env, text=True)
    session.stdin.write("select 1;\n")
    session.stdin.flush()
    time.sleep(0.3)
    stopped = server.stop()
    session.kill()
    assert stopped < 5, stopped
    server.start()
    warm = dict(server.timings)
    log = server.log.read_text().split("=== nixenv test: start ===")[-1]
    assert "crash recovery" not in log.lower() and "was not properly closed" not in log, log
    q("create table shop.after_kill (v int); insert into shop.after_kill values (42)")
    server.kill9()
    server.start()
    assert q("select v from shop.after_kill") == "42"
    server.stop()
    print(f"\nmariadb: install-db+first ready {cold['ready']:.2f}s; warm ready {warm['ready']:.2f}s; "
          f"stop with open session {stopped:.2f}s")


# --- redis ------------------------------------------------------------------------------------


def test_redis(base, servers):
    require("redis-server", "redis-cli", "s6-setuidgid")
    hostile = "a\"b\\c 'd' $HOME \x01 é"
    service = Service(name="cache", command="", preset="redis",
                      settings={"save": "900 1 300 10", "masterauth": hostile, "appendonly": True})
    ctx = context(base, "redis", service)
    server = Server(ctx)
    servers.append(server)
    server.start()
    cold = server.timings["ready"]
    assert server.client("config", "get", "save").splitlines()[1] == "900 1 300 10"
    got = subprocess.run([*server.plan.client, "--raw", "config", "get", "masterauth"], capture_output=True)
    assert got.stdout.split(b"\n")[1].decode() == hostile
    assert server.client("config", "get", "dir").splitlines()[1] == str(ctx.data_dir)
    assert server.plan.exports == {"REDIS_URL": f"redis://127.0.0.1:{ctx.port}"}
    server.client("set", "k", "v")
    stopped = server.stop()
    server.start()
    assert server.client("get", "k") == "v"
    server.client("set", "k2", "v2")
    time.sleep(1.1)  # appendfsync everysec
    server.kill9()
    server.start()
    assert server.client("get", "k2") == "v2"
    server.stop()
    print(f"\nredis: first ready {cold:.2f}s, stop {stopped:.2f}s")


# --- memcached, nginx, rabbitmq -----------------------------------------------------------------


def test_memcached(base, servers):
    require("memcached", "bash")
    service = Service(name="mc", command="", preset="memcached", settings={"m": 32, "t": 2})
    ctx = context(base, "mc", service)
    server = Server(ctx)
    servers.append(server)
    server.start()
    with socket.create_connection(("127.0.0.1", ctx.port)) as s:
        s.sendall(b"set k 0 0 1\r\nv\r\nget k\r\nstats settings\r\n")
        time.sleep(0.2)
        data = s.recv(65536).decode()
    assert "STORED" in data and "VALUE k 0 1" in data and "STAT maxbytes 33554432" in data
    assert server.stop() < 2


def test_nginx(base, servers):
    require("nginx", "bash", "awk")
    (base / "project" / "www").mkdir(parents=True)
    (base / "project" / "www" / "index.html").write_text("hello from nginx\n")
    (base / "project").chmod(0o755)
    conf = ("server {\n  listen 127.0.0.1:${PORT};\n  root " + str(base / "project" / "www") + ";\n"
            "  location /echo { return 200 \"$request_uri ${GREETING} ${host}\"; }\n}\n")
    service = Service(name="web", command="", preset="nginx", config_text=conf)
    ctx = context(base, "nginx", service)
    server = Server(ctx, {"GREETING": "hi there"})
    servers.append(server)
    server.start()
    import urllib.request
    url = server.plan.exports["NGINX_URL"]
    assert urllib.request.urlopen(url + "/").read() == b"hello from nginx\n"
    assert urllib.request.urlopen(url + "/echo?a").read().decode() == "/echo?a hi there 127.0.0.1"
    assert server.stop() < 2
    # a broken configuration fails setup with nginx's own message
    bad = Context(**{**ctx.__dict__, "service": Service(**{**service.__dict__, "config_text": "server { listen"})})
    result = sh(plan_for(bad).setup, env=environ(), check=False)
    assert result.returncode != 0 and "nginx rejected the configuration" in result.stderr


def test_rabbitmq(base, servers):
    require("rabbitmq-server", "rabbitmqctl", "bash")
    service = Service(name="mq", command="", preset="rabbitmq",
                      users=(DbUser("app", password="s3c'r\"et $x", databases=("appvh",)),))
    port = free_port()
    while port + 20000 > 65535 or port + 10000 > 65535:
        port = free_port()
    ctx = context(base, "mq", service, port=port)
    server = Server(ctx)
    servers.append(server)
    server.start(timeout=60)
    import base64
    import json
    import urllib.request
    mgmt = server.plan.exports["RABBITMQ_MANAGEMENT_URL"]
    request = urllib.request.Request(mgmt + "/api/whoami", headers={
        "Authorization": "Basic " + base64.b64encode("app:s3c'r\"et $x".encode()).decode()})
    assert json.loads(urllib.request.urlopen(request).read())["name"] == "app"
    assert server.plan.exports["AMQP_URL"] == f"amqp://app:s3c%27r%22et%20%24x@127.0.0.1:{ctx.port}/appvh"
    stopped = server.stop()
    print(f"\nrabbitmq: first ready {server.timings['ready']:.2f}s, ensure done {server.timings['ensure']:.2f}s, "
          f"stop {stopped:.2f}s")
