"""Loading compose files as docker compose does: YAML, interpolation, merging, extends, profiles."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from nixenv.compose.interpolate import Lookup, interpolate, parse_dotenv
from nixenv.compose.load import find_compose_files, load_project
from nixenv.compose.model import Port, parse_duration, parse_ports, parse_volume
from nixenv.compose.yamlio import parse_yaml
from nixenv.support.errors import NixenvError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "compose"


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def load(root: Path, *names: str, environ=None, profiles=()):
    return load_project([root / n for n in names], environ=environ or {}, profiles=profiles)


# ----------------------------------------------------------------------------- YAML


def test_yaml_is_read_as_yaml_1_2_like_compose():
    data = parse_yaml("a: no\nb: yes\nc: 8000:80\nd: on\ne: true\nf: 010\ng: 1.5\nh: 2024-01-01\n", file="f")
    assert data == {"a": "no", "b": "yes", "c": "8000:80", "d": "on", "e": True, "f": 10, "g": 1.5, "h": "2024-01-01"}


def test_anchors_and_merge_keys_and_duplicate_keys():
    data = parse_yaml("x: &x {a: 1, b: 2}\ny:\n  <<: *x\n  b: 3\n", file="f")
    assert data["y"] == {"a": 1, "b": 3}
    with pytest.raises(NixenvError, match=r"f:3:\d+: .*'a' already defined"):
        parse_yaml("y:\n  a: 1\n  a: 2\n", file="f")


def test_bad_yaml_names_the_file_and_line(tmp_path):
    write(tmp_path, "compose.yaml", "services:\n  web: [unclosed\n")
    with pytest.raises(NixenvError, match=r"compose\.yaml:\d+:\d+: not valid YAML"):
        load(tmp_path, "compose.yaml")


# ----------------------------------------------------------------------------- interpolation

@pytest.mark.parametrize("text, expected", [
    ("${SET}", "v"), ("$SET", "v"), ("${UNSET}", ""), ("$$SET", "$SET"), ("$${SET}", "${SET}"),
    ("${UNSET:-d}", "d"), ("${EMPTY:-d}", "d"), ("${EMPTY-d}", ""), ("${UNSET-d}", "d"),
    ("${SET:+alt}", "alt"), ("${EMPTY:+alt}", ""), ("${EMPTY+alt}", "alt"), ("${UNSET+alt}", ""),
    ("${UNSET:-${ALSO_UNSET:-deep}}", "deep"), ("${UNSET:-$SET}", "v"),
    ("a $ b", "a $ b"), ("50$", "50$"), ("${EMPTY?msg}", ""),
])
def test_interpolation(text, expected):
    assert interpolate(text, Lookup({"SET": "v", "EMPTY": ""})) == expected


@pytest.mark.parametrize("text, message", [
    ("${UNSET:?please set it}", "required variable UNSET is unset: please set it"),
    ("${EMPTY:?no}", "required variable EMPTY is empty"),
    ("${UNSET?x}", "required variable UNSET is unset"),
    ("${", "invalid interpolation format"), ("${1A}", "invalid interpolation format"),
    ("${A", "invalid interpolation format"),
    # compose-go substitutes a default before deciding whether it is needed (template.go)
    ("${SET:-${NOT_SET?boom}}", "required variable NOT_SET is unset: boom"),
])
def test_interpolation_errors(text, message):
    with pytest.raises(NixenvError, match=message):
        interpolate(text, Lookup({"EMPTY": "", "SET": "v"}))


def test_missing_required_variable_names_the_file(tmp_path):
    write(tmp_path, "compose.yaml", "services:\n  db:\n    image: postgres:${PG:?set PG}\n")
    with pytest.raises(NixenvError, match=r"compose\.yaml: .*required variable PG is unset: set PG"):
        load(tmp_path, "compose.yaml")


def test_dotenv_file_and_environment_precedence(tmp_path):
    write(tmp_path, ".env", "TAG=15\nNAME=from-dotenv\n")
    write(tmp_path, "compose.yaml", "services:\n  db:\n    image: postgres:${TAG}\n    environment: [N=$NAME]\n")
    project = load(tmp_path, "compose.yaml", environ={"NAME": "from-shell"})
    assert project.services["db"].image == "postgres:15"
    assert project.services["db"].environment == {"N": "from-shell"}


def test_dotenv_syntax():
    text = 'A=1\nexport B="x\\ny $A \\$A"\nC=\'lit $A\'\nD=plain # comment\nE="two\nlines"\nF\n# c\n'
    assert parse_dotenv(text, file=".env", lookup={"F": "f"}.get) == {
        "A": "1", "B": "x\ny 1 $A", "C": "lit $A", "D": "plain", "E": "two\nlines", "F": "f"}


def test_unset_variable_is_a_warning(tmp_path):
    write(tmp_path, "compose.yaml", "services:\n  r:\n    image: redis:${NOPE}7\n")
    project = load(tmp_path, "compose.yaml")
    assert project.services["r"].image == "redis:7"
    assert any("NOPE" in w for w in project.warnings)


# ----------------------------------------------------------------------------- lookup and merge


def test_file_lookup_order(tmp_path):
    assert find_compose_files(tmp_path) == []
    for name in ("docker-compose.yaml", "docker-compose.yml", "compose.yml"):
        write(tmp_path, name, "services: {}\n")
    assert find_compose_files(tmp_path) == [tmp_path / "compose.yml"]
    write(tmp_path, "compose.yaml", "services: {}\n")
    write(tmp_path, "docker-compose.override.yml", "services: {}\n")
    assert find_compose_files(tmp_path) == [tmp_path / "compose.yaml", tmp_path / "docker-compose.override.yml"]


def test_merge_rules(tmp_path):
    write(tmp_path, "a.yaml", """\
        services:
          web:
            image: app
            command: ["echo", "a"]
            environment: [A=1, B=2]
            ports: ["8000:8000", "9000:9000"]
            volumes: ["data:/data", ".:/app"]
            depends_on: [db]
            dns: [1.1.1.1]
            healthcheck: {test: ["CMD", "true"], interval: 5s}
          db: {image: postgres}
        """)
    write(tmp_path, "b.yaml", """\
        services:
          web:
            command: ["echo", "b"]
            environment: {B: "3", C: "4"}
            ports: ["8000:8000", "7000:7000"]
            volumes: ["other:/data"]
            depends_on: {db: {condition: service_healthy}}
            dns: [8.8.8.8]
            healthcheck: {test: ["CMD", "false"]}
        """)
    project = load(tmp_path, "a.yaml", "b.yaml")
    web = project.services["web"]
    assert web.command == ["echo", "b"]
    assert web.environment == {"A": "1", "B": "3", "C": "4"}
    assert [p.target for p in web.ports] == [8000, 9000, 7000]
    assert [(v.source, v.target) for v in web.volumes] == [("other", "/data"), (str(tmp_path), "/app")]
    assert web.depends_on == {"db": "service_healthy"}
    assert web.raw["dns"] == ["1.1.1.1", "8.8.8.8"]
    assert web.healthcheck.test == "false" and web.raw["healthcheck"]["interval"] == "5s"


def test_reset_and_override_tags(tmp_path):
    write(tmp_path, "a.yaml", "services:\n  web:\n    image: app\n    ports: ['8080:80']\n    environment: {FOO: bar, KEEP: k}\n")
    write(tmp_path, "b.yaml", "services:\n  web:\n    ports: !override ['8443:443']\n    environment:\n      FOO: !reset null\n")
    web = load(tmp_path, "a.yaml", "b.yaml").services["web"]
    assert web.ports == (Port(443, "8443"),) and web.environment == {"KEEP": "k"}
    write(tmp_path, "c.yaml", "services:\n  web:\n    ports: !reset []\n")
    assert load(tmp_path, "a.yaml", "c.yaml").services["web"].ports == ()


def test_x_extensions_are_ignored(tmp_path):
    write(tmp_path, "compose.yaml", "x-anything: {services: nonsense, v: \"${NOT_SET:?never}\"}\nservices:\n  r:\n    image: redis\n    x-note: hi\n")
    assert set(load(tmp_path, "compose.yaml").services) == {"r"}


# ----------------------------------------------------------------------------- extends, include, profiles


def test_extends_same_file_other_file_and_relative_paths(tmp_path):
    write(tmp_path, "compose.yaml", """\
        services:
          base: {build: ., environment: [A=1], command: base}
          child:
            extends: base
            environment: [B=2]
          remote:
            extends: {file: sub/common.yml, service: shared}
            command: mine
        """)
    write(tmp_path, "sub/common.yml", "services:\n  shared:\n    build: ../app\n    env_file: shared.env\n    ports: ['1:1']\n")
    write(tmp_path, "sub/shared.env", "FROM_FILE=yes\n")
    project = load(tmp_path, "compose.yaml")
    assert project.services["child"].environment == {"A": "1", "B": "2"}
    assert project.services["child"].command == "base"
    remote = project.services["remote"]
    assert remote.build.context == (tmp_path / "app").resolve()
    assert remote.environment == {"FROM_FILE": "yes"} and remote.command == "mine"


def test_extends_errors(tmp_path):
    write(tmp_path, "compose.yaml", "services:\n  a:\n    extends: nope\n")
    with pytest.raises(NixenvError, match=r"services\.a extends 'nope', which compose\.yaml does not define"):
        load(tmp_path, "compose.yaml")
    write(tmp_path, "compose.yaml", "services:\n  a: {extends: b}\n  b: {extends: a}\n")
    with pytest.raises(NixenvError, match="circle"):
        load(tmp_path, "compose.yaml")
    write(tmp_path, "compose.yaml", "services:\n  a:\n    extends: {file: gone.yml, service: x}\n")
    with pytest.raises(NixenvError, match="gone.yml not found"):
        load(tmp_path, "compose.yaml")


def test_profiles(tmp_path):
    write(tmp_path, "compose.yaml", """\
        services:
          web: {image: redis, depends_on: [tool]}
          tool: {image: redis, profiles: [tools]}
          debug: {image: redis, profiles: [debug]}
          docs: {image: redis, profiles: [docs]}
        """)
    project = load(tmp_path, "compose.yaml")
    assert set(project.services) == {"web", "tool"}  # a dependency comes along whatever its profile
    assert project.inactive == {"debug": ("debug",), "docs": ("docs",)}
    assert set(load(tmp_path, "compose.yaml", profiles=["debug"]).services) == {"web", "tool", "debug"}
    assert set(load(tmp_path, "compose.yaml", environ={"COMPOSE_PROFILES": "docs,debug"}).services) == \
        {"web", "tool", "debug", "docs"}


def test_fixture_with_anchors_extends_interpolation_profiles():
    project = load_project(find_compose_files(FIXTURES / "features"), environ={})
    assert list(project.services) == ["cache", "web", "worker", "beat"]
    assert project.services["cache"].image == "valkey/valkey:8.0"  # from .env
    web = project.services["web"]
    assert web.command == ["python", "-m", "http.server", "9090"]  # the override file
    assert web.ports == (Port(9090, "9090"),)
    assert web.environment["GREETING"] == "hello ${USER} compose"
    assert web.environment["API_TOKEN"] == "tok-123"
    assert project.services["beat"].environment["QUEUE"] == "beat"
    assert project.services["beat"].restart == "on-failure"


# ----------------------------------------------------------------------------- syntaxes


@pytest.mark.parametrize("item, port", [
    ("3000", Port(3000)), (3000, Port(3000)), ("8000:80", Port(80, "8000")),
    ("127.0.0.1:8000:80", Port(80, "8000", "127.0.0.1")), ("[::1]:53:53/udp", Port(53, "53", "::1", "udp")),
    ("9000-9002:9000-9002", Port(9000, "9000-9002", range_size=3)), ("127.0.0.1::5000", Port(5000, None, "127.0.0.1")),
    ({"target": 80, "published": "8080", "protocol": "tcp", "mode": "host"}, Port(80, "8080")),
])
def test_ports(item, port):
    assert parse_ports(item) == [port]


def test_volumes_and_durations():
    assert parse_volume("db:/var/lib/db").type == "volume"
    assert parse_volume("./src:/app:ro").read_only
    assert parse_volume("/cache").source is None
    assert parse_volume({"type": "bind", "source": "/x", "target": "/y"}).type == "bind"
    assert parse_duration("1m30s") == 90 and parse_duration("1h") == 3600 and parse_duration("250ms") == 0.25
    with pytest.raises(ValueError):
        parse_duration("ten seconds")


def test_healthcheck_forms(tmp_path):
    write(tmp_path, "compose.yaml", """\
        services:
          a: {image: x, healthcheck: {test: ["CMD", "pg_isready", "-U", "a b"]}}
          b: {image: x, healthcheck: {test: ["CMD-SHELL", "curl -f http://localhost || exit 1"]}}
          c: {image: x, healthcheck: {test: ["NONE"]}}
          d: {image: x, healthcheck: {test: "redis-cli ping"}}
          e: {image: x, healthcheck: {test: ["CMD", "true"], disable: true}}
        """)
    services = load(tmp_path, "compose.yaml").services
    assert services["a"].healthcheck.test == "pg_isready -U 'a b'"
    assert services["b"].healthcheck.test == "curl -f http://localhost || exit 1"
    assert services["c"].healthcheck.test is None and services["e"].healthcheck.test is None
    assert services["d"].healthcheck.test == "redis-cli ping"


def test_missing_env_file_is_an_error_unless_optional(tmp_path):
    write(tmp_path, "compose.yaml", "services:\n  a: {image: x, env_file: [missing.env]}\n")
    with pytest.raises(NixenvError, match="missing.env not found"):
        load(tmp_path, "compose.yaml")
    write(tmp_path, "compose.yaml", "services:\n  a: {image: x, env_file: [{path: missing.env, required: false}]}\n")
    assert load(tmp_path, "compose.yaml").services["a"].environment == {}
