"""preset = "redis" and preset = "valkey": one server, its data (RDB/AOF) in data_dir.

The configuration is a file written on every start (run_dir/redis.conf): nixenv's directives
(bind 127.0.0.1, port, dir, unix socket, no daemonizing, log to stdout), then `settings`, each
value double-quoted with Redis's own escapes (sdssplitargs: `\\"`, `\\\\`, `\\xHH`), so a value is
one argument exactly as written; multi-argument directives such as `save = "900 1 300 10"`
still work because Redis 7 splits a single argument of those. Valkey (a fork of Redis 7.2)
reads the same file format; its binaries are valkey-server and valkey-cli.
"""

from __future__ import annotations

from nixenv.services.presets.base import (
    Context, Plan, Package, as_user, make_dirs, prologue, schema_attr, settings_items, words, write_file,
)

# nixenv's directives; a user's setting of these would move the server away from what is exported
OWN = ("bind", "port", "dir", "unixsocket", "daemonize", "logfile", "pidfile", "supervised")


def redis_quote(value: str) -> str:
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def config(ctx: Context) -> str:
    lines = ["# written by nixenv on every start; use `settings` in nixenv.toml instead of editing",
             "bind 127.0.0.1", f"port {ctx.port}", f"dir {redis_quote(str(ctx.data_dir))}",
             f"unixsocket {redis_quote(str(ctx.run_dir / 'redis.sock'))}", "unixsocketperm 700",
             "daemonize no", 'logfile ""', "protected-mode yes"]
    for name, value in settings_items(ctx.service.settings, ("yes", "no")):
        if name.lower() not in OWN:
            lines.append(f"{name} {redis_quote(value)}")
    return "\n".join(lines) + "\n"


def plan(ctx: Context, *, flavour: str = "redis") -> Plan:
    server, cli = f"{flavour}-server", f"{flavour}-cli"
    conf = ctx.run_dir / f"{flavour}.conf"
    setup = prologue(ctx, "setup") + make_dirs(ctx) + write_file(ctx, conf, config(ctx))
    url = f"redis://127.0.0.1:{ctx.port}"
    ping = words([cli, "-h", "127.0.0.1", "-p", ctx.port, "ping"])
    exports = {"REDIS_URL": url}
    if flavour == "valkey":
        exports["VALKEY_URL"] = url
    return Plan(
        packages=(Package(schema_attr(ctx)),),
        setup=setup,
        command="exec " + as_user(ctx, words([server, conf])),
        ready=f'[ "$({ping} 2>/dev/null)" = PONG ]',
        ensure="",
        stop_signal="TERM",  # Redis saves (when `save` is configured) and exits
        stop_timeout=10.0,
        exports=exports,
        client=(cli, "-h", "127.0.0.1", "-p", str(ctx.port)),
    )


def valkey_plan(ctx: Context) -> Plan:
    return plan(ctx, flavour="valkey")
