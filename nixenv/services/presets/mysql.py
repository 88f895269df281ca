"""preset = "mysql" (alias "mariadb"): MariaDB by default, MySQL 8.x on request.

- Configuration: run_dir/my.cnf, written on every start and given as --defaults-file (so no
  /etc/my.cnf or ~/.my.cnf is read): datadir, socket and pid file in run_dir, port,
  bind-address=127.0.0.1, skip-name-resolve, then `settings` as `[mysqld]` lines with each value
  double-quoted (option files undo `\\\\` and `\\"`). Errors go to stderr (no log-error).
- First start: MariaDB `mariadb-install-db --auth-root-authentication-method=normal
  --skip-test-db` (root@localhost, root@127.0.0.1 and root@::1 without a password, no anonymous
  users, no `test` database); MySQL `mysqld --initialize-insecure` (root@localhost only; ensure
  adds root@127.0.0.1). The server runs as run_as when nixenv is root (mysqld refuses root).
- Superuser: `root` without a password, on the socket and on 127.0.0.1 only (the MariaDB/MySQL
  convention; a development server).
- ensure: databases (utf8mb4) and users ('NAME'@'%', ALL on their databases) on every start;
  its session sets sql_mode = '' so that the quoting in presets.sql holds whatever `settings`
  say. `init_sql` runs once, in a database it just created (dropped again if the SQL fails).
- Stop: SIGTERM = normal shutdown (clients are disconnected, InnoDB shuts down cleanly).
MySQL 8.4 (`version = "mysql-8.4"`, attr mysql84) is rendered with MySQL's names (mysqld,
mysqladmin, mysql) but untested: no MySQL server can be had from Debian here.
"""

from __future__ import annotations

from urllib.parse import quote

from nixenv.services.presets.base import (
    SQL_ESCAPE_FN, Context, Package, Plan, all_databases, as_user, create_database, first_user_for,
    init_sql_failure, make_dirs, prologue, pipe_sql, schema_attr, settings_items, url_password, words, write_file,
)
from nixenv.services.presets.sql import MY_SESSION, my_ident, my_literal
from nixenv.support.escape import sh

OWN = ("datadir", "socket", "port", "bind-address", "bind_address", "pid-file", "pid_file", "user",
       "skip-networking", "skip_networking")


def is_mariadb(ctx: Context) -> bool:
    return schema_attr(ctx).startswith("mariadb")


def tools(ctx: Context) -> dict[str, str]:
    if is_mariadb(ctx):
        return {"server": "mariadbd", "admin": "mariadb-admin", "client": "mariadb", "install": "mariadb-install-db"}
    return {"server": "mysqld", "admin": "mysqladmin", "client": "mysql", "install": ""}


def cnf_value(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def my_cnf(ctx: Context) -> str:
    run = ctx.run_dir
    lines = ["# written by nixenv on every start (preset mysql); use `settings` in nixenv.toml", "[mysqld]",
             f"datadir={cnf_value(str(ctx.data_dir))}", f"socket={cnf_value(str(run / 'mysqld.sock'))}",
             f"pid-file={cnf_value(str(run / 'mysqld.pid'))}", f"port={ctx.port}", "bind-address=127.0.0.1",
             "skip-name-resolve"]
    for name, value in settings_items(ctx.service.settings, ("ON", "OFF")):
        if name not in OWN:
            lines.append(f"{name}={cnf_value(value)}")
    return "\n".join(lines) + "\n"


def client(ctx: Context, database: str | None = None) -> list[str]:
    argv = [tools(ctx)["client"], "--no-defaults", f"--socket={ctx.run_dir / 'mysqld.sock'}", "--user=root"]
    return argv + ([database] if database else [])


def grant_target(db: str) -> str:
    # in GRANT, `_` and `%` in a database name are wildcards unless escaped
    return my_ident(db.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")) + ".*"


def _setup(ctx: Context) -> str:
    t = tools(ctx)
    cnf = ctx.run_dir / "my.cnf"
    if t["install"]:
        init = words([t["install"], f"--defaults-file={cnf}", "--auth-root-authentication-method=normal",
                      "--skip-test-db"])
    else:
        init = words([t["server"], f"--defaults-file={cnf}", "--initialize-insecure"])
    return (prologue(ctx, "setup") + make_dirs(ctx) + write_file(ctx, cnf, my_cnf(ctx)) +
            f"if [ ! -d {sh(ctx.data_dir / 'mysql')} ]; then\n"
            f"  echo 'nixenv: initialising the data directory'\n"
            f"  {as_user(ctx, init)} >&2 || fail 'initialising the data directory failed'\n"
            f"fi\n")


def _ensure(ctx: Context) -> str:
    run_sql = words(client(ctx)) + " -N"
    out = [prologue(ctx, "ensure"), SQL_ESCAPE_FN]
    # root over TCP as well (MySQL's --initialize-insecure creates root@localhost only)
    out.append(f"printf '%s\\n' {sh(MY_SESSION)} \"CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';\" "
               f"\"GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;\" | {run_sql} "
               f"|| fail 'cannot set up root@127.0.0.1'")
    for db in all_databases(ctx):
        exists = f"SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {my_literal(db)}"
        out += create_database(
            db, exists=f"printf '%s\\n' {sh(MY_SESSION)} {sh(exists)} | {run_sql}",
            create=f"printf '%s\\n' {sh(f'CREATE DATABASE {my_ident(db)} CHARACTER SET utf8mb4;')} | {run_sql}",
            drop=f"printf '%s\\n' {sh(f'DROP DATABASE {my_ident(db)};')} | {run_sql}",
            steps=[(f"{words(client(ctx, db))} < {sh(ctx.project_root / path)}", init_sql_failure(path, db))
                   for path in ctx.service.init_sql])
    for user in ctx.service.users:
        account = f"{my_literal(user.name)}@'%'"
        lines = [MY_SESSION, f"CREATE USER IF NOT EXISTS {account};"]
        if user.password is not None:
            lines.append(f"ALTER USER {account} IDENTIFIED BY {my_literal(user.password)};")
        for db in user.databases:
            lines.append(f"GRANT ALL PRIVILEGES ON {grant_target(db)} TO {account};")
        out += pipe_sql("\n".join(lines) + "\n", run_sql, f"user {user.name}", user.password_env,
                        (f"ALTER USER {account} IDENTIFIED BY ", ";"))
    return "\n".join(out) + "\n"


def plan(ctx: Context) -> Plan:
    t = tools(ctx)
    databases = all_databases(ctx)
    database = databases[0] if databases else ""
    user = first_user_for(ctx, database) if database else None
    name = user.name if user else "root"
    password = url_password(user, lambda p: quote(p, safe="")) if user else ""
    url = f"mysql://{quote(name, safe='')}{password}@127.0.0.1:{ctx.port}/{quote(database, safe='')}"
    sock = ctx.run_dir / "mysqld.sock"
    ping = words([t["admin"], "--no-defaults", f"--socket={sock}", "--user=root", "ping"])
    exports = {"DATABASE_URL": url, "MYSQL_HOST": "127.0.0.1", "MYSQL_TCP_PORT": str(ctx.port), "MYSQL_USER": name}
    if database:
        exports["MYSQL_DATABASE"] = database
    return Plan(
        packages=(Package(schema_attr(ctx)),),
        setup=_setup(ctx),
        command="exec " + as_user(ctx, words([t["server"], f"--defaults-file={ctx.run_dir / 'my.cnf'}"])),
        ready=f"{ping} >/dev/null 2>&1 && [ \"$({words(client(ctx))} -N -e 'select 1' 2>/dev/null)\" = 1 ]",
        ensure=_ensure(ctx),
        stop_signal="TERM",
        stop_timeout=30.0,
        exports=exports,
        client=tuple(client(ctx, database or None)),
    )
