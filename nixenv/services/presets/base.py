"""The protocol between a preset and the supervisor: a Context in, a Plan out.

A preset is a function `Context -> Plan`. The Plan is shell text (POSIX sh), rendered here and
run by the supervisor: `setup` before every start, `command` (execs the server in the
foreground), `ready` polled until it exits 0, `ensure` once ready (databases, users), and the
variables the preset exports to the shell and its dependants.

Every value that reaches a script goes through `sh()` (shell word), and every value that
reaches SQL through the quoting helpers in `presets.sql`: names, passwords and settings come
out exactly as written, never as code.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from nixenv.config.load import Service, exported_names
from nixenv.config.presets import PRESETS
from nixenv.support.escape import sh


@dataclass(frozen=True)
class Context:
    service: Service  # validated, preset set
    port: int  # the port the server listens on (127.0.0.1 only)
    data_dir: Path  # persistent data of this service (may not exist yet); parents traversable by run_as
    run_dir: Path  # short directory (<= 60 bytes) for unix sockets and pid files; may not exist yet
    # When nixenv runs as root: the unprivileged user that owns data_dir/run_dir and runs the
    # server (postgres and mysqld refuse root). None: the current user runs it.
    run_as: str | None
    project_root: Path


@dataclass(frozen=True)
class Package:
    """A nixpkgs package the devshell must contain."""
    attr: str  # e.g. "postgresql_16"
    # rendered as (pkgs.ATTR.withPackages (ps: [ ps.X ... ])): nixpkgs
    # pkgs/servers/sql/postgresql/generic.nix, `postgresqlWithPackages { postgresql, buildEnv }: f:`
    # calls `f postgresql.pkgs` and returns a buildEnv of the extensions and postgresql.
    with_packages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    packages: tuple[Package, ...]
    setup: str  # sh, before every start, as the invoking user: dirs, first-time init, config files
    command: str  # sh command line that execs the server in the foreground (s6-setuidgid when run_as)
    ready: str  # sh, exit 0 only when the server answers a real request
    ensure: str  # sh, after ready on every start: databases, users, grants, init_sql (idempotent)
    stop_signal: str  # e.g. "INT" (postgres fast shutdown)
    stop_timeout: float
    exports: dict[str, str] = field(default_factory=dict)  # schema export name -> value (may hold ${VAR})
    client: tuple[str, ...] = ()  # argv of `nixenv services shell NAME`


def apply_export(plan: Plan, service: Service) -> dict[str, str]:
    """The plan's exports under the names the user chose (`export = { DATABASE_URL = "SHOP_DB" }`);
    a "" new name drops the variable."""
    names = exported_names(service)
    return {names[name]: value for name, value in plan.exports.items() if name in names}


def schema_attr(ctx: Context) -> str:
    """The nixpkgs attribute of the service's `version` (config/presets.py)."""
    schema = PRESETS[ctx.service.preset or ""]
    return schema.versions[ctx.service.version or ""]


def os_user() -> str:
    """The name of the OS user nixenv runs as (not $USER, which a caller may set to anything)."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return os.environ.get("USER") or "nixenv"


# --- sh building blocks -------------------------------------------------------------------


def as_user(ctx: Context, argv: str) -> str:
    """`argv` (already shell-quoted) run as ctx.run_as when set."""
    return f"s6-setuidgid {sh(ctx.run_as)} {argv}" if ctx.run_as else argv


def words(values: Iterable[object]) -> str:
    return " ".join(sh(v) for v in values)


def prologue(ctx: Context, what: str) -> str:
    """Start of every script: strict mode, and a `fail` that prints one clear line to stderr."""
    name = ctx.service.name
    return (f"set -eu\n"
            f"fail() {{ printf 'nixenv: %s: %s\\n' {sh(f'{name} ({what})')} \"$*\" >&2; exit 1; }}\n")


def make_dirs(ctx: Context, *, data_mode: str = "700", extra: Iterable[Path] = ()) -> str:
    """mkdir data_dir and run_dir (and extra dirs), owned by run_as when set."""
    dirs = [ctx.data_dir, ctx.run_dir, *extra]
    lines = [f"mkdir -p {words(dirs)} || fail 'cannot create the data directories'"]
    if ctx.run_as:
        lines.append(f"chown {sh(ctx.run_as)} {words(dirs)} || fail {sh('cannot give the data directories to ' + ctx.run_as)}")
    lines.append(f"chmod {data_mode} {sh(ctx.data_dir)}")
    lines.append(f"chmod 755 {sh(ctx.run_dir)}")
    return "\n".join(lines) + "\n"


def write_file(ctx: Context, path: Path, text: str, mode: str = "644") -> str:
    """sh that writes `text` to `path` exactly (printf '%s' with one quoted word), readable by run_as."""
    lines = [f"printf '%s' {sh(text)} > {sh(path)} || fail {sh(f'cannot write {path}')}",
             f"chmod {mode} {sh(path)}"]
    if ctx.run_as:
        lines.append(f"chown {sh(ctx.run_as)} {sh(path)}")
    return "\n".join(lines) + "\n"


def require_env(name: str, what: str) -> str:
    """sh that fails clearly when the variable holding a password is not set."""
    return (f"[ -n \"${{{name}+x}}\" ] || fail {sh(f'{what}: the variable {name} (password_env) is not set')}\n")


def pipe_sql(sql: str, runner: str, what: str, password_env: str | None = None,
             around_password: tuple[str, str] = ("", "")) -> list[str]:
    """sh lines that feed `sql` (setting up `what`) to the client `runner`. With `password_env`, one more statement
    follows: around_password[0], the variable's value as a quoted SQL string, around_password[1]
    (e.g. "ALTER USER x IDENTIFIED BY ", ";"); the value goes from the environment to the
    client's stdin through shell builtins only (SQL_ESCAPE_FN), never argv or a file."""
    failure = f"cannot set up {what}"
    if password_env is None:
        return [f"printf '%s' {sh(sql)} | {runner} || fail {sh(failure)}"]
    before, after = around_password
    return [require_env(password_env, what),
            f"{{ printf '%s' {sh(sql)}; printf '%s%s%s\\n' {sh(before + chr(39))} "
            f"\"$(sql_escape \"${{{password_env}}}\")\" {sh(chr(39) + after)}; }} | {runner} || fail {sh(failure)}"]


def create_database(db: str, *, exists: str, create: str, drop: str,
                    steps: Iterable[tuple[str, str]] = ()) -> list[str]:
    """sh lines that create database `db` unless the command `exists` prints 1, then run each
    step (a command, and what to say when it fails) in it. A failing step drops the new
    database again (`drop`), so that the next start retries from the beginning."""
    lines = [f"if [ \"$({exists})\" != 1 ]; then\n"
             f"  echo {sh(f'nixenv: creating database {db}')}\n"
             f"  {create} || fail {sh(f'cannot create database {db}')}"]
    lines += [f"  {command} || {{ {drop}; fail {sh(failure)}; }}" for command, failure in steps]
    return [*lines, "fi"]


def init_sql_failure(path: object, db: str) -> str:
    return f"{path} failed in the new database {db}; it was dropped again, fix the file and start again"


# A POSIX sh function that prints its argument as a SQL string literal body with `\` and `'`
# escaped (`\` -> `\\`, `'` -> `''`), using only shell builtins: a password read from the
# environment never appears in any process's argv. Callers wrap it in E'...' (postgres) or
# '...' with sql_mode='' (MariaDB/MySQL), where both escapes mean themselves.
SQL_ESCAPE_FN = r"""sql_escape() {
  _rest=$1 _out=
  while [ -n "$_rest" ]; do
    _c=${_rest%"${_rest#?}"}
    _rest=${_rest#?}
    case $_c in
      \\) _out="$_out\\\\" ;;
      \') _out="$_out''" ;;
      *) _out="$_out$_c" ;;
    esac
  done
  printf '%s' "$_out"
}
"""


def env_setting_value(value: str | int | float | bool, booleans: tuple[str, str] = ("on", "off")) -> str:
    """A TOML setting value as the server's text: booleans as the server spells them."""
    if isinstance(value, bool):
        return booleans[0] if value else booleans[1]
    return str(value)


def first_user_for(ctx: Context, database: str):
    """The first configured user granted `database` (the one the connection URL uses), or None."""
    for user in ctx.service.users:
        if database in user.databases:
            return user
    return None


def all_databases(ctx: Context) -> tuple[str, ...]:
    """`databases` then those named only in users' `databases`, in order, without repeats."""
    names = list(ctx.service.databases)
    for user in ctx.service.users:
        names.extend(user.databases)
    return tuple(dict.fromkeys(names))


def url_password(user, encode) -> str:
    """The password part of a URL: the literal password url-encoded, or ${VAR} (expanded by the
    shell that loads the exports; such a password must be URL-safe)."""
    if user.password is not None:
        return ":" + encode(user.password)
    if user.password_env:
        return ":${" + user.password_env + "}"
    return ""


def settings_items(settings: Mapping[str, object], booleans: tuple[str, str] = ("on", "off")) -> list[tuple[str, str]]:
    return [(k, env_setting_value(v, booleans)) for k, v in settings.items()]  # type: ignore[arg-type]
