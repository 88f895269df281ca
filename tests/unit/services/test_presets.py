"""Preset rendering, without servers: the protocol, exports renaming, and property tests that
hostile names, passwords and settings come out of the shell and SQL quoting exactly."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from nixenv.config.load import DbUser, Service
from nixenv.config.presets import PRESETS
from nixenv.services.presets import REGISTRY, Context, apply_export, plan_for
from nixenv.services.presets import postgres, redis as redis_preset, mysql as mysql_preset
from nixenv.services.presets.base import SQL_ESCAPE_FN, write_file
from nixenv.services.presets.sql import my_ident, my_literal, pg_ident, pg_literal

# one line, no NUL: what the config layer lets through for passwords and settings values
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
LINE = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40)


def ctx_for(service: Service, tmp: Path = Path("/tmp/nx"), run_as=None) -> Context:
    return Context(service=service, port=54321, data_dir=tmp / "data", run_dir=tmp / "run", run_as=run_as,
                   project_root=tmp / "project")


def test_registry_covers_every_preset_of_the_schema():
    assert set(REGISTRY) == set(PRESETS)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_renders_valid_sh(preset):
    extra = {"config_text": "server { listen 127.0.0.1:${PORT}; }"} if preset == "nginx" else {}
    service = Service(name="svc", command="", preset=preset, **extra)
    plan = plan_for(ctx_for(service, run_as="nobody"))
    for script in (plan.setup, plan.command, plan.ready, plan.ensure):
        assert subprocess.run(["sh", "-n", "-c", script]).returncode == 0
    assert plan.packages[0].attr == PRESETS[preset].versions[""]
    assert set(plan.exports) <= set(PRESETS[preset].exports)
    assert plan.command.startswith("exec ")


def test_postgres_plan_details():
    service = Service(name="db", command="", preset="postgres", version="16", databases=("shop",),
                      extensions=("pgvector", "pg_trgm", "timescaledb"),
                      users=(DbUser("shop", password="a b/c", databases=("shop",)),))
    plan = plan_for(ctx_for(service, run_as="nobody"))
    assert plan.packages[0].attr == "postgresql_16"
    assert plan.packages[0].with_packages == ("pgvector", "timescaledb")  # contrib is in postgresql itself
    assert plan.stop_signal == "INT"
    assert plan.command.startswith("exec s6-setuidgid nobody postgres ")
    argv = shlex.split(plan.command)
    assert "listen_addresses=127.0.0.1" in argv and "port=54321" in argv
    assert "shared_preload_libraries=timescaledb" in argv
    assert 'CREATE EXTENSION IF NOT EXISTS "vector"' in plan.ensure
    assert plan.exports["DATABASE_URL"] == "postgresql://shop:a%20b%2Fc@127.0.0.1:54321/shop"
    assert plan.exports["PGHOST"] == "/tmp/nx/run" and plan.exports["PGDATABASE"] == "shop"


def test_password_env_is_a_reference_never_a_value():
    service = Service(name="db", command="", preset="postgres", databases=("shop",),
                      users=(DbUser("shop", password_env="SHOP_PW", databases=("shop",)),))
    plan = plan_for(ctx_for(service))
    assert plan.exports["DATABASE_URL"] == "postgresql://shop:${SHOP_PW}@127.0.0.1:54321/shop"
    assert '"${SHOP_PW}"' in plan.ensure


def test_apply_export_renames_and_drops():
    service = Service(name="db", command="", preset="postgres", export={"DATABASE_URL": "SHOP_DB", "PGHOST": ""})
    plan = plan_for(ctx_for(service))
    out = apply_export(plan, service)
    assert "SHOP_DB" in out and "DATABASE_URL" not in out and "PGHOST" not in out and "PGPORT" in out


def test_mysql_versions_pick_their_tools():
    maria = plan_for(ctx_for(Service(name="m", command="", preset="mysql", version="11.4")))
    assert maria.packages[0].attr == "mariadb_114" and "mariadbd --defaults-file" in maria.command
    mysql = plan_for(ctx_for(Service(name="m", command="", preset="mysql", version="mysql-8.4")))
    assert mysql.packages[0].attr == "mysql84" and "mysqld" in mysql.command and "--initialize-insecure" in mysql.setup


# --- property tests: quoting survives exactly -------------------------------------------------


def run_sh(script: str, env=None) -> str:
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


@settings(max_examples=60, deadline=None)
@given(TEXT)
def test_write_file_writes_exactly(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("w") / "f"
    ctx = ctx_for(Service(name="x", command="", preset="redis"))
    run_sh("fail() { exit 1; }\n" + write_file(ctx, path, text))
    assert path.read_bytes() == text.encode()


@settings(max_examples=60, deadline=None)
@given(LINE)
def test_sql_escape_fn_matches_python_quoting(value):
    """The shell-only escaper used for password_env equals the Python quoting, byte for byte."""
    out = run_sh(SQL_ESCAPE_FN + 'sql_escape "$V"', env={**os.environ, "V": value})
    assert "E'" + out + "'" == pg_literal(value)


@settings(max_examples=60, deadline=None)
@given(LINE)
def test_postgres_setting_values_reach_argv_exactly(value):
    service = Service(name="db", command="", preset="postgres", settings={"nixenv.x": value})
    argv = shlex.split(postgres.plan(ctx_for(service)).command)
    assert f"nixenv.x={value}" in argv


def unquote_redis(text: str) -> str:
    """Redis's sdssplitargs for one double-quoted argument (the subset redis_quote emits)."""
    assert text[0] == text[-1] == '"'
    out, i, body = [], 0, text[1:-1]
    while i < len(body):
        if body[i] == "\\":
            if body[i + 1] == "x":
                out.append(chr(int(body[i + 2:i + 4], 16)))
                i += 4
                continue
            out.append(body[i + 1])
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


@settings(max_examples=100, deadline=None)
@given(LINE)
def test_redis_quote_round_trips(value):
    quoted = redis_preset.redis_quote(value)
    assert "\n" not in quoted and unquote_redis(quoted) == value


@settings(max_examples=100, deadline=None)
@given(LINE)
def test_sql_quoting_has_no_way_out(value):
    # PostgreSQL literal: E'...' where every ' is doubled and every \ doubled
    import re
    body = pg_literal(value)[2:-1]
    # an unpaired quote would end the literal; decoding the pairs left to right gives the value
    assert re.fullmatch(r"(?:[^'\\]|''|\\\\)*", body, re.S)
    assert re.sub(r"''|\\\\", lambda m: m.group(0)[0], body) == value
    assert pg_ident(value)[1:-1].replace('""', '"') == value
    assert my_ident(value)[1:-1].replace("``", "`") == value
    body = my_literal(value)[1:-1]
    decoded = body.replace("\\\\", "\x00").replace("\\'", "'").replace("\x00", "\\")
    assert decoded == value


def test_nul_is_refused():
    with pytest.raises(ValueError):
        pg_literal("a\x00b")


def test_mysql_grant_escapes_wildcards():
    assert mysql_preset.grant_target("my_db") == "`my\\_db`.*"
