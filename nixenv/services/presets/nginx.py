"""preset = "nginx": the user's server blocks, run unprivileged on the project's port.

The user's configuration (`config_file`, a path in the project, or `config_text`) holds what
goes inside nginx's `http { }` block: `server { ... }` blocks, upstreams, maps. nixenv writes
the main file around it (run_dir/nginx.conf): `daemon off`, the pid file and every temp path
inside run_dir, the error log to stderr and the access log to stdout, so nginx runs as an
ordinary user. When nixenv is root, the master stays root (nginx's own design) and the
workers run as run_as (`user` directive): the master opens the logs on the service's stdout,
which an unprivileged process could not reopen through /dev/stdout (nixpkgs' nginx otherwise uses /var/log/nginx and /tmp/nginx_*: configureFlags in
pkgs/servers/http/nginx/generic.nix).

The port: `${PORT}` and any other `${NAME}` written in upper case, where NAME is set in the
service's environment when it starts, is replaced by its value when the file is written on
every start (the official nginx Docker image does the same with envsubst over its templates);
nginx's own variables (`$host`, `${request_uri}`, lower case) are left alone, as are names that
are not set. So `listen 127.0.0.1:${PORT};` and `proxy_pass http://127.0.0.1:${WEB_PORT};`.
Ready: a real HTTP request answered with any status.
"""

from __future__ import annotations

import grp
import pwd

from nixenv.services.presets.base import (
    Context, Package, Plan, make_dirs, prologue, schema_attr, words, write_file,
)
from nixenv.support.escape import sh

# ${NAME} (upper case, set in the environment) -> its value; everything else verbatim. awk is
# POSIX and in every nixpkgs stdenv; ENVIRON gives the value without a shell re-reading it.
SUBST_AWK = r'''{
  out = ""; line = $0
  while (match(line, /\$\{[A-Z_][A-Z0-9_]*\}/)) {
    name = substr(line, RSTART + 2, RLENGTH - 3)
    out = out substr(line, 1, RSTART - 1)
    if (name in ENVIRON) out = out ENVIRON[name]; else out = out substr(line, RSTART, RLENGTH)
    line = substr(line, RSTART + RLENGTH)
  }
  print out line
}'''


def run_as_user_group(name: str) -> str:
    """`user NAME GROUP`: without GROUP nginx looks up a group named NAME (Debian's nobody is in nogroup)."""
    try:
        return f"{name} {grp.getgrgid(pwd.getpwnam(name).pw_gid).gr_name}"
    except KeyError:
        return name


def main_conf(ctx: Context, user_conf: str) -> str:
    run = ctx.run_dir
    temps = "\n".join(f"    {d}_temp_path {run / ('tmp_' + d)};" for d in
                      ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (
        ("# written by nixenv on every start (preset nginx); edit your own file instead\n")
        + (f"user {run_as_user_group(ctx.run_as)};\n" if ctx.run_as else "") +
        "daemon off;\n"
        "worker_processes 1;\n"
        f"pid {run / 'nginx.pid'};\n"
        "error_log stderr;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        "    access_log /dev/stdout;\n"
        f"{temps}\n"
        f"    include {user_conf};\n"
        "}\n"
    )


def plan(ctx: Context) -> Plan:
    service = ctx.service
    run = ctx.run_dir
    conf = run / "nginx.conf"
    user_conf = run / "user.conf"
    setup = prologue(ctx, "setup") + make_dirs(ctx) + f"PORT={ctx.port}; export PORT\n"
    if service.config_file is not None:
        source = ctx.project_root / service.config_file
        setup += (f"[ -f {sh(source)} ] || fail {sh(f'config_file {service.config_file} does not exist')}\n"
                  f"awk {sh(SUBST_AWK)} < {sh(source)} > {sh(user_conf)} || fail 'cannot write the configuration'\n")
    else:
        setup += (f"printf '%s\\n' {sh(service.config_text or '')} | awk {sh(SUBST_AWK)} > {sh(user_conf)} "
                  f"|| fail 'cannot write the configuration'\n")
    setup += f"chmod 644 {sh(user_conf)}\n"
    setup += write_file(ctx, conf, main_conf(ctx, str(user_conf)))
    # the configuration is checked before the server starts: a mistake fails setup with nginx's message
    setup += (words(["nginx", "-t", "-q", "-e", "stderr", "-p", run, "-c", conf]) +
              " || fail 'nginx rejected the configuration (above)'\n")
    probe = (f'exec 3<>/dev/tcp/127.0.0.1/{ctx.port} || exit 1; printf "GET / HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n" >&3; '
             f'IFS= read -r -t 5 line <&3 || exit 1; case "$line" in HTTP/*) exit 0;; esac; exit 1')
    return Plan(
        packages=(Package(schema_attr(ctx)),),
        setup=setup,
        # -e stderr: nginx opens its compiled-in error log before reading the configuration
        command="exec " + words(["nginx", "-e", "stderr", "-p", run, "-c", conf]),
        ready=f"bash -c {sh(probe)} 2>/dev/null",
        ensure="",
        stop_signal="TERM",  # fast shutdown; QUIT would wait for keep-alive connections
        stop_timeout=5.0,
        exports={"NGINX_URL": f"http://127.0.0.1:{ctx.port}"},
        client=(),
    )
