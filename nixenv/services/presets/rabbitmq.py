"""preset = "rabbitmq": RabbitMQ with the management plugin.

Everything is placed by environment variables (RABBITMQ_MNESIA_BASE, RABBITMQ_CONFIG_FILE, ...)
set in `command` itself, so `rabbitmqctl` in ensure finds the same node: node name
`rabbit_<port>@localhost` (two projects on one machine share epmd, so the names must differ),
HOME = data_dir (Erlang's cookie), logs to stdout (RABBITMQ_LOGS=-). Listeners: AMQP on
127.0.0.1:port, management on 127.0.0.1:management_port (default port + 10000, as 5672 ->
15672), Erlang distribution on port + 20000 (port - 20000 above 45535). epmd (Erlang's port
mapper, shared by every Erlang node of the machine) is started by the first node if none runs
and outlives it: it listens on 127.0.0.1:4369 only (ERL_EPMD_ADDRESS).
`users` get a password (read by rabbitmqctl from stdin, never argv), the `administrator` tag
(the management UI) and all permissions on their `databases`, which here are virtual hosts
(created if missing; "/" when none are given).
"""

from __future__ import annotations

from urllib.parse import quote

from nixenv.services.presets.base import (
    Context, Package, Plan, as_user, make_dirs, prologue, require_env, schema_attr, settings_items, words, write_file,
)
from nixenv.services.presets.memcached import tcp_probe
from nixenv.support.escape import sh

OWN = ("listeners.tcp.default", "management.tcp.port", "management.tcp.ip")


def management_port(ctx: Context) -> int:
    return ctx.service.management_port or ctx.port + 10000


def dist_port(ctx: Context) -> int:
    return ctx.port + 20000 if ctx.port + 20000 <= 65535 else ctx.port - 20000


def environment(ctx: Context) -> dict[str, str]:
    data, run = ctx.data_dir, ctx.run_dir
    return {"HOME": str(data), "RABBITMQ_NODENAME": f"rabbit_{ctx.port}@localhost",
            "RABBITMQ_MNESIA_BASE": str(data / "mnesia"), "RABBITMQ_LOG_BASE": str(data / "log"),
            "RABBITMQ_LOGS": "-", "RABBITMQ_CONFIG_FILE": str(run / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(run / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(run / "rabbitmq.pid"), "RABBITMQ_DIST_PORT": str(dist_port(ctx)),
            "ERL_EPMD_ADDRESS": "127.0.0.1"}


def env_prefix(ctx: Context) -> str:
    return "env " + " ".join(sh(f"{k}={v}") for k, v in environment(ctx).items())


def conf(ctx: Context) -> str:
    lines = ["# written by nixenv on every start (preset rabbitmq); use `settings` in nixenv.toml",
             f"listeners.tcp.default = 127.0.0.1:{ctx.port}", "management.tcp.ip = 127.0.0.1",
             f"management.tcp.port = {management_port(ctx)}"]
    for name, value in settings_items(ctx.service.settings, ("true", "false")):
        if name not in OWN:
            lines.append(f"{name} = {value}")  # rabbitmq.conf (cuttlefish) values are one line, unquoted
    return "\n".join(lines) + "\n"


def ctl(ctx: Context, *args: str) -> str:
    return as_user(ctx, env_prefix(ctx) + " " + words(["rabbitmqctl", "-q", *args]))


def _ensure(ctx: Context) -> str:
    out = [prologue(ctx, "ensure")]
    for user in ctx.service.users:
        vhosts = user.databases or ("/",)
        for vhost in vhosts:
            out.append(f"{ctl(ctx, 'add_vhost', vhost)} >/dev/null 2>&1 || true")
        if user.password_env:
            out.append(require_env(user.password_env, f"user {user.name}"))
            password = f"printf '%s' \"${{{user.password_env}}}\""
        else:
            password = f"printf '%s' {sh(user.password or '')}"
        out.append(f"if {ctl(ctx, 'list_users')} | cut -f1 | grep -qxF -- {sh(user.name)}; then\n"
                   f"  {password} | {ctl(ctx, 'change_password', user.name)} >/dev/null || fail {sh(f'cannot set the password of {user.name}')}\n"
                   f"else\n"
                   f"  {password} | {ctl(ctx, 'add_user', user.name)} >/dev/null || fail {sh(f'cannot add user {user.name}')}\n"
                   f"fi")
        out.append(f"{ctl(ctx, 'set_user_tags', user.name, 'administrator')} >/dev/null || fail {sh(f'cannot tag {user.name}')}")
        for vhost in vhosts:
            out.append(f"{ctl(ctx, 'set_permissions', '-p', vhost, user.name, '.*', '.*', '.*')} >/dev/null "
                       f"|| fail {sh(f'cannot grant {user.name} the vhost {vhost}')}")
    return "\n".join(out) + "\n"


def plan(ctx: Context) -> Plan:
    run = ctx.run_dir
    setup = (prologue(ctx, "setup") + make_dirs(ctx, extra=[ctx.data_dir / "mnesia", ctx.data_dir / "log"]) +
             write_file(ctx, run / "rabbitmq.conf", conf(ctx)) +
             write_file(ctx, run / "enabled_plugins", "[rabbitmq_management].\n"))
    user = ctx.service.users[0] if ctx.service.users else None
    if user:
        password = (quote(user.password, safe="") if user.password is not None else
                    "${" + user.password_env + "}" if user.password_env else "")
        vhost = user.databases[0] if user.databases else "/"
        url = f"amqp://{quote(user.name, safe='')}:{password}@127.0.0.1:{ctx.port}/{quote(vhost, safe='')}"
    else:
        url = f"amqp://guest:guest@127.0.0.1:{ctx.port}/%2F"
    return Plan(
        packages=(Package(schema_attr(ctx)),),
        setup=setup,
        command="exec " + as_user(ctx, env_prefix(ctx) + " rabbitmq-server"),
        # AMQP 0-9-1 protocol header -> the server's Connection.Start frame (type 1)
        ready=tcp_probe(ctx.port, "AMQP\\0\\0\\011\\001", "\x01"),
        ensure=_ensure(ctx),
        stop_signal="TERM",
        stop_timeout=20.0,
        exports={"AMQP_URL": url, "RABBITMQ_URL": url,
                 "RABBITMQ_MANAGEMENT_URL": f"http://127.0.0.1:{management_port(ctx)}"},
        client=("sh", "-c", env_prefix(ctx) + ' exec rabbitmqctl "$@"', "rabbitmqctl"),
    )
