"""`nixenv doctor`: one line per check, with the fix for anything that is not right."""

from __future__ import annotations

import grp
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from nixenv.app.generate import generate
from nixenv.config.load import NIXPKGS_MIN_NIX, load
from nixenv.config.paths import CONFIG_NAME, find_root
from nixenv.direnv.envrc import envrc_allowed
from nixenv.nix.flake import flake_path_problem, nix_version_tuple
from nixenv.support import proc
from nixenv.support.errors import NixenvError
from nixenv.support.git import git_toplevel, untracked


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


def _version(argv: list[str]) -> str | None:
    try:
        result = proc.run(argv, check=False, timeout=20)
    except NixenvError:
        return None
    return (result.stdout or result.stderr).strip().splitlines()[0] if result.returncode == 0 else None


def check_nix() -> list[Check]:
    version = _version(["nix", "--version"]) if proc.have("nix") else None
    if version is None:
        return [Check("nix", False, "not found", proc.install_hint("nix")),
                Check("flakes", False, "nix is missing", "install nix first")]
    checks = [Check("nix", True, version)]
    result = proc.run(["nix", "--extra-experimental-features", "nix-command", "show-config"],
                      check=False, timeout=20)
    features = re.search(r"^experimental-features = (.*)$", result.stdout, re.M)
    enabled = features is not None and "flakes" in features.group(1).split()
    checks.append(Check(
        "flakes", enabled,
        "enabled" if enabled else "off in nix.conf (nixenv and .envrc enable it per call; plain `nix develop` needs it)",
        "" if enabled else "add `experimental-features = nix-command flakes` to ~/.config/nix/nix.conf",
        required=False,
    ))
    users = check_build_users(result.stdout)
    if users is not None:
        checks.append(users)
    return checks


BUILD_USERS_FIX = ("run `scripts/install-deps` as root (it creates them as nix's installer does), or: `groupadd --system "
                   "nixbld; for n in $(seq 1 10); do useradd --system --home-dir /var/empty --gid nixbld --groups "
                   "nixbld --no-user-group --shell /usr/sbin/nologin nixbld$n; done`, or set `build-users-group =` "
                   "in /etc/nix/nix.conf (builds then run as root)")


def check_build_users(show_config: str, *, euid: int | None = None) -> Check | None:
    """Nix run by root builds as the members of `build-users-group` (default nixbld); Debian's
    nix-bin creates neither the group nor a nix.conf. A non-root user needs the daemon."""
    euid = os.geteuid() if euid is None else euid
    if euid != 0:
        store_writable = os.access("/nix/store", os.W_OK)
        socket = Path("/nix/var/nix/daemon-socket/socket")
        if store_writable or socket.exists() or os.environ.get("NIX_REMOTE"):
            return None
        return Check("nix for this user", False, "no writable /nix/store and no nix-daemon socket",
                     "`sudo apt-get install nix-setup-systemd && sudo usermod -aG nix-users $USER` (log in "
                     "again), or nix's upstream installer with --daemon (README: Nix on a fresh machine)")
    if os.environ.get("NIX_REMOTE") == "daemon":
        return None
    match = re.search(r"^build-users-group = (.*)$", show_config, re.M)
    group = match.group(1).strip() if match else "nixbld"
    if not group:
        return Check("nix build users", True, "none: builds run as root (build-users-group is empty)", required=False)
    try:
        members = grp.getgrnam(group).gr_mem
    except KeyError:
        return Check("nix build users", False, f"the group `{group}` (build-users-group) does not exist: every "
                     "nix build as root fails", BUILD_USERS_FIX)
    if not members:
        return Check("nix build users", False, f"the group `{group}` has no members: every nix build as root fails",
                     BUILD_USERS_FIX)
    return Check("nix build users", True, f"{len(members)} in group {group}")


def check_installation() -> Check | None:
    """nixenv itself installed where a project's .python-version can break it (a pyenv shim)."""
    found = shutil.which("nixenv")
    if found is None or "/shims/" not in found:
        return None
    return Check("nixenv install", False, f"{found} is a pyenv shim: inside a project that pins another Python "
                 "(.python-version) `nixenv` fails", "install it as a tool: `uv tool install nixenv` or "
                 "`pipx install nixenv` (README: Install)", required=False)


def is_local_flake_ref(ref: str) -> bool:
    """A nixpkgs on this machine (path:..., /abs, ./rel, ~/...): its Nix needs are the user's to know."""
    return ref.startswith(("path:", "/", "./", "../", "~"))


def check_nixpkgs_needs(nix_version: str | None, nixpkgs: str) -> Check | None:
    """Current nixpkgs refuses to evaluate with a Nix older than lib/minver.nix says."""
    have = nix_version_tuple(nix_version or "")
    need = nix_version_tuple(NIXPKGS_MIN_NIX)
    if have is None or need is None or is_local_flake_ref(nixpkgs):
        return None
    ok = have >= need
    return Check("nix for nixpkgs", ok,
                 f"nix {'.'.join(map(str, have))} {'>=' if ok else '<'} {NIXPKGS_MIN_NIX}, which current nixpkgs "
                 f"({nixpkgs}) needs (its lib/minver.nix)",
                 "" if ok else f"upgrade nix to {NIXPKGS_MIN_NIX} or later (README: Install), or point "
                 "[project].nixpkgs at an older release", required=False)


def _direnv_hooked(home: Path) -> bool:
    if os.environ.get("DIRENV_DIR") or os.environ.get("DIRENV_FILE"):
        return True
    for rc in (".bashrc", ".bash_profile", ".profile", ".zshrc", ".config/fish/config.fish"):
        try:
            if "direnv hook" in (home / rc).read_text(errors="replace"):
                return True
        except OSError:
            continue
    return False


def check_direnv(root: Path | None) -> list[Check]:
    version = _version(["direnv", "version"]) if proc.have("direnv") else None
    if version is None:
        return [Check("direnv", False, "not found", proc.install_hint("direnv"))]
    home = Path(os.environ.get("HOME", "~")).expanduser()
    shell = Path(os.environ.get("SHELL", "bash")).name
    checks = [Check("direnv", True, version)]
    hooked = _direnv_hooked(home)
    checks.append(Check("direnv hook", hooked, "found in your shell's rc file" if hooked else "not found",
                        "" if hooked else f'add `eval "$(direnv hook {shell})"` to your ~/.{shell}rc',
                        required=False))
    if root is not None and (root / ".envrc").exists():
        ok = envrc_allowed(root)
        checks.append(Check(".envrc allowed", ok, "yes" if ok else "not allowed (or changed since)",
                            "" if ok else f"run `direnv allow {root}` after reading .envrc", required=False))
    return checks


def check_project(root: Path, nix_version: str | None = None) -> list[Check]:
    try:
        cfg = load(root)
    except NixenvError as exc:
        return [Check("nixenv.toml", False, str(exc).splitlines()[0], "fix the problems `nixenv generate` lists")]
    checks = [Check("nixenv.toml", True, f"valid ({cfg.project.name})")]
    path_problem = flake_path_problem(root, nix_version_tuple(nix_version or ""))
    if path_problem is not None:
        checks.append(Check("project path", False, path_problem.split(": ", 1)[-1].split(";")[0],
                            "move the project to a path without spaces, or upgrade nix to 2.19 or later"))
    needs_nix = check_nixpkgs_needs(nix_version, cfg.project.nixpkgs)
    if needs_nix is not None:
        checks.append(needs_nix)
    needs = []
    if cfg.services:
        needs += ["s6-svscan", "execlineb"]
    if cfg.secrets is not None:
        needs += ["sops", "age"]
    in_shell = os.environ.get("NIXENV_ROOT") == str(cfg.root)
    for tool in needs:
        found = proc.have(tool)
        checks.append(Check(tool, found, proc.which(tool) if found else "not on PATH",
                            "" if found else "enter the devshell (`direnv allow` or `nixenv shell`), which "
                            f"provides it, or: {proc.install_hint(tool)}",
                            required=in_shell))
    report = generate(cfg, check=True)
    stale = [c.file.path for c in report.out_of_date]
    checks.append(Check("generated files", not stale, "current" if not stale else "out of date: " + ", ".join(stale),
                        "" if not stale else "run `nixenv generate`" + (" (--force: some were edited by hand)" if report.edited else "")))
    if git_toplevel(root) is None:
        checks.append(Check("git repository", False,
                            "no: nix copies the whole directory (.venv and node_modules included) into the store at each evaluation",
                            "git init && git add nixenv.toml flake.nix .envrc", required=False))
    else:
        committed = [c.file.path for c in report.changes if c.file.committed and (root / c.file.path).exists()]
        missing = untracked(root, committed + [CONFIG_NAME])
        checks.append(Check("tracked by git", not missing, "yes" if not missing else "untracked: " + ", ".join(missing),
                            "" if not missing else f"git add {' '.join(missing)} (a flake in a git repository sees only tracked files)"))
    return checks


def run_checks(start: Path) -> list[Check]:
    try:
        root = find_root(start)
    except NixenvError:
        root = None
    nix_checks = check_nix()
    nix_version = nix_checks[0].detail if nix_checks[0].ok else None
    checks = nix_checks + check_direnv(root)
    installation = check_installation()
    if installation is not None:
        checks.append(installation)
    if root is None:
        checks.append(Check("nixenv.toml", False, f"none in {start} or above", "run `nixenv init`"))
    else:
        checks += check_project(root, nix_version)
    return checks
