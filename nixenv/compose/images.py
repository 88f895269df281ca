"""Image references and what nixenv makes of them: a preset (with its version), a language
runtime (the service is the app's own command), or a nixpkgs package to suggest."""

from __future__ import annotations

import re
from dataclasses import dataclass

from nixenv.config.presets import PRESETS


@dataclass(frozen=True)
class ImageRef:
    repository: str  # without the registry and without `library/`: "postgres", "bitnami/postgresql"
    tag: str  # "latest" when none is written

    @property
    def name(self) -> str:
        return self.repository.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class PresetMatch:
    preset: str  # as written in nixenv.toml: postgres | redis | valkey | mysql | mariadb | ...
    version: str  # a key of PRESETS[...].versions ("" = the default)
    extensions: tuple[str, ...] = ()
    note: str | None = None  # why the tag's version was not carried over


def parse_image(image: str) -> ImageRef:
    """`docker.io/library/postgres:16-alpine@sha256:...` -> ImageRef("postgres", "16-alpine")."""
    ref = image.split("@", 1)[0]
    parts = ref.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]  # a registry host
    last = parts[-1]
    name, _, tag = last.partition(":")
    parts[-1] = name
    if len(parts) == 2 and parts[0] == "library":
        parts = parts[1:]
    return ImageRef("/".join(parts).lower(), tag or "latest")


# repository -> (preset, extensions); the official images and the common vendor images
_PRESET_IMAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "postgres": ("postgres", ()), "bitnami/postgresql": ("postgres", ()),
    "postgis/postgis": ("postgres", ("postgis",)), "kartoza/postgis": ("postgres", ("postgis",)),
    "timescale/timescaledb": ("postgres", ("timescaledb",)), "timescale/timescaledb-ha": ("postgres", ("timescaledb",)),
    "pgvector/pgvector": ("postgres", ("pgvector",)), "ankane/pgvector": ("postgres", ("pgvector",)),
    "redis": ("redis", ()), "bitnami/redis": ("redis", ()),
    "valkey/valkey": ("valkey", ()), "bitnami/valkey": ("valkey", ()), "valkey": ("valkey", ()),
    "mysql": ("mysql", ()), "mysql/mysql-server": ("mysql", ()), "bitnami/mysql": ("mysql", ()),
    "mariadb": ("mariadb", ()), "bitnami/mariadb": ("mariadb", ()), "linuxserver/mariadb": ("mariadb", ()),
    "memcached": ("memcached", ()), "bitnami/memcached": ("memcached", ()),
    "rabbitmq": ("rabbitmq", ()), "bitnami/rabbitmq": ("rabbitmq", ()),
    "nginx": ("nginx", ()), "nginxinc/nginx-unprivileged": ("nginx", ()), "bitnami/nginx": ("nginx", ()),
}

# images that are a language runtime, not a server: with a `command` they are the app itself
RUNTIME_IMAGES = {
    "node": "node", "python": "python", "ruby": "ruby", "golang": "go", "php": "php", "openjdk": "jdk",
    "eclipse-temurin": "jdk", "amazoncorretto": "jdk", "rust": "rust", "elixir": "elixir", "denoland/deno": "deno",
    "oven/bun": "bun", "busybox": "busybox", "alpine": "alpine", "debian": "debian", "ubuntu": "ubuntu",
}

# image name -> (nixpkgs attribute, a command to start from, its usual port)
SUGGESTIONS: dict[str, tuple[str, str, int | None]] = {
    "mongo": ("mongodb", "mongod --dbpath .nixenv/data/mongo --bind_ip 127.0.0.1 --port 27017", 27017),
    "mongodb-community-server": ("mongodb", "mongod --dbpath .nixenv/data/mongo --port 27017", 27017),
    "elasticsearch": ("elasticsearch", "elasticsearch -E path.data=.nixenv/data/es", 9200),
    "opensearch": ("opensearch", "opensearch", 9200),
    "mailhog": ("mailhog", "MailHog", 8025),
    "mailpit": ("mailpit", "mailpit --listen 127.0.0.1:8025 --smtp 127.0.0.1:1025", 8025),
    "minio": ("minio", "minio server .nixenv/data/minio --address 127.0.0.1:9000", 9000),
    "clickhouse-server": ("clickhouse", "clickhouse server", 8123),
    "cassandra": ("cassandra", "cassandra -f", 9042),
    "couchdb": ("couchdb3", "couchdb", 5984),
    "influxdb": ("influxdb2", "influxd", 8086),
    "etcd": ("etcd", "etcd --data-dir .nixenv/data/etcd", 2379),
    "consul": ("consul", "consul agent -dev", 8500),
    "vault": ("vault", "vault server -dev", 8200),
    "all-in-one": ("jaeger", "jaeger-all-in-one", 16686),
    "prometheus": ("prometheus", "prometheus --config.file=prometheus.yml", 9090),
    "grafana": ("grafana", "grafana server", 3000),
    "traefik": ("traefik", "traefik", 80),
    "caddy": ("caddy", "caddy run", 80),
    "httpd": ("apacheHttpd", "httpd -DFOREGROUND", 80),
    "kafka": ("apacheKafka", "kafka-server-start.sh server.properties", 9092),
    "cp-kafka": ("apacheKafka", "kafka-server-start.sh server.properties", 9092),
    "zookeeper": ("zookeeper", "zkServer.sh start-foreground", 2181),
    "cp-zookeeper": ("zookeeper", "zkServer.sh start-foreground", 2181),
    "nats": ("nats-server", "nats-server", 4222),
    "eclipse-mosquitto": ("mosquitto", "mosquitto", 1883),
    "keycloak": ("keycloak", "kc.sh start-dev", 8080),
    "meilisearch": ("meilisearch", "meilisearch --db-path .nixenv/data/meili", 7700),
    "typesense": ("typesense", "typesense-server --data-dir .nixenv/data/typesense", 8108),
    "qdrant": ("qdrant", "qdrant", 6333),
    "neo4j": ("neo4j", "neo4j console", 7474),
    "dynamodb-local": ("dynamodb-local", "dynamodb-local", 8000),
    "azurite": ("azurite", "azurite --location .nixenv/data/azurite", 10000),
    "adminer": ("adminer", "adminer", 8080),
    "pgadmin4": ("pgadmin4", "pgadmin4", 5050),
    "smtp4dev": ("smtp4dev", "smtp4dev", 5000),
}


def preset_for(ref: ImageRef) -> PresetMatch | None:
    """The preset for an image, the version from its tag when nixenv has that version."""
    found = _PRESET_IMAGES.get(ref.repository)
    if found is None:
        return None
    preset, extensions = found
    version, note = _version(preset, ref)
    return PresetMatch(preset, version, extensions, note)


def _version(preset: str, ref: ImageRef) -> tuple[str, str | None]:
    schema = PRESETS["mysql" if preset == "mariadb" else preset]
    tag = ref.tag
    if tag in ("latest", "alpine", "stable", "management", "management-alpine", "mainline", "lts"):
        if preset == "mysql":
            return "", ("a MySQL image: the preset's default server is MariaDB; "
                        "set version = \"mysql-8.4\" for MySQL")
        return "", None
    # pgvector/pgvector:pg16, timescale/timescaledb:latest-pg16
    match = re.search(r"(?:^|-)pg(\d+)", tag) if preset == "postgres" and not tag[:1].isdigit() else None
    match = match or re.match(r"v?(\d+(?:\.\d+)*)", tag)
    if not match:
        return "", f"tag `{tag}` names no version: the preset's default ({schema.versions['']})"
    numbers = match.group(1).split(".")
    prefix = "mysql-" if preset == "mysql" else ""
    choices = [v for v in schema.versions if v]
    for size in (2, 1):
        candidate = prefix + ".".join(numbers[:size])
        if len(numbers) >= size and candidate in schema.versions and candidate:
            return candidate, None
    if preset == "mysql" and numbers[0] == "8" and len(numbers) == 1:
        return "mysql-8.4", "tag `8` follows the newest MySQL 8 (8.4): version = \"mysql-8.4\""
    if preset == "mysql" and numbers[0] == "8":
        # mysql80 left nixpkgs at its end of life (pkgs/top-level/aliases.nix)
        return "mysql-8.4", (f"MySQL {match.group(1)} is end of life and not in nixpkgs: the next LTS, "
                             "version = \"mysql-8.4\"")
    if not choices:
        return "", (f"version {match.group(1)} is not pinned: nixpkgs has one {schema.name} "
                    f"(`{schema.versions['']}`)")
    return "", (f"version {match.group(1)} is not one nixenv offers ({', '.join(choices)}): "
                f"the default `{schema.versions['']}`; set `version` to pin one")


def suggestion_for(ref: ImageRef) -> tuple[str, str, int | None] | None:
    return SUGGESTIONS.get(ref.name)


def runtime_for(ref: ImageRef) -> str | None:
    return RUNTIME_IMAGES.get(ref.repository) or RUNTIME_IMAGES.get(ref.name)
