"""nix's whole configuration for the tests, the demo and the benchmarks, so that the host's
own configuration changes nothing: the same run on a fresh machine (Debian's nix-bin ships no
/etc/nix/nix.conf, so nix run as root wants the missing build-users group `nixbld`) and on a
used one (whatever someone put in /etc/nix/nix.conf or ~/.config/nix/nix.conf).

nix 2.8 reads, in this order: $NIX_CONF_DIR/nix.conf (default /etc/nix/nix.conf), then every
file of $NIX_USER_CONF_FILES (default: nix/nix.conf in $XDG_CONFIG_HOME, i.e. ~/.config, and
in each of $XDG_CONFIG_DIRS, i.e. /etc/xdg), then $NIX_CONFIG. Its system flake registry is
$NIX_CONF_DIR/registry.json. `private_nix_env` writes a directory with a nix.conf, an empty
registry and an empty user configuration, and returns the variables that point nix at them
(NIX_CONFIG emptied). Settings not in this nix.conf take nix's built-in defaults.

As root (local store, no daemon) this is all nix reads. A non-root user goes through the
nix-daemon, whose own /etc/nix/nix.conf governs builds; nothing here is sent to it (settings
of NIX_CONF_DIR's nix.conf are not passed to the daemon, and the user configuration is empty).

Run as a script: `python tests/testkit/nixconf.py DIR [--online]` writes DIR and prints `export` lines
for a shell (scripts/demo).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

# Offline: the stand-in nixpkgs (tests/testkit/standin.py) builds from host binaries, so no substituter
# and no sandbox (its builders run the host's /bin/sh and link /usr/bin); builds run as the
# invoking user (root here) rather than as build users that a fresh machine does not have.
SETTINGS = {
    "experimental-features": "nix-command flakes",
    "build-users-group": "",
    "sandbox": "false",
    "substituters": "",
    "warn-dirty": "false",
    "accept-flake-config": "false",
}

# The system flake registry (NIX_CONF_DIR/registry.json) and the global one (`flake-registry`,
# fetched from GitHub by default) are both this empty registry.
EMPTY_REGISTRY = '{"flakes": [], "version": 2}\n'


def nix_conf(*, online: bool = False) -> str:
    settings = dict(SETTINGS)
    if online:  # real nixpkgs: its binary cache (nix's default substituters and keys)
        del settings["substituters"]
    lines = ["# nix configuration written by nixenv's tests/testkit/nixconf.py; the host's is not read"]
    lines += [f"{name} = {value}".rstrip() for name, value in settings.items()]
    return "\n".join(lines) + "\n"


def private_nix_env(dest: Path, *, online: bool = False) -> dict[str, str]:
    """Write nix's configuration into `dest`; return the environment variables that make nix
    read it and nothing else."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "registry.json").write_text(EMPTY_REGISTRY)
    text = nix_conf(online=online) + f"flake-registry = {dest / 'registry.json'}\n"
    (dest / "nix.conf").write_text(text)
    (dest / "user.conf").write_text("# no user configuration: ~/.config/nix/nix.conf and /etc/xdg/nix/nix.conf are not read\n")
    return {
        "NIX_CONF_DIR": str(dest),
        "NIX_USER_CONF_FILES": str(dest / "user.conf"),
        "NIX_CONFIG": "",
    }


if __name__ == "__main__":
    args = sys.argv[1:]
    online = "--online" in args
    paths = [a for a in args if a != "--online"]
    if len(paths) != 1:
        sys.exit("usage: python tests/testkit/nixconf.py DIR [--online]")
    for name, value in private_nix_env(Path(paths[0]).resolve(), online=online).items():
        print(f"export {name}={shlex.quote(value)}")
