"""What each service preset accepts in nixenv.toml: its keys and its versions.

Data only: the config layer validates `[services.NAME] preset = "…"` tables against it, and
`nixenv.services.presets` (one module per preset) turns a validated entry into a supervised
service. A preset's nixpkgs attribute for each version is listed here so that `version`
errors name the versions nixpkgs has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

# keys every preset service accepts besides its own (the ordinary service keys minus `command`,
# which a preset provides but a user may still override)
COMMON_KEYS = ("preset", "version", "command", "port", "cwd", "depends_on", "env", "ready", "restart",
               "stop_signal", "stop_timeout", "export", "settings", "oneshot")


@dataclass(frozen=True)
class PresetSchema:
    name: str
    keys: tuple[str, ...]  # preset-specific keys, on top of COMMON_KEYS
    # version as written in nixenv.toml -> nixpkgs attribute; "" is the default (no `version`)
    versions: Mapping[str, str]
    default_port: int | None  # the port the server's own docs use; nixenv picks a per-project one
    exports: tuple[str, ...]  # variables it exports to the shell and its dependants (renamable)

    @property
    def all_keys(self) -> tuple[str, ...]:
        return COMMON_KEYS + self.keys


# nixpkgs attributes: pkgs/servers/sql/postgresql/default.nix (postgresql_14 .. postgresql_18;
# postgresql_13 was removed at its end of life, pkgs/top-level/aliases.nix), pkgs/servers/sql/mariadb/
# default.nix (mariadb_106 .. mariadb_118), pkgs/by-name/my/mysql84/package.nix (mysql80 was removed,
# aliases.nix), pkgs/by-name/re/redis, pkgs/by-name/va/valkey, pkgs/by-name/me/memcached,
# pkgs/by-name/ra/rabbitmq-server, pkgs/servers/http/nginx.
PRESETS: dict[str, PresetSchema] = {
    schema.name: schema
    for schema in (
        PresetSchema(
            "postgres", ("databases", "users", "extensions", "init_sql"),
            {"": "postgresql_17", "14": "postgresql_14", "15": "postgresql_15", "16": "postgresql_16",
             "17": "postgresql_17", "18": "postgresql_18"},
            5432, ("DATABASE_URL", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE"),
        ),
        PresetSchema("redis", (), {"": "redis"}, 6379, ("REDIS_URL",)),
        PresetSchema("valkey", (), {"": "valkey"}, 6379, ("REDIS_URL", "VALKEY_URL")),
        PresetSchema(
            "mysql", ("databases", "users", "init_sql"),
            {"": "mariadb", "10.6": "mariadb_106", "10.11": "mariadb_1011", "11.4": "mariadb_114",
             "11.8": "mariadb_118", "mysql-8.4": "mysql84"},
            3306, ("DATABASE_URL", "MYSQL_HOST", "MYSQL_TCP_PORT", "MYSQL_USER", "MYSQL_DATABASE"),
        ),
        PresetSchema("memcached", (), {"": "memcached"}, 11211, ("MEMCACHED_URL", "MEMCACHED_SERVERS")),
        PresetSchema(
            "rabbitmq", ("users", "management_port"), {"": "rabbitmq-server"}, 5672,
            ("AMQP_URL", "RABBITMQ_URL", "RABBITMQ_MANAGEMENT_URL"),
        ),
        PresetSchema("nginx", ("config_file", "config_text"), {"": "nginx"}, 8080, ("NGINX_URL",)),
    )
}
# `preset = "mariadb"` is the mysql preset (MariaDB is its default server)
ALIASES = {"mariadb": "mysql", "postgresql": "postgres"}
