"""The stack as a user runs it: generated flake (the stand-in nixpkgs gives postgresql_17 and
redis from Debian's binaries), `direnv allow`, `nixenv services up` from outside the shell (the
scanner starts through `direnv exec`), and the preset's exports in the direnv shell. Also the
compose import's round trip: `nixenv import compose`, then `services up` brings the stack up.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import textwrap
from pathlib import Path

import pytest

from testkit import direnv_exec, nixenv, require, run, write_project


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def kill_leftovers(state_home: Path) -> None:
    marker = f"NIXENV_SCANDIR={state_home}/".encode()
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and any(e.startswith(marker) for e in
                                       Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")):
                os.kill(int(entry), signal.SIGKILL)
        except OSError:
            pass


@pytest.fixture
def shell_project(tmp_path, env, state_home):
    require("nix", "direnv", "git", "s6-svscan", "redis-server")
    roots: list[Path] = []

    def make(toml: str, name: str = "shop") -> Path:
        root = write_project(tmp_path / name, textwrap.dedent(toml), env=env)
        roots.append(root)
        return root

    yield make
    for root in roots:
        nixenv("services", "down", cwd=root, env=env, check=False, timeout=120)
    kill_leftovers(state_home)


def test_postgres_preset_database_url_in_the_direnv_shell(shell_project, env):
    root = shell_project('''
    [project]
    name = "shop"

    [services.db]
    preset = "postgres"
    databases = ["shop"]
    ''')
    nixenv("generate", cwd=root, env=env)
    flake = (root / "flake.nix").read_text()
    assert '"postgresql_17"' in flake and '"services.db.preset"' in flake
    run(["direnv", "allow", root], cwd=root, env=env)
    up = nixenv("services", "up", cwd=root, env=env, timeout=300)
    assert "ready" in up.stdout
    via = json.loads(nixenv("services", "status", "--json", cwd=root, env=env).stdout)["scanner"]["via"]
    assert via == "direnv"
    out = direnv_exec(root, "sh", "-c", 'psql "$DATABASE_URL" -tAc "select current_database()"', env=env)
    assert out.stdout.strip() == "shop"

    # a database added later is created by the next `up`, and the shell keeps its URL
    toml = (root / "nixenv.toml").read_text().replace('databases = ["shop"]', 'databases = ["shop", "analytics"]')
    (root / "nixenv.toml").write_text(toml)
    nixenv("services", "up", cwd=root, env=env, timeout=300)
    names = direnv_exec(root, "sh", "-c", 'psql "$DATABASE_URL" -tAc "select datname from pg_database order by 1"',
                        env=env).stdout.split()
    assert {"shop", "analytics"} <= set(names)


def test_env_overrides_a_preset_export_in_the_shell_and_in_services_alike(shell_project, env):
    """One environment order: [env] wins over a preset's export in both places."""
    port = free_port()
    root = shell_project(f'''
    [project]
    name = "order"

    [env]
    REDIS_URL = "redis://example.invalid:1/9"

    [services.cache]
    preset = "redis"

    [services.show]
    command = "echo \\"url=$REDIS_URL\\"; exec python3 -m http.server {port} --bind 127.0.0.1"
    port = {port}
    ready = {{ tcp = {port} }}
    depends_on = ["cache"]
    ''', name="order")
    nixenv("generate", cwd=root, env=env)
    run(["direnv", "allow", root], cwd=root, env=env)
    nixenv("services", "up", cwd=root, env=env, timeout=300)
    shell = direnv_exec(root, "sh", "-c", 'echo "$REDIS_URL"', env=env).stdout.strip()
    logs = nixenv("services", "logs", "show", cwd=root, env=env).stdout
    assert shell == "redis://example.invalid:1/9"
    assert "url=redis://example.invalid:1/9" in logs


COMPOSE = '''
services:
  db:
    image: postgres:16
    environment:
      POSTGRES_DB: shop
      POSTGRES_PASSWORD: secret
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -U postgres"]
  redis:
    image: redis:7-alpine
  web:
    build: .
    command: python3 -m http.server 8000
    ports: ["8000:8000"]
    depends_on:
      db:
        condition: service_healthy
    environment:
      - DATABASE_URL=postgres://postgres:secret@db:5432/shop
'''


def test_imported_compose_stack_comes_up_web_after_db_is_ready(shell_project, env):
    require("sops", "age-keygen")
    root = shell_project('''
    [project]
    name = "composed"
    ''', name="composed")
    (root / "compose.yaml").write_text(textwrap.dedent(COMPOSE))
    (root / "Dockerfile").write_text("FROM python:3.12\n")
    # secret-looking values go to the encrypted secrets file, never into nixenv.toml
    nixenv("secrets", "init", "--yes", cwd=root, env=env)
    report = nixenv("import", "compose", cwd=root, env=env)
    toml = (root / "nixenv.toml").read_text()
    assert 'preset = "postgres"' in toml and 'preset = "redis"' in toml and '"shop"' in toml
    assert "DATABASE_URL" not in toml  # the db preset exports it
    assert "web" in report.stdout
    assert "POSTGRES_PASSWORD" in nixenv("secrets", "list", cwd=root, env=env).stdout
    nixenv("generate", cwd=root, env=env)
    run(["git", "add", "-A"], cwd=root, env=env)
    run(["direnv", "allow", root], cwd=root, env=env)
    up = nixenv("services", "up", cwd=root, env=env, timeout=300)
    events = up.stderr
    assert events.index("db ready") < events.index("starting web")
    states = {s["name"]: s["state"] for s in
              json.loads(nixenv("services", "status", "--json", cwd=root, env=env).stdout)["services"]}
    assert states["db"] == "ready" and states["redis"] == "ready" and states["web"] in ("up", "ready")
    db_port = json.loads(nixenv("services", "status", "--json", cwd=root, env=env).stdout)["services"]
    port = next(s["port"] for s in db_port if s["name"] == "db")
    web_env = Path(f"/proc/{next(s['pid'] for s in db_port if s['name'] == 'web')}/environ").read_bytes()
    # web's DATABASE_URL is the db preset's export: the real port, the password from the secrets
    url = next(e for e in web_env.split(b"\0") if e.startswith(b"DATABASE_URL=")).decode()
    assert url == f"DATABASE_URL=postgresql://postgres:secret@127.0.0.1:{port}/shop"
    assert "secret" not in toml.replace("secrets", "")
