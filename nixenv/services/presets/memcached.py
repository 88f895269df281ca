"""preset = "memcached": a cache with nothing to keep (data_dir unused but created).

`settings` are memcached's own flags: one-letter names as `-m 64`, long names as
`--memory-limit=64`; `true` gives the bare flag, `false` leaves it out. Ready: a `version`
request over TCP answered `VERSION ...` (memcached ships no client; bash's /dev/tcp does it,
bash is in every nixpkgs stdenv). Run as root it would need `-u`; run_as drops privileges
through s6-setuidgid instead.
"""

from __future__ import annotations

from nixenv.services.presets.base import Context, Package, Plan, as_user, make_dirs, prologue, schema_attr, words
from nixenv.support.escape import sh

OWN = ("l", "listen", "p", "port", "U", "udp-port", "s", "unix-socket", "d", "daemon", "u", "user")


def flags(ctx: Context) -> list[str]:
    out: list[str] = []
    for name, value in ctx.service.settings.items():
        if name in OWN or value is False:
            continue
        flag = f"-{name}" if len(name) == 1 else f"--{name}"
        if value is True:
            out.append(flag)
        elif len(name) == 1:
            out += [flag, str(value)]
        else:
            out.append(f"{flag}={value}")
    return out


def tcp_probe(port: int, request: str, expect_prefix: str) -> str:
    """A real request/answer over TCP with bash's /dev/tcp (no client binary needed)."""
    script = (f'exec 3<>/dev/tcp/127.0.0.1/{port} || exit 1; printf {sh(request)} >&3; '
              f'IFS= read -r -t 5 line <&3 || exit 1; case "$line" in {sh(expect_prefix)}*) exit 0;; esac; exit 1')
    return f"bash -c {sh(script)} 2>/dev/null"


def plan(ctx: Context) -> Plan:
    argv = ["memcached", "-l", "127.0.0.1", "-p", ctx.port, "-U", "0", *flags(ctx)]
    return Plan(
        packages=(Package(schema_attr(ctx)),),
        setup=prologue(ctx, "setup") + make_dirs(ctx),
        command="exec " + as_user(ctx, words(argv)),
        ready=tcp_probe(ctx.port, "version\r\n", "VERSION "),
        ensure="",
        stop_signal="TERM",
        stop_timeout=5.0,
        exports={"MEMCACHED_URL": f"memcache://127.0.0.1:{ctx.port}", "MEMCACHED_SERVERS": f"127.0.0.1:{ctx.port}"},
        client=("bash", "-c", f'exec 3<>/dev/tcp/127.0.0.1/{ctx.port}; cat <&3 & cat >&3'),
    )
