"""preset = "postgres": PostgreSQL, one cluster per service.

- First start: `initdb -E UTF8 --locale=C`: UTF-8 encoding and byte-order collation, the
  same on every machine and needing no installed locale.
- Superuser: named after the OS user nixenv runs as (`root` in CI containers), so that a plain
  `psql` in the shell is that user, as with a packaged PostgreSQL. The server itself runs as
  `run_as` when nixenv is root (postgres refuses root); the role name is independent of it.
- Authentication (pg_hba.conf, rewritten on every start): the unix socket in run_dir trusts
  everyone; TCP on 127.0.0.1/::1 trusts the superuser and users without a password, and asks
  the others for their password (scram-sha-256), so a wrong password fails here as in
  production.
- Settings: `-c name=value` flags after nixenv's own (listen_addresses, port,
  unix_socket_directories), so the user's win except those three.
- Extensions: nixpkgs attribute names (`pgvector`, `postgis`) go into
  `postgresql_NN.withPackages` and become `CREATE EXTENSION IF NOT EXISTS` in each database
  under their SQL names; contrib modules (`pg_trgm`, `hstore`, ...) ship with postgresql itself
  in nixpkgs (they are not in `postgresql.pkgs`: pkgs/servers/sql/postgresql/ext/) and only get
  CREATE EXTENSION.
- Stop: SIGINT (fast shutdown: open sessions are ended, a clean checkpoint is written). SIGTERM
  would be "smart" shutdown, which waits for every client to disconnect.
"""

from __future__ import annotations

from urllib.parse import quote

from nixenv.services.presets.base import (
    SQL_ESCAPE_FN, Context, Package, Plan, all_databases, as_user, create_database, first_user_for,
    init_sql_failure, make_dirs, os_user, prologue, pipe_sql, schema_attr, settings_items, url_password, words,
    write_file,
)
from nixenv.services.presets.sql import pg_ident, pg_literal
from nixenv.support.escape import sh

# nixpkgs attribute of postgresql.pkgs -> the extension's SQL name, where they differ
# (pkgs/servers/sql/postgresql/ext/pgvector.nix builds the `vector` extension)
SQL_NAME = {"pgvector": "vector", "h3-pg": "h3", "pg-semver": "semver", "pgsql-http": "http",
            "pgsql_http": "http", "pg_hll": "hll", "pg_topn": "topn", "anonymizer": "anon"}
# extensions that must be in shared_preload_libraries before CREATE EXTENSION works
PRELOAD = {"timescaledb": "timescaledb", "pg_cron": "pg_cron", "pg_stat_statements": "pg_stat_statements",
           "pgaudit": "pgaudit", "pg_squeeze": "pg_squeeze", "citus": "citus", "pg_partman": "pg_partman_bgw"}
# contrib modules: part of the postgresql package itself in nixpkgs, not of postgresql.pkgs
CONTRIB = frozenset({
    "adminpack", "amcheck", "auth_delay", "auto_explain", "bloom", "btree_gin", "btree_gist", "citext",
    "cube", "dblink", "dict_int", "dict_xsyn", "earthdistance", "file_fdw", "fuzzystrmatch", "hstore",
    "intagg", "intarray", "isn", "lo", "ltree", "pageinspect", "passwordcheck", "pg_buffercache",
    "pg_freespacemap", "pg_prewarm", "pg_stat_statements", "pg_surgery", "pg_trgm", "pg_visibility",
    "pg_walinspect", "pgcrypto", "pgrowlocks", "pgstattuple", "postgres_fdw", "seg", "sslinfo",
    "tablefunc", "tcn", "tsm_system_rows", "tsm_system_time", "unaccent", "uuid-ossp", "xml2",
    "plpgsql",
})


def superuser() -> str:
    return os_user()


def _socket_list(path: object) -> str:
    # unix_socket_directories is a list: one element, double-quoted (SplitDirectoriesString)
    return '"' + str(path).replace('"', '""') + '"'


def server_argv(ctx: Context) -> list[str]:
    argv = ["postgres", "-D", str(ctx.data_dir),
            "-c", "listen_addresses=127.0.0.1", "-c", f"port={ctx.port}",
            "-c", f"unix_socket_directories={_socket_list(ctx.run_dir)}",
            "-c", f"hba_file={ctx.data_dir / 'nixenv_hba.conf'}"]
    settings = dict(settings_items(ctx.service.settings))
    preload = [PRELOAD[e] for e in ctx.service.extensions if e in PRELOAD]
    if preload:
        given = [x.strip() for x in settings.get("shared_preload_libraries", "").split(",") if x.strip()]
        settings["shared_preload_libraries"] = ",".join(dict.fromkeys(given + preload))
    for name, value in settings.items():
        if name in ("listen_addresses", "port", "unix_socket_directories", "hba_file"):
            continue  # nixenv's; a user's would move the server away from what is exported
        argv += ["-c", f"{name}={value}"]
    return argv


def hba(ctx: Context) -> str:
    trusted = [superuser()] + [u.name for u in ctx.service.users if u.password is None and not u.password_env]
    lines = ["# written by nixenv on every start (preset postgres); edits are overwritten",
             "local all all trust"]
    for name in dict.fromkeys(trusted):
        role = pg_ident(name)  # pg_hba: a double-quoted name is taken literally
        lines += [f"host all {role} 127.0.0.1/32 trust", f"host all {role} ::1/128 trust"]
    lines += ["host all all 127.0.0.1/32 scram-sha-256", "host all all ::1/128 scram-sha-256", ""]
    return "\n".join(lines)


def psql(ctx: Context, database: str = "postgres") -> str:
    return words(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", ctx.run_dir, "-p", ctx.port,
                  "-U", superuser(), "-d", database])


def _setup(ctx: Context) -> str:
    data = ctx.data_dir
    initdb = as_user(ctx, words(["initdb", "-D", data, "-E", "UTF8", "--locale=C", "--auth=trust",
                                 "-U", superuser()]))
    return (prologue(ctx, "setup") + make_dirs(ctx) +
            f"if [ ! -s {sh(data / 'PG_VERSION')} ]; then\n"
            f"  echo 'nixenv: initialising the database cluster (initdb)'\n"
            f"  {initdb} >&2 || fail 'initdb failed'\n"
            f"fi\n" +
            write_file(ctx, data / "nixenv_hba.conf", hba(ctx), mode="600"))


def _ensure(ctx: Context) -> str:
    out = [prologue(ctx, "ensure"), SQL_ESCAPE_FN]
    sql_names = [SQL_NAME.get(e, e) for e in ctx.service.extensions]
    databases = all_databases(ctx)
    for db in databases:
        # extensions before init_sql (the SQL may use them)
        steps = [(f"{psql(ctx, db)} -c {sh('CREATE EXTENSION IF NOT EXISTS ' + pg_ident(ext))}",
                  f"cannot create extension {ext} in {db}") for ext in sql_names]
        steps += [(f"{psql(ctx, db)} -1 -f {sh(ctx.project_root / path)}", init_sql_failure(path, db))
                  for path in ctx.service.init_sql]
        out += create_database(
            db, exists=f"{psql(ctx)} -tAc {sh('SELECT 1 FROM pg_database WHERE datname = ' + pg_literal(db))}",
            create=f"{psql(ctx)} -c {sh('CREATE DATABASE ' + pg_ident(db))}",
            drop=f"{psql(ctx)} -c {sh('DROP DATABASE ' + pg_ident(db))}", steps=steps)
    if sql_names:
        # extensions added to the config later reach the existing databases too
        for db in databases or ("postgres",):
            statements = "".join(f"CREATE EXTENSION IF NOT EXISTS {pg_ident(e)};" for e in sql_names)
            out.append(f"{psql(ctx, db)} -c {sh(statements)} || fail {sh(f'cannot create the extensions in {db}')}")
    for user in ctx.service.users:
        role = pg_ident(user.name)
        create = (f"SELECT 'CREATE ROLE ' || quote_ident({pg_literal(user.name)}) || ' LOGIN' "
                  f"WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {pg_literal(user.name)})")
        lines = [f"{create} \\gexec", f"ALTER ROLE {role} WITH LOGIN;"]
        if user.password is not None:
            lines.append(f"ALTER ROLE {role} WITH PASSWORD {pg_literal(user.password)};")
        for db in user.databases:
            lines.append(f"GRANT ALL PRIVILEGES ON DATABASE {pg_ident(db)} TO {role};")
        out += pipe_sql("\n".join(lines) + "\n", psql(ctx), f"user {user.name}", user.password_env,
                        (f"ALTER ROLE {role} WITH PASSWORD E", ";"))
        for db in user.databases:
            # PostgreSQL 15+ no longer lets every role create tables in `public`
            out.append(f"{psql(ctx, db)} -c {sh(f'GRANT ALL ON SCHEMA public TO {role}')} "
                       f"|| fail {sh(f'cannot grant {user.name} the schema public of {db}')}")
    return "\n".join(out) + "\n"


def plan(ctx: Context) -> Plan:
    service = ctx.service
    attr = schema_attr(ctx)
    with_packages = tuple(e for e in service.extensions if e not in CONTRIB)
    databases = all_databases(ctx)
    database = databases[0] if databases else "postgres"
    user = first_user_for(ctx, database)
    name = user.name if user else superuser()
    password = url_password(user, lambda p: quote(p, safe="")) if user else ""
    url = f"postgresql://{quote(name, safe='')}{password}@127.0.0.1:{ctx.port}/{quote(database, safe='')}"
    ready = (f"{words(['pg_isready', '-q', '-h', '127.0.0.1', '-p', ctx.port, '-U', superuser(), '-d', 'postgres'])} && "
             f"[ \"$({psql(ctx)} -tAc 'select 1' 2>/dev/null)\" = 1 ]")
    return Plan(
        packages=(Package(attr, with_packages),),
        setup=_setup(ctx),
        command="exec " + as_user(ctx, words(server_argv(ctx))),
        ready=ready,
        ensure=_ensure(ctx),
        stop_signal="INT",
        stop_timeout=20.0,
        exports={"DATABASE_URL": url, "PGHOST": str(ctx.run_dir), "PGPORT": str(ctx.port), "PGUSER": name,
                 "PGDATABASE": database},
        client=("psql", "-h", str(ctx.run_dir), "-p", str(ctx.port), "-U", superuser(), "-d", database),
    )
