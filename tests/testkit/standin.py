"""Writes the stand-in nixpkgs flake (tests/standin/flake.nix) with this machine's host.nix."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent  # tests/

# nixpkgs attribute -> host commands it provides
HOST_COMMANDS: dict[str, tuple[str, ...]] = {
    "nodejs_22": ("node", "npm", "npx", "corepack"),
    "nodejs_24": ("node", "npm", "npx", "corepack"),
    # as in nixpkgs (pkgs/development/web/nodejs/nodejs.nix): no bundled corepack from Node 25 on,
    # the standalone `corepack` package instead
    "nodejs_26": ("node", "npm", "npx"),
    "corepack": ("corepack",),
    "uv": ("uv", "uvx"),
    "poetry": ("poetry",),
    "pdm": ("pdm",),
    "sops": ("sops",),
    "age": ("age", "age-keygen"),
    "direnv": ("direnv",),
    "git": ("git",),
    "gnumake": ("make",),
    "gcc": ("gcc", "cc"),
    "pkg-config": ("pkg-config",),
    "coreutils": ("ls", "cat", "env", "printenv"),
    "hello": ("true",),
    "redis": ("redis-server", "redis-cli"),
    "s6": ("s6-svscan", "s6-supervise", "s6-svc", "s6-svscanctl", "s6-svstat", "s6-svok", "s6-svwait",
           "s6-log", "s6-notifyoncheck", "s6-svdt", "s6-envdir", "s6-setsid", "s6-tai64nlocal"),
    "execline": ("execlineb",),
    "bashInteractive": ("bash",),
    "bash": ("bash",),
    # service presets (nixenv/services/presets): Debian's servers stand in for every version
    **{f"postgresql_{v}": ("postgres", "initdb", "pg_ctl", "psql", "pg_isready", "createdb", "createuser",
                           "dropdb", "pg_dump", "pg_restore") for v in range(13, 19)},
    **{attr: ("mariadbd", "mariadb-install-db", "mariadb", "mariadb-admin", "mariadb-dump", "mysql", "mysqladmin")
       for attr in ("mariadb", "mariadb_106", "mariadb_1011", "mariadb_114", "mariadb_118")},
    "memcached": ("memcached",),
    "rabbitmq-server": ("rabbitmq-server", "rabbitmqctl", "rabbitmq-plugins", "rabbitmq-diagnostics"),
    "nginx": ("nginx",),
    # no valkey (not in Debian bookworm) and no mysql84/mysql80 (MySQL is not in Debian): missing, as
    # they would be on a machine without them, rather than MariaDB under MySQL's name
}
# where Debian keeps server binaries off PATH: the PostgreSQL server tools, and RabbitMQ's real
# scripts (/usr/sbin/rabbitmq-server is a wrapper that refuses users other than root and rabbitmq)
HOST_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/rabbitmq/bin")


def _host_path() -> str:
    dirs = [str(Path(sys.executable).parent), "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
    return ":".join(dict.fromkeys(dirs))


def _find(command: str) -> str | None:
    # Prefer the real binaries next to this interpreter over pyenv's shims.
    found = shutil.which(command, path=":".join((*HOST_DIRS, _host_path())))
    return os.path.realpath(found) if found else None


def _nix_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${") + '"'


def host_packages() -> dict[str, dict[str, dict[str, str]]]:
    packages: dict[str, dict[str, dict[str, str]]] = {}
    for attr, commands in HOST_COMMANDS.items():
        found = {c: p for c in commands if (p := _find(c))}
        if found:
            packages[attr] = {"bin": found}
    if "execline" in packages and Path("/usr/lib/execline/bin").is_dir():
        for tool in os.listdir("/usr/lib/execline/bin"):
            packages["execline"]["bin"].setdefault(tool, f"/usr/lib/execline/bin/{tool}")
    # One host interpreter stands in for every python3XX: link its prefix so venvs find the stdlib.
    prefix = sys.base_prefix
    exe = os.path.realpath(sys.executable)
    python = {"bin": {"python3": exe, "python": exe, f"python{sys.version_info[0]}.{sys.version_info[1]}": exe},
              "links": {d: os.path.join(prefix, d) for d in ("lib", "include") if os.path.isdir(os.path.join(prefix, d))}}
    for minor in (11, 12, 13, 14):
        packages[f"python3{minor}"] = python
    packages["python3"] = python
    return packages


def host_nix(eval_cost: int = 0) -> str:
    lines = ["{", f"  path = {_nix_str(_host_path())};", f"  evalCost = {int(eval_cost)};", "  packages = {"]
    for attr, spec in sorted(host_packages().items()):
        lines.append(f"    {_nix_str(attr)} = {{")
        for section, entries in spec.items():
            inner = " ".join(f"{_nix_str(k)} = {_nix_str(v)};" for k, v in sorted(entries.items()))
            lines.append(f"      {section} = {{ {inner} }};")
        lines.append("    };")
    lines += ["  };", "}", ""]
    return "\n".join(lines)


def make_standin(dest: Path, eval_cost: int = 0) -> Path:
    """Write the stand-in nixpkgs flake into `dest` and return it (use as path:<dest>)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(HERE / "standin" / "flake.nix", dest / "flake.nix")
    (dest / "host.nix").write_text(host_nix(eval_cost))
    return dest


if __name__ == "__main__":
    target = make_standin(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("standin"),
                          eval_cost=int(os.environ.get("NIXENV_STANDIN_EVAL_COST", "0")))
    print(target)
