"""compose model -> nixenv.toml services, secrets and report (pure: no files written)."""

from __future__ import annotations

import shlex
import textwrap
from pathlib import Path

import pytest

from nixenv.compose.load import find_compose_files, load_project
from nixenv.compose.mapping import is_secret_name, map_project
from nixenv.compose.images import parse_image, preset_for
from nixenv.config.load import parse

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "compose"

ISSUE_EXAMPLE = """\
services:
  db:
    image: postgres:16
    environment: [POSTGRES_DB=shop, POSTGRES_PASSWORD=secret]
  redis:
    image: redis:7-alpine
  web:
    build: .
    command: python -m http.server 8000
    ports: ["8000:8000"]
    depends_on: {db: {condition: service_healthy}}
    environment: [DATABASE_URL=postgres://postgres:secret@db:5432/shop]
"""


def mapped(tmp_path: Path, text: str, *, files=None, secrets_enabled=False, **dockerfiles):
    (tmp_path / "compose.yaml").write_text(textwrap.dedent(text))
    for name, content in dockerfiles.items():
        (tmp_path / name.replace("__", "/")).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name.replace("__", "/")).write_text(content)
    return map_project(load_project(files or [tmp_path / "compose.yaml"], environ={}),
                       secrets_enabled=secrets_enabled)


def valid(services, root: Path):
    import tomli_w

    return parse(tomli_w.dumps({"project": {"name": "t"}, "services": dict(services)}), root=root)


def test_issue_example(tmp_path):
    result = mapped(tmp_path, ISSUE_EXAMPLE, Dockerfile="FROM python:3.12\n")
    assert result.services["db"] == {
        "preset": "postgres", "version": "16", "databases": ["shop"],
        "users": [{"name": "postgres", "password_env": "POSTGRES_PASSWORD", "databases": ["shop"]}]}
    assert result.services["redis"] == {"preset": "redis"}
    web = result.services["web"]
    assert web["command"] == "python -m http.server 8000" and web["port"] == 8000
    assert web["depends_on"] == ["db"]
    # the db preset exports DATABASE_URL for this user and database (with the real port and the
    # password from the secrets): nixenv.toml holds no copy of it, and no password
    assert "env" not in web
    assert result.secrets == {"POSTGRES_PASSWORD": "secret"}
    assert "secret" not in str(result.services)
    assert "secret" not in str({k: v for k, v in result.services.items() if k != "web"})
    report = "\n".join(result.report)
    assert "db: image postgres:16 -> preset postgres 16" in report
    assert "web: build . -> service `python -m http.server 8000` on port 8000" in report
    assert "nixenv secrets init" in report and "READY" in report
    cfg = valid(result.services, tmp_path)
    assert cfg.services["db"].preset == "postgres" and cfg.services["web"].depends_on == ("db",)


@pytest.mark.parametrize("image, preset, version, extensions", [
    ("postgres:16-alpine", "postgres", "16", ()), ("docker.io/library/postgres:15.4", "postgres", "15", ()),
    ("bitnami/postgresql:17", "postgres", "17", ()), ("postgis/postgis:16-3.4", "postgres", "16", ("postgis",)),
    ("pgvector/pgvector:pg16", "postgres", "16", ("pgvector",)), ("redis:7.2-alpine", "redis", "", ()),
    ("valkey/valkey:8", "valkey", "", ()), ("mysql:8.0", "mysql", "mysql-8.4", ()),
    ("mariadb:10.11", "mariadb", "10.11", ()), ("memcached:1.6-alpine", "memcached", "", ()),
    ("rabbitmq:3-management-alpine", "rabbitmq", "", ()), ("postgres:9.6", "postgres", "", ()),
])
def test_known_images(image, preset, version, extensions):
    match = preset_for(parse_image(image))
    assert (match.preset, match.version, match.extensions) == (preset, version, extensions)


def test_unknown_image_is_reported_with_a_package(tmp_path):
    result = mapped(tmp_path, "services:\n  m: {image: mongo:7}\n  z: {image: example.com/acme/zzz:1}\n")
    assert result.services == {}
    report = "\n".join(result.report)
    assert "m: not imported: image mongo:7 has no nixenv preset; nixpkgs has `mongodb`" in report
    assert "z: not imported: image example.com/acme/zzz:1 has no nixenv preset and no nixpkgs package" in report


def test_build_from_a_server_image_is_its_preset(tmp_path):
    result = mapped(tmp_path, """\
        services:
          db:
            build: {context: ., dockerfile: db/Dockerfile, args: {PG: "15"}}
            environment: {POSTGRES_USER: shop, POSTGRES_PASSWORD: pw}
        """, db__Dockerfile="ARG PG=14\nFROM postgres:${PG}\nCOPY init/schema.sql /docker-entrypoint-initdb.d/\n",
        init__schema_sql="")
    (tmp_path / "init").mkdir(exist_ok=True)
    assert result.services["db"]["preset"] == "postgres" and result.services["db"]["version"] == "15"
    assert result.services["db"]["databases"] == ["shop"]  # the image's default: POSTGRES_DB = POSTGRES_USER


def test_mysql_and_rabbitmq_users(tmp_path):
    result = mapped(tmp_path, """\
        services:
          db:
            image: mariadb:11.4
            environment: {MARIADB_DATABASE: app, MARIADB_USER: app, MARIADB_PASSWORD: apppw, MARIADB_ROOT_PASSWORD: r}
          mq:
            image: rabbitmq:3-management
            environment: {RABBITMQ_DEFAULT_USER: bunny, RABBITMQ_DEFAULT_PASS: carrot}
        """)
    assert result.services["db"] == {"preset": "mariadb", "version": "11.4", "databases": ["app"],
                                     "users": [{"name": "app", "password_env": "MARIADB_PASSWORD", "databases": ["app"]}]}
    assert result.services["mq"]["users"] == [{"name": "bunny", "password_env": "RABBITMQ_DEFAULT_PASS"}]
    assert result.secrets == {"MARIADB_PASSWORD": "apppw", "RABBITMQ_DEFAULT_PASS": "carrot"}
    assert any("MARIADB_ROOT_PASSWORD: not carried over" in line for line in result.report)
    valid(result.services, tmp_path)


def test_django_fixture():
    root = FIXTURES / "django"
    result = map_project(load_project([root / "local.yml"], environ={}))
    services = result.services
    assert list(services) == ["django", "migrate", "postgres", "redis", "celeryworker", "celerybeat", "flower"]
    assert services["postgres"]["preset"] == "postgres" and services["postgres"]["version"] == "16"
    assert services["postgres"]["users"] == [{"name": "debug", "password_env": "POSTGRES_PASSWORD", "databases": ["shop"]}]
    assert services["migrate"]["oneshot"] is True
    assert "migrate" in services["celeryworker"]["depends_on"]
    assert services["django"]["port"] == 8000 and services["flower"]["port"] == 5555
    assert services["django"]["command"] == "bash compose/production/django/entrypoint bash compose/local/django/start"
    env = services["django"]["env"]
    assert "REDIS_URL" not in env  # the redis preset exports it
    assert env["CELERY_BROKER_URL"] == "redis://127.0.0.1:${services.redis.port}/0"
    assert env["POSTGRES_HOST"] == "127.0.0.1" and env["POSTGRES_PORT"] == "${services.postgres.port}"
    assert "DJANGO_SECRET_KEY" not in env and result.secrets["DJANGO_SECRET_KEY"] == "a 'quoted' $ecret"
    report = "\n".join(result.report)
    assert "mailpit: not imported" in report and "`mailpit`" in report
    assert "`/start` is the container's copy of compose/local/django/start" in report
    assert len([line for line in result.report if "DJANGO_SECRET_KEY" in line]) == 1  # one secret, reported once
    valid(services, root)


def test_node_fixture():
    root = FIXTURES / "node"
    result = map_project(load_project(find_compose_files(root), environ={}))
    api = result.services["api"]
    assert api["cwd"] == "api" and api["command"] == "npm run dev"
    assert api["ready"] == {"command": "wget -qO- http://localhost:3000/health"}
    assert (api["restart"], api["stop_signal"], api["stop_timeout"]) == ("always", "INT", 90)
    assert api["env"]["MONGO_URL"] == "mongodb://127.0.0.1:27017/app"
    assert api["depends_on"] == ["postgres"]
    assert result.services["postgres"]["init_sql"] == ["db/init.sql"]
    assert "port" not in result.services["postgres"]
    valid(result.services, root)


def test_unmappable_fixture_report():
    root = FIXTURES / "unmappable"
    result = map_project(load_project(find_compose_files(root), environ={}))
    assert list(result.services) == ["app"]
    app = result.services["app"]
    assert app["command"].startswith("gunicorn app:app") and app["restart"] == "never"
    assert app["env"] == {"ES_URL": "http://127.0.0.1:9200", "SMTP_HOST": "127.0.0.1"}
    report = "\n".join(result.report)
    for expected in ("search: not imported", "`elasticsearch`", "mail: not imported", "`mailhog`",
                     "mystery: not imported", "proxy: not imported: an nginx preset needs its configuration",
                     "app: user: not carried over", "app: cap_add: not carried over", "app: privileged: not carried over",
                     "app: networks: not carried over", "app: deploy: not carried over",
                     "app: volume appdata:/var/lib/app: not carried over", "refers to search, which was not imported"):
        assert expected in report
    valid(result.services, root)


def test_hostnames_are_matched_whole(tmp_path):
    result = mapped(tmp_path, """\
        services:
          db: {image: postgres:16}
          worker:
            build: .
            command: wait-for db:5432 -- celery --broker redis://db-cache:6379 worker --host db
            environment:
              A: "postgres://u@db:5432/x"
              B: "http://mydb:5432/"
              C: "db.example.com:5432"
              DB_HOST: db
              QUEUE: db
              D: "redis://db/0"
        """, Dockerfile="FROM python:3\n")
    worker = result.services["worker"]
    assert worker["command"] == ("wait-for 127.0.0.1:${services.db.port} -- celery --broker redis://db-cache:6379 "
                                 "worker --host 127.0.0.1")
    assert worker["env"] == {"A": "postgres://u@127.0.0.1:${services.db.port}/x", "B": "http://mydb:5432/",
                             "C": "db.example.com:5432", "DB_HOST": "127.0.0.1", "QUEUE": "db",
                             "D": "redis://127.0.0.1:${services.db.port}/0"}


def test_commands_restart_stop_and_conditions(tmp_path):
    result = mapped(tmp_path, """\
        services:
          setup:
            build: .
            entrypoint: ["sh", "-c"]
            command: ["echo 'it''s set up' && touch done"]
          web:
            build: .
            entrypoint: /docker-entrypoint.sh
            command: ["gunicorn", "app:app"]
            restart: on-failure:3
            stop_grace_period: 2.5s
            stop_signal: SIGQUIT
            depends_on: {setup: {condition: service_completed_successfully}}
            healthcheck: {test: ["CMD-SHELL", "curl -f localhost:8000"]}
          imagecmd:
            build: .
        """, Dockerfile='FROM python:3.12\nWORKDIR /srv\nENTRYPOINT ["tini", "--"]\nCMD ["python", "serve.py"]\n')
    # exec form: quoted as docker passes it (one argument to sh -c)
    assert result.services["setup"] == {"command": shlex.join(["sh", "-c", "echo 'it''s set up' && touch done"]),
                                        "oneshot": True}
    web = result.services["web"]
    assert web["command"] == "/docker-entrypoint.sh gunicorn app:app"
    assert (web["restart"], web["stop_timeout"], web["stop_signal"]) == ("on-failure", 2.5, "QUIT")
    assert web["ready"] == {"command": "curl -f localhost:8000"}
    assert result.services["imagecmd"]["command"] == "tini -- python serve.py"  # the Dockerfile's ENTRYPOINT + CMD
    assert any("/docker-entrypoint.sh` points into the container" in line for line in result.report)
    valid(result.services, tmp_path)


def test_bind_mounted_source_maps_container_paths(tmp_path):
    (tmp_path / "app").mkdir()
    result = mapped(tmp_path, """\
        services:
          web:
            build: ./app
            working_dir: /code
            volumes: [./app:/code, ./data:/var/data]
            command: python /code/manage.py runserver 0.0.0.0:8000
            ports: ["8080:8000"]
        """, app__Dockerfile="FROM python:3.12\n")
    web = result.services["web"]
    assert web["cwd"] == "app" and web["command"] == "python ./manage.py runserver 0.0.0.0:8000"
    assert web["port"] == 8000
    assert any("compose published 8000 as 8080" in line for line in result.report)


def test_secret_names():
    for name in ("POSTGRES_PASSWORD", "DJANGO_SECRET_KEY", "GITHUB_TOKEN", "STRIPE_API_KEY", "AWS_ACCESS_KEY_ID",
                 "SSH_PRIVATE_KEY", "RABBITMQ_DEFAULT_PASS", "SIGNING_KEY"):
        assert is_secret_name(name), name
    for name in ("DATABASE_URL", "POSTGRES_USER", "KEYCLOAK_URL", "DEBUG", "CACHE_KEY_PREFIX", "AUTH_USER_MODEL"):
        assert not is_secret_name(name), name


def test_secrets_report_when_enabled(tmp_path):
    result = mapped(tmp_path, "services:\n  w: {build: ., command: run, environment: {API_TOKEN: t}}\n",
                    secrets_enabled=True, Dockerfile="FROM x\n")
    assert result.secrets == {"API_TOKEN": "t"} and "env" not in result.services["w"]
    assert any("stored in the encrypted secrets file as API_TOKEN" in line for line in result.report)


def test_profiles_are_reported(tmp_path):
    result = mapped(tmp_path, "services:\n  r: {image: redis}\n  dbg: {image: redis, profiles: [debug]}\n")
    assert list(result.services) == ["r"]
    assert any(line.startswith("dbg: not imported: only in profile debug") and "--profile debug" in line
               for line in result.report)


def test_preset_command_becomes_settings(tmp_path):
    result = mapped(tmp_path, """\
        services:
          db: {image: postgres:16, command: postgres -c max_connections=200 -c shared_buffers=256MB}
          cache: {image: redis:7, command: redis-server --appendonly yes --maxmemory 100mb}
        """)
    assert result.services["db"]["settings"] == {"max_connections": 200, "shared_buffers": "256MB"}
    assert result.services["cache"]["settings"] == {"appendonly": "yes", "maxmemory": "100mb"}
    valid(result.services, tmp_path)
