"""nixenv.toml: schema, parsing and validation.

`load(root)` returns a frozen `Config` or raises `ConfigError` listing every problem at
once, each with file:line, the key path, what was expected, what was found, and a
"did you mean" for misspelt keys and values. Unknown keys are errors.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from nixenv.config.paths import CONFIG_NAME, find_root
from nixenv.config.presets import ALIASES, PRESETS
from nixenv.support import graph
from nixenv.support.errors import ConfigError, NixenvError, Problem
from nixenv.support.text import did_you_mean, printable
from nixenv.support.tomlpos import KeyPath, key_lines, line_of

# The current stable channel (the one place it is named; README "Keeping nixpkgs current"). It needs
# Nix >= NIXPKGS_MIN_NIX (nixpkgs lib/minver.nix); `nixenv doctor` checks.
DEFAULT_NIXPKGS = "github:NixOS/nixpkgs/nixos-26.05"
NIXPKGS_MIN_NIX = "2.18.0"
DEFAULT_SYSTEMS = ("x86_64-linux", "aarch64-linux", "x86_64-darwin", "aarch64-darwin")
KNOWN_SYSTEMS = DEFAULT_SYSTEMS + ("i686-linux", "armv7l-linux", "riscv64-linux")
PYTHON_MANAGERS = ("uv", "poetry", "pdm", "pip", "none")
NODE_MANAGERS = ("yarn", "pnpm", "npm")
# nodejs_XX attributes of the default channel (pkgs/development/web/nodejs/v22.nix, v24.nix, v26.nix)
NODE_VERSIONS = ("22", "24", "26")
RESTART_POLICIES = ("always", "on-failure", "never")
SIGNALS = ("TERM", "INT", "QUIT", "HUP", "KILL", "USR1", "USR2", "WINCH")
READY_KINDS = ("tcp", "http", "command")

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# nixpkgs attribute path: dot-separated identifiers (as Nix parses them unquoted)
ATTR_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_'-]*(\.[A-Za-z_][A-Za-z0-9_'-]*)*\Z")
# a script becomes a derivation name (writeShellScriptBin) and a command name
SCRIPT_NAME = re.compile(r"[A-Za-z0-9_+?=][A-Za-z0-9_+?=.-]*\Z")
PROJECT_NAME = re.compile(r"[A-Za-z0-9_+?=][A-Za-z0-9_+?=.-]*\Z")
PYTHON_VERSION = re.compile(r"3\.(\d{1,2})\Z")
NODE_VERSION = re.compile(r"(\d{2})\Z")
# names the shell or nix manage themselves; setting them from [env] would break the shell
RESERVED_ENV = frozenset(
    "PATH HOME SHELL TMPDIR TMP TEMP TEMPDIR PWD OLDPWD SHLVL IFS TERM TZ UID PPID "
    "BASHOPTS SHELLOPTS NIX_BUILD_TOP NIX_LOG_FD NIX_REMOTE NIX_ENFORCE_PURITY SSL_CERT_FILE "
    "DIRENV_DIR DIRENV_FILE DIRENV_DIFF DIRENV_WATCHES VIRTUAL_ENV PORT "
    # set by the generated flake for [packages] libraries, or by nixenv itself
    "CPATH LIBRARY_PATH PKG_CONFIG_PATH LD_LIBRARY_PATH DYLD_FALLBACK_LIBRARY_PATH "
    "NIXENV_PROJECT NIXENV_ROOT NIXENV_LIBRARY_PATH NIXENV_DID_FALLBACK "
    # attributes of the devshell derivation itself: nixpkgs refuses them inside mkShell's env
    "name system builder args outputs stdenv packages buildInputs nativeBuildInputs "
    "propagatedBuildInputs shellHook env passAsFile phases buildPhase preferLocalBuild "
    "NIXENV_PYTHON_FALLBACK NIXENV_PYTHON_PRELOAD".split()
)
# What nixpkgs' mkDerivation passes to `derivation` whatever mkShell is given (makeDerivationArgument
# and mkDerivationSimple in pkgs/stdenv/generic/make-derivation.nix): `checkedEnv` refuses an `env`
# attribute of the same name ("The `env` attribute set cannot contain any attributes passed to
# derivation"), so such a name fails only when nix evaluates the flake.
DERIVATION_ATTRS = frozenset(
    "userHook __ignoreNulls __structuredAttrs strictDeps depsBuildBuild depsBuildBuildPropagated "
    "depsBuildTarget depsBuildTargetPropagated depsHostHost depsHostHostPropagated depsTargetTarget "
    "depsTargetTargetPropagated propagatedNativeBuildInputs configureFlags patches doCheck "
    "doInstallCheck cmakeFlags mesonFlags __contentAddressed outputHash outputHashAlgo outputHashMode "
    "enableParallelBuilding enableParallelChecking enableParallelInstalling NIX_HARDENING_ENABLE "
    "requiredSystemFeatures __darwinAllowLocalNetworking __sandboxProfile __propagatedSandboxProfile "
    "__impureHostDeps __propagatedImpureHostDeps".split()
)


@dataclass(frozen=True)
class Project:
    name: str
    nixpkgs: str = DEFAULT_NIXPKGS
    systems: tuple[str, ...] = DEFAULT_SYSTEMS
    dotenv: tuple[str, ...] = ()


@dataclass(frozen=True)
class Packages:
    include: tuple[str, ...] = ()


@dataclass(frozen=True)
class Python:
    version: str = "3.12"
    manager: str = "pip"
    requirements: tuple[str, ...] = ()

    @property
    def attr(self) -> str:
        """nixpkgs attribute of the interpreter: 3.12 -> python312."""
        return "python3" + self.version.split(".", 1)[1]


@dataclass(frozen=True)
class Node:
    version: str = "22"
    manager: str = "npm"

    @property
    def attr(self) -> str:
        return f"nodejs_{self.version}"


@dataclass(frozen=True)
class Secrets:
    file: str = "secrets.env"
    age: tuple[str, ...] = ()
    pgp: tuple[str, ...] = ()
    kms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ready:
    kind: str  # tcp | http | command
    value: int | str


@dataclass(frozen=True)
class DbUser:
    """A database user a preset ensures exists (postgres, mysql, rabbitmq)."""
    name: str
    password: str | None = None  # literal (a development password)
    password_env: str | None = None  # or: read from this variable (e.g. a secret) when the service starts
    databases: tuple[str, ...] = ()  # granted all privileges on these


@dataclass(frozen=True)
class Service:
    name: str
    command: str  # for a preset: "" unless overridden; the preset supplies it
    port: int | None = None  # for a preset: None = a per-project port nixenv chooses
    cwd: str = "."
    depends_on: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    ready: Ready | None = None
    restart: str = "always"
    stop_signal: str | None = None  # None: the preset's, else TERM
    stop_timeout: float | None = None  # None: the preset's, else 10 s
    oneshot: bool = False  # runs to completion; dependants wait for exit 0
    preset: str | None = None
    version: str = ""
    databases: tuple[str, ...] = ()
    users: tuple[DbUser, ...] = ()
    settings: Mapping[str, str | int | float | bool] = field(default_factory=dict)
    extensions: tuple[str, ...] = ()
    init_sql: tuple[str, ...] = ()
    export: Mapping[str, str] = field(default_factory=dict)  # preset variable -> the name to export it as
    management_port: int | None = None
    config_file: str | None = None
    config_text: str | None = None

    @property
    def signal(self) -> str:
        return self.stop_signal or "TERM"

    @property
    def timeout(self) -> float:
        return self.stop_timeout if self.stop_timeout is not None else 10.0


@dataclass(frozen=True)
class Config:
    root: Path
    path: Path
    project: Project
    packages: Packages = Packages()
    python: Python | None = None
    node: Node | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    secrets: Secrets | None = None
    services: Mapping[str, Service] = field(default_factory=dict)
    scripts: Mapping[str, str] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        """.nixenv/: service directories, scan dir, logs, state (gitignored)."""
        return self.root / ".nixenv"


# --------------------------------------------------------------------------- validation


class _Checker:
    """Collects problems while converting the raw TOML dict into dataclasses."""

    def __init__(self, file: str, text: str):
        self.file = file
        self.text = text
        self._lines: dict[KeyPath, int] | None = None
        self.problems: list[Problem] = []

    def problem(self, path: KeyPath, message: str, suggestion: str | None = None) -> None:
        if self._lines is None:  # positions are only needed for errors: scan the text then
            self._lines = key_lines(self.text)
        self.problems.append(
            Problem(self.file, line_of(self._lines, path), _dotted(path), message, suggestion)
        )

    def table(self, raw: Any, path: KeyPath, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(raw, dict):
            self.problem(path, f"expected a table, found {_describe(raw)}")
            return {}
        for key in raw:
            if key not in allowed:
                self.problem(path + (key,), f"unknown key `{key}`", did_you_mean(key, allowed))
        return raw

    def string(self, raw: Any, path: KeyPath, *, pattern: re.Pattern[str] | None = None,
               what: str = "a string", choices: tuple[str, ...] | None = None) -> str | None:
        if not isinstance(raw, str):
            hint = f'quote it: {path[-1]} = "{raw}"' if isinstance(raw, (int, float, bool)) else None
            self.problem(path, f"expected {what}, found {_describe(raw)}", hint)
            return None
        if choices is not None and raw not in choices:
            self.problem(path, f"expected one of {', '.join(choices)}, found {raw!r}",
                         did_you_mean(raw, choices))
            return None
        if pattern is not None and not pattern.match(raw):
            self.problem(path, f"expected {what}, found {raw!r}")
            return None
        return raw

    def string_list(self, raw: Any, path: KeyPath, *, check: Callable[[str, KeyPath], bool] | None = None,
                    what: str = "a list of strings") -> tuple[str, ...]:
        if not isinstance(raw, list):
            self.problem(path, f"expected {what}, found {_describe(raw)}",
                         f'write it as a list: {path[-1]} = ["{raw}"]' if isinstance(raw, str) else None)
            return ()
        out = []
        for index, item in enumerate(raw):
            item_path = path + (str(index),)
            if not isinstance(item, str):
                self.problem(item_path, f"expected a string, found {_describe(item)}")
            elif check is None or check(item, item_path):
                out.append(item)
        return tuple(out)

    def env_table(self, raw: Any, path: KeyPath, *, through_nix: bool = False) -> dict[str, str]:
        if not isinstance(raw, dict):
            self.problem(path, f"expected a table of NAME = \"value\", found {_describe(raw)}")
            return {}
        out: dict[str, str] = {}
        for name, value in raw.items():
            key_path = path + (name,)
            if not ENV_NAME.match(name):
                self.problem(key_path, f"`{name}` is not a valid environment variable name",
                             "use letters, digits and _, not starting with a digit")
                continue
            if name in RESERVED_ENV or name.startswith("NIXENV_USER_"):
                self.problem(key_path, f"`{name}` is managed by the shell, nix or nixenv and cannot be set here")
                continue
            if name in DERIVATION_ATTRS:
                self.problem(key_path, f"`{name}` is an attribute nixpkgs' mkDerivation passes to the devshell "
                             "derivation itself, so nix refuses it in mkShell's `env` (checkedEnv in "
                             "pkgs/stdenv/generic/make-derivation.nix)", "rename the variable")
                continue
            if isinstance(value, bool):
                value = "1" if value else "0"
            elif isinstance(value, (int, float)):
                value = str(value)
            if not isinstance(value, str):
                self.problem(key_path, f"expected a string, found {_describe(value)}")
                continue
            if "\0" in value:
                self.problem(key_path, "a NUL character cannot be part of an environment variable")
                continue
            size = len(name.encode()) + 1 + len(value.encode()) + 1
            if size > MAX_ARG_STRLEN:
                self.problem(key_path, f"NAME=value is {size} bytes; Linux passes at most {MAX_ARG_STRLEN} bytes "
                             "per variable (MAX_ARG_STRLEN): the build and every command would fail with "
                             "\"Argument list too long\"", "keep large data in a file and put its path here")
                continue
            control = next((c for c in value if c < " " and c not in "\t\n\r"), None) if through_nix else None
            if control is not None:
                self.problem(key_path, f"control character U+{ord(control):04X} in the value: `nix print-dev-env` "
                             "cannot pass it through (tab, newline and CR can)", "remove it, or store it escaped")
                continue
            out[name] = value
        return out


def _dotted(path: KeyPath) -> str:
    parts = []
    for part in path:
        if part.isdigit() and parts:
            parts[-1] += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z0-9_-]+", part):
            parts.append(part)
        else:
            parts.append('"' + printable(part.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")) + '"')
    return ".".join(parts)


def _describe(value: Any) -> str:
    kind = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)
    if isinstance(value, (dict, list)):
        return kind
    return f"{kind} ({value!r})"


# Linux's limit on one argv or environment string, "NAME=value\0" (32 pages; include/uapi/linux/binfmts.h)
MAX_ARG_STRLEN = 131072

TOP_KEYS = ("project", "packages", "python", "node", "env", "secrets", "services", "scripts")
PROJECT_KEYS = ("name", "nixpkgs", "systems", "dotenv")
PYTHON_KEYS = ("version", "manager", "requirements")
NODE_KEYS = ("version", "manager")
SECRETS_KEYS = ("file", "age", "pgp", "kms")
SERVICE_KEYS = ("command", "port", "cwd", "depends_on", "env", "ready", "restart", "stop_signal", "stop_timeout",
                "oneshot", "preset")
USER_KEYS = ("name", "password", "password_env", "databases")
# a database or user name a preset can quote safely in SQL and in a URL
DB_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,62}\Z")


def parse(text: str, *, root: Path, file: str = CONFIG_NAME) -> Config:
    """Validate TOML text into a Config (raises ConfigError with every problem)."""
    if text.startswith("\ufeff"):
        raise ConfigError([Problem(file, 1, "", "the file starts with a UTF-8 byte order mark (BOM), which TOML "
                                   "does not allow", "save it as UTF-8 without BOM")])
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise ConfigError([Problem(file, int(match.group(1)) if match else None, "",
                                   f"not valid TOML: {exc}")]) from None
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        raise ConfigError([Problem(file, _deepest_line(text), "", "arrays or inline tables nested too deeply for "
                                   "the TOML parser", "flatten the value (nixenv needs at most a few levels)")]) from None
    check = _Checker(file, text)
    check.table(raw, (), TOP_KEYS)

    project = _project(check, raw.get("project"))
    packages = Packages(check.string_list(
        raw.get("packages", {}).get("include", []) if isinstance(raw.get("packages", {}), dict) else [],
        ("packages", "include"),
        check=lambda item, p: _attr_path_ok(check, item, p),
    ))
    if "packages" in raw:
        check.table(raw["packages"], ("packages",), ("include",))
    python = _python(check, raw["python"]) if "python" in raw else None
    node = _node(check, raw["node"]) if "node" in raw else None
    env = check.env_table(raw.get("env", {}), ("env",), through_nix=True)
    for key, value in env.items():
        if SERVICE_REF.search(value):
            check.problem(("env", key), "`${services.NAME.port}` is not available in [env] (it goes into the "
                          "committed flake, and ports are chosen per machine)",
                          "set it in the service's env, or use the variables the preset exports (e.g. DATABASE_URL)")
    secrets = _secrets(check, raw["secrets"]) if "secrets" in raw else None
    services = _services(check, raw.get("services", {}))
    scripts = _scripts(check, raw.get("scripts", {}))

    if check.problems:
        raise ConfigError(check.problems)
    assert project is not None
    return Config(root=root, path=root / file, project=project, packages=packages, python=python,
                  node=node, env=env, secrets=secrets, services=services, scripts=scripts)


def _deepest_line(text: str) -> int | None:
    """The line where bracket nesting is deepest (to point at a runaway value)."""
    depth, best, line, best_line = 0, 0, 1, None
    for char in text:
        if char == "\n":
            line += 1
        elif char in "[{":
            depth += 1
            if depth > best:
                best, best_line = depth, line
        elif char in "]}":
            depth -= 1
    return best_line


def load(root: Path | str = ".") -> Config:
    """Read and validate `root/nixenv.toml`."""
    root = Path(root).resolve()
    path = root / CONFIG_NAME
    _regular_file(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NixenvError(f"{path} not found: run `nixenv init` to create it") from None
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(CONFIG_NAME, None, "", f"not UTF-8 text: {exc}")]) from None
    except OSError as exc:
        raise NixenvError(f"cannot read {path}: {exc.strerror}") from None
    return parse(text, root=root, file=CONFIG_NAME)


def _regular_file(path: Path) -> None:
    """A clear error when nixenv.toml exists but cannot be a config file (never opens a FIFO,
    which would block)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if path.is_symlink():
            raise NixenvError(f"{path} is a symlink to {os.readlink(path)!r}, which does not exist: "
                              "point it at your nixenv.toml, or replace it with the file") from None
        return
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NixenvError(f"{path} is a symlink loop: replace it with the file itself") from None
        raise NixenvError(f"cannot read {path}: {exc.strerror}") from None
    if stat.S_ISREG(mode):
        return
    kind = ("a directory" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "not a regular file")
    raise NixenvError(f"{path} is {kind}, not a file: move it away and put the project's configuration "
                      "there (`nixenv init` writes a new one)")


def load_nearest(start: Path | str = ".") -> Config:
    """The configuration of the project holding `start` (the nearest nixenv.toml above it)."""
    return load(find_root(start))


def _attr_path_ok(check: _Checker, item: str, path: KeyPath) -> bool:
    if ATTR_PATH.match(item):
        return True
    check.problem(path, f"expected a nixpkgs attribute path like `postgresql_16` or `python312Packages.numpy`, found {item!r}")
    return False


def _project(check: _Checker, raw: Any) -> Project | None:
    if raw is None:
        check.problem(("project",), "missing table [project]", 'add [project] with name = "..."')
        return None
    table = check.table(raw, ("project",), PROJECT_KEYS)
    if "name" not in table:
        check.problem(("project",), "missing required key `name`", 'add name = "my-project"')
        name = None
    else:
        name = check.string(table["name"], ("project", "name"), pattern=PROJECT_NAME,
                            what="a name of letters, digits and + - . _ ? = (not starting with .)")
    nixpkgs = check.string(table.get("nixpkgs", DEFAULT_NIXPKGS), ("project", "nixpkgs"),
                           what=f"a flake reference such as {DEFAULT_NIXPKGS}")
    if nixpkgs is not None and (not nixpkgs.strip() or "\n" in nixpkgs):
        check.problem(("project", "nixpkgs"), f"expected a flake reference, found {nixpkgs!r}")

    def system_ok(item: str, path: KeyPath) -> bool:
        if item in KNOWN_SYSTEMS:
            return True
        check.problem(path, f"unknown system {item!r}", did_you_mean(item, KNOWN_SYSTEMS)
                      or f"expected one of {', '.join(DEFAULT_SYSTEMS)}")
        return False

    systems = check.string_list(table.get("systems", list(DEFAULT_SYSTEMS)), ("project", "systems"), check=system_ok)
    if "systems" in table and isinstance(table["systems"], list) and not table["systems"]:
        check.problem(("project", "systems"), "expected at least one system")
    dotenv = check.string_list(table.get("dotenv", []), ("project", "dotenv"),
                               check=lambda item, p: _relative_path_ok(check, item, p))
    if name is None or nixpkgs is None:
        return None
    return Project(name=name, nixpkgs=nixpkgs, systems=tuple(dict.fromkeys(systems)), dotenv=dotenv)


def _relative_path_ok(check: _Checker, item: str, path: KeyPath) -> bool:
    if not item or item.startswith("/") or "\n" in item or "\0" in item:
        check.problem(path, f"expected a path relative to the project, found {item!r}")
        return False
    return True


def _python(check: _Checker, raw: Any) -> Python | None:
    table = check.table(raw, ("python",), PYTHON_KEYS)
    version = check.string(table.get("version", Python.version), ("python", "version"),
                           pattern=PYTHON_VERSION, what='a Python version like "3.12"')
    if version is not None and not 11 <= int(version.split(".")[1]) <= 14:
        check.problem(("python", "version"), f"nixpkgs provides Python 3.11 to 3.14, found {version!r}")
        version = None
    manager = check.string(table.get("manager", Python.manager), ("python", "manager"), choices=PYTHON_MANAGERS)
    requirements = check.string_list(table.get("requirements", []), ("python", "requirements"),
                                     check=lambda item, p: _relative_path_ok(check, item, p))
    if requirements and manager not in (None, "pip"):
        check.problem(("python", "requirements"), f"`requirements` is used only with manager = \"pip\", not {manager!r}",
                      "remove it, or set manager = \"pip\"")
    if version is None or manager is None:
        return None
    return Python(version=version, manager=manager, requirements=requirements)


def _node(check: _Checker, raw: Any) -> Node | None:
    table = check.table(raw, ("node",), NODE_KEYS)
    version = table.get("version", Node.version)
    if isinstance(version, int):
        version = str(version)
    version = check.string(version, ("node", "version"), pattern=NODE_VERSION, what='a Node major version like "22"')
    if version is not None and version not in NODE_VERSIONS:
        check.problem(("node", "version"), "nixpkgs provides " + ", ".join(f"nodejs_{v}" for v in NODE_VERSIONS)
                      + f", found {version!r}")
        version = None
    manager = check.string(table.get("manager", Node.manager), ("node", "manager"), choices=NODE_MANAGERS)
    if version is None or manager is None:
        return None
    return Node(version=version, manager=manager)


AGE_RECIPIENT = re.compile(r"age1[02-9ac-hj-np-z]{58}\Z")
PGP_FINGERPRINT = re.compile(r"[0-9A-Fa-f]{16,40}\Z")
KMS_ARN = re.compile(r"arn:aws[a-z-]*:kms:[^\s]+\Z")


def _secrets(check: _Checker, raw: Any) -> Secrets | None:
    table = check.table(raw, ("secrets",), SECRETS_KEYS)
    file = check.string(table.get("file", Secrets.file), ("secrets", "file"))
    if file is not None and not _relative_path_ok(check, file, ("secrets", "file")):
        file = None
    if file is not None and (not file.endswith(".env") or file.endswith("/.env") or file == ".env"
                             or "/../" in f"/{file}/" or file.startswith("./")):
        # sops chooses the dotenv format by extension, and `sops exec-env` (the .envrc) has no
        # --input-type; a plain `.env` is the usual unencrypted dotenv, so keep it distinct
        check.problem(("secrets", "file"), f"expected a path inside the project ending in `.env` "
                      f"(other than `.env` itself), found {file!r}", 'e.g. file = "secrets.env"')
        file = None

    def matcher(pattern: re.Pattern[str], what: str) -> Callable[[str, KeyPath], bool]:
        def ok(item: str, path: KeyPath) -> bool:
            if pattern.match(item):
                return True
            check.problem(path, f"expected {what}, found {item!r}")
            return False
        return ok

    age = check.string_list(table.get("age", []), ("secrets", "age"),
                            check=matcher(AGE_RECIPIENT, "an age public key (age1… as printed by `age-keygen -y`)"))
    pgp = check.string_list(table.get("pgp", []), ("secrets", "pgp"),
                            check=matcher(PGP_FINGERPRINT, "a PGP fingerprint (hex)"))
    kms = check.string_list(table.get("kms", []), ("secrets", "kms"),
                            check=matcher(KMS_ARN, "an AWS KMS key ARN (arn:aws:kms:…)"))
    if file is None:
        return None
    return Secrets(file=file, age=age, pgp=pgp, kms=kms)


def _scripts(check: _Checker, raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        check.problem(("scripts",), f"expected a table of name = \"command\", found {_describe(raw)}")
        return {}
    out = {}
    for name, command in raw.items():
        path = ("scripts", name)
        if not SCRIPT_NAME.match(name):
            check.problem(path, f"script name {name!r} cannot be a command name",
                          "use letters, digits and + - . _ ? = (not starting with - or .)")
            continue
        value = check.string(command, path, what="a shell command")
        if value is not None and "\0" in value:
            check.problem(path, "a NUL character cannot be part of a command (no shell can run it)")
            continue
        if value is not None:
            out[name] = value
    return out


def _services(check: _Checker, raw: Any) -> dict[str, Service]:
    if isinstance(raw, list):  # [[services]]: an array of tables
        match = re.search(r"^[ \t]*\[\[[ \t]*services[ \t]*\]\]", check.text, re.M)
        check.problems.append(Problem(check.file, check.text.count("\n", 0, match.start()) + 1 if match else None,
                                      "services", "`[[services]]` makes a list; nixenv wants one table per service",
                                      'write [services.web] with command = "..." (the name goes in the header)'))
        return {}
    if not isinstance(raw, dict):
        check.problem(("services",), f"expected tables [services.NAME], found {_describe(raw)}")
        return {}
    services: dict[str, Service] = {}
    for name, table in raw.items():
        service = _service(check, name, table)
        if service is not None:
            services[name] = service
    _check_service_graph(check, services)
    return services


def service_name_problem(name: str) -> str | None:
    if not name:
        return "a service name cannot be empty"
    if name.startswith("."):
        return "a service name cannot start with `.` (s6 skips such directories)"
    if name == "log":
        return "`log` is reserved by s6"
    if "/" in name or "\0" in name or "\n" in name:
        return "a service name cannot contain `/`, a newline or NUL"
    if re.search(r"[\x00-\x1f\x7f-\x9f]", name):
        return (f"a service name cannot contain control characters (ESC, CR, TAB, ...): "
                f"\"{printable(name)}\" (shown escaped)")
    if len(name.encode()) > 200:
        return "a service name must be at most 200 bytes"
    return None


def _service(check: _Checker, name: str, raw: Any) -> Service | None:
    path = ("services", name)
    problem = service_name_problem(name)
    if problem:
        check.problem(path, problem)
        return None
    preset_name = raw.get("preset") if isinstance(raw, dict) else None
    schema = None
    if preset_name is not None:
        preset_name = check.string(ALIASES.get(preset_name, preset_name) if isinstance(preset_name, str) else preset_name,
                                   path + ("preset",), choices=tuple(PRESETS))
        if preset_name is None:
            return None
        schema = PRESETS[preset_name]
    table = check.table(raw, path, schema.all_keys if schema else SERVICE_KEYS)
    if not table:
        if isinstance(raw, dict):
            check.problem(path, "missing required key `command`", 'add command = "...", or preset = "postgres"')
        return None
    if "command" not in table:
        command = ""
        if schema is None:
            check.problem(path, "missing required key `command`", 'add command = "...", or preset = "postgres"')
            command = None
    else:
        command = check.string(table["command"], path + ("command",), what="a shell command")
        if command is not None and not command.strip():
            check.problem(path + ("command",), "the command is empty")
            command = None
        if command is not None and "\0" in command:
            check.problem(path + ("command",), "a NUL character cannot be part of a command")
            command = None
    port = table.get("port")
    if port is not None:
        port = _port(check, port, path + ("port",))
    cwd = check.string(table.get("cwd", "."), path + ("cwd",), what="a directory relative to the project")
    if cwd is not None and not _inside_path_ok(check, cwd, path + ("cwd",)):
        cwd = None
    depends_on = check.string_list(table.get("depends_on", []), path + ("depends_on",))
    env = check.env_table(table.get("env", {}), path + ("env",))
    ready = _ready(check, table["ready"], path + ("ready",)) if "ready" in table else None
    restart = check.string(table.get("restart", "always"), path + ("restart",), choices=RESTART_POLICIES)
    stop_signal = table.get("stop_signal")
    if stop_signal is not None:
        if isinstance(stop_signal, str) and stop_signal.upper().removeprefix("SIG") in SIGNALS:
            stop_signal = stop_signal.upper().removeprefix("SIG")
        stop_signal = check.string(stop_signal, path + ("stop_signal",), choices=SIGNALS) or False
    stop_timeout = table.get("stop_timeout")
    if stop_timeout is not None and (isinstance(stop_timeout, bool) or not isinstance(stop_timeout, (int, float))
                                     or not 0 < stop_timeout <= 3600):
        check.problem(path + ("stop_timeout",), f"expected a number of seconds between 0 and 3600, found {_describe(stop_timeout)}")
        stop_timeout = False
    oneshot = table.get("oneshot", False)
    if not isinstance(oneshot, bool):
        check.problem(path + ("oneshot",), f"expected true or false, found {_describe(oneshot)}")
        oneshot = False
    if oneshot and schema is not None:
        check.problem(path + ("oneshot",), f"a `{schema.name}` preset is a server, not a one-shot task",
                      "remove oneshot, or give the task its own [services.NAME] with a command")
    if oneshot and "ready" in table:
        check.problem(path + ("ready",), "a one-shot task is ready when it exits 0; it takes no `ready`",
                      "remove ready")
    extra = _preset_keys(check, path, table, schema) if schema else {}
    if None in (command, cwd, restart) or False in (port, ready, stop_signal, stop_timeout) or extra is None:
        return None
    return Service(name=name, command=command, port=port, cwd=cwd, depends_on=depends_on, env=env,
                   ready=ready or None, restart="never" if oneshot else restart, stop_signal=stop_signal,
                   stop_timeout=None if stop_timeout is None else float(stop_timeout), oneshot=oneshot,
                   preset=schema.name if schema else None, **extra)


def _preset_keys(check: _Checker, path: KeyPath, table: dict[str, Any], schema: Any) -> dict[str, Any] | None:
    """The preset-specific keys of a service, validated; None when one is wrong (its problems
    are recorded)."""
    out: dict[str, Any] = {"version": _preset_version(check, path, table.get("version", ""), schema)}
    if "databases" in table:
        out["databases"] = check.string_list(table["databases"], path + ("databases",),
                                             check=lambda item, p: _db_name_ok(check, item, p))
    if "users" in table:
        out["users"] = _users(check, path + ("users",), table["users"])
    if "settings" in table:
        out["settings"] = _settings(check, path + ("settings",), table["settings"])
    if "extensions" in table:
        out["extensions"] = check.string_list(
            table["extensions"], path + ("extensions",),
            check=lambda item, p: _attr_path_ok(check, item, p) if "." not in item else
            bool(check.problem(p, f"expected an attribute of postgresql.pkgs such as `postgis`, found {item!r}")))
    if "init_sql" in table:
        out["init_sql"] = check.string_list(table["init_sql"], path + ("init_sql",),
                                            check=lambda item, p: _inside_path_ok(check, item, p))
    if "export" in table:
        out["export"] = _export(check, path + ("export",), table["export"], schema)
    if "management_port" in table:
        port = _port(check, table["management_port"], path + ("management_port",))
        out["management_port"] = None if port is False else port
        if port is False:
            return None
    for key in ("config_file", "config_text"):
        if key in table:
            value = check.string(table[key], path + (key,))
            if value is not None and key == "config_file" and not _inside_path_ok(check, value, path + (key,)):
                value = None
            out[key] = value
    if schema.name == "nginx" and ("config_file" in table) == ("config_text" in table):
        check.problem(path, "an nginx preset needs exactly one of `config_file` (a path) or `config_text`",
                      'e.g. config_file = "deploy/nginx.dev.conf"')
        return None
    return None if any(out[key] is None for key in out if key != "management_port") else out


def _preset_version(check: _Checker, path: KeyPath, version: Any, schema: Any) -> str | None:
    if isinstance(version, (int, float)) and not isinstance(version, bool):
        version = str(version)
    if version == "":
        return ""
    choices = tuple(v for v in schema.versions if v)
    if not choices:
        check.problem(path + ("version",), f"nixpkgs has one `{schema.name}` (`{schema.versions['']}`), found "
                      f"version {version!r}", "remove `version`, or add the package you want to [packages]")
        return None
    return check.string(version, path + ("version",), choices=choices)


def _db_name_ok(check: _Checker, item: str, path: KeyPath) -> bool:
    if DB_NAME.match(item):
        return True
    check.problem(path, f"expected a name of letters, digits, _ and - (at most 63, not starting with a "
                  f"digit or -), found {item!r}")
    return False


def _users(check: _Checker, path: KeyPath, raw: Any) -> tuple[DbUser, ...] | None:
    if not isinstance(raw, list):
        check.problem(path, f"expected a list of tables, found {_describe(raw)}",
                      'e.g. users = [{ name = "shop", password = "shop", databases = ["shop"] }]')
        return None
    users = [_user(check, path + (str(index),), item) for index, item in enumerate(raw)]
    return None if None in users else tuple(u for u in users if u is not None)


def _user(check: _Checker, path: KeyPath, raw: Any) -> DbUser | None:
    entry = check.table(raw, path, USER_KEYS)
    if not isinstance(raw, dict):
        return None
    if "name" not in entry:
        check.problem(path, "missing required key `name`")
        return None
    name = check.string(entry["name"], path + ("name",))
    if name is None or not _db_name_ok(check, name, path + ("name",)):
        return None
    ok = True
    password = entry.get("password")
    if password is not None:
        password = check.string(password, path + ("password",))
        if password is not None and any(c < " " for c in password):
            check.problem(path + ("password",), "control characters cannot be part of a password")
            password = None
        ok = password is not None
    password_env = entry.get("password_env")
    if password_env is not None:
        password_env = check.string(password_env, path + ("password_env",), pattern=ENV_NAME,
                                    what="an environment variable name (e.g. a secret's name)")
        ok = ok and password_env is not None
    if password is not None and password_env is not None:
        check.problem(path, "give either `password` or `password_env`, not both")
        ok = False
    databases = check.string_list(entry.get("databases", []), path + ("databases",),
                                  check=lambda item, p: _db_name_ok(check, item, p))
    return DbUser(name, password, password_env, databases) if ok else None


def _settings(check: _Checker, path: KeyPath, raw: Any) -> dict[str, str | int | float | bool] | None:
    if not isinstance(raw, dict):
        check.problem(path, f"expected a table of name = value, found {_describe(raw)}")
        return None
    settings = {}
    ok = True
    for key, value in raw.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", key):
            check.problem(path + (key,), f"expected a setting name, found {key!r}")
            ok = False
        elif isinstance(value, (dict, list)) or (isinstance(value, str) and any(c < " " for c in value)):
            check.problem(path + (key,), f"expected a string, number or boolean on one line, found {_describe(value)}")
            ok = False
        else:
            settings[key] = value
    return settings if ok else None


def _export(check: _Checker, path: KeyPath, raw: Any, schema: Any) -> dict[str, str] | None:
    if not isinstance(raw, dict):
        check.problem(path, f"expected a table of VARIABLE = \"NEW_NAME\", found {_describe(raw)}")
        return None
    export = {}
    ok = True
    for key, value in raw.items():
        key_path = path + (key,)
        if key not in schema.exports:
            check.problem(key_path, f"`{schema.name}` exports no `{key}`",
                          did_you_mean(key, schema.exports) or f"it exports {', '.join(schema.exports)}")
            ok = False
            continue
        new = "" if value == "" else check.string(value, key_path, pattern=ENV_NAME,
                                                  what='a variable name to export it as (or "" to not export it)')
        if new is not None and new in RESERVED_ENV:
            check.problem(key_path, f"`{new}` is managed by the shell, nix or nixenv")
            new = None
        if new is None:
            ok = False
            continue
        export[key] = new
    return export if ok else None


def _inside_path_ok(check: _Checker, item: str, path: KeyPath) -> bool:
    """A relative path that stays inside the project (no `..` climbing out of it)."""
    if not _relative_path_ok(check, item, path):
        return False
    depth = 0
    for part in item.split("/"):
        depth += -1 if part == ".." else (0 if part in ("", ".") else 1)
        if depth < 0:
            check.problem(path, f"{item!r} leaves the project directory", "use a path inside the project")
            return False
    return True


def _port(check: _Checker, raw: Any, path: KeyPath) -> int | bool:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= 65535:
        hint = f"write it as a number: {path[-1]} = {raw}" if isinstance(raw, str) and raw.isdigit() else None
        check.problem(path, f"expected a port number from 1 to 65535, found {_describe(raw)}", hint)
        return False
    return raw


def _ready(check: _Checker, raw: Any, path: KeyPath) -> Ready | bool:
    table = check.table(raw, path, READY_KINDS)
    kinds = [k for k in READY_KINDS if k in table]
    if len(kinds) != 1:
        if isinstance(raw, dict) and not [k for k in raw if k not in READY_KINDS]:
            check.problem(path, f"expected exactly one of tcp, http, command, found {len(kinds)}",
                          'e.g. ready = { tcp = 8000 }')
        return False
    kind = kinds[0]
    value = table[kind]
    if kind == "tcp":
        port = _port(check, value, path + ("tcp",))
        return False if port is False else Ready("tcp", port)
    if kind == "http":
        url = check.string(value, path + ("http",), pattern=re.compile(r"https?://[^\s]+\Z"),
                           what="an http:// or https:// URL")
        return False if url is None else Ready("http", url)
    command = check.string(value, path + ("command",), what="a shell command")
    return False if command is None else Ready("command", command)


def ready_text(service: Service) -> str:
    """What "ready" means for a service, as messages and `status` say it."""
    ready = service.ready
    if service.oneshot:
        return "exit 0"
    if ready is not None:
        return {"tcp": f"tcp port {ready.value}", "http": f"http {ready.value}",
                "command": f"command {ready.value!r}"}[ready.kind]
    return f"{service.preset}'s check" if service.preset else "up"


# `${services.NAME.port}` / `${services.NAME.host}` in a service's env values and command: the
# port the service gets natively (chosen per project for presets) and its host (127.0.0.1)
SERVICE_REF = re.compile(r"\$\{services\.([^}]+)\.(port|host)\}")


def exported_names(service: Service) -> dict[str, str]:
    """A preset service's exported variables: its schema's names, renamed by `export`."""
    if service.preset is None:
        return {}
    out = {}
    for name in PRESETS[service.preset].exports:
        new = service.export.get(name, name)
        if new:
            out[name] = new
    return out


def _check_service_graph(check: _Checker, services: dict[str, Service]) -> None:
    names = list(services)
    exporters: dict[str, str] = {}
    for service in services.values():
        clashes: dict[str, list[str]] = {}
        for new in exported_names(service).values():
            if new in exporters:
                clashes.setdefault(exporters[new], []).append(new)
            else:
                exporters[new] = service.name
        for other, clashing in clashes.items():
            prefix = re.sub(r"[^A-Za-z0-9_]", "_", service.name).upper()
            renames = ", ".join(f'{n} = "{prefix}_{n}"' for n in clashing)
            check.problem(("services", service.name, "preset"),
                          f"services {other!r} and {service.name!r} both export {', '.join(clashing)}",
                          f"rename them in one of them: export = {{ {renames} }}")
    for service in services.values():
        texts = [(("services", service.name, "command"), service.command)]
        texts += [(("services", service.name, "env", key), value) for key, value in service.env.items()]
        for path, text in texts:
            for match in SERVICE_REF.finditer(text):
                target, what = match.groups()
                if target not in services:
                    check.problem(path, f"`{match.group(0)}` names no service", did_you_mean(target, names)
                                  or f"known services: {', '.join(names)}")
                elif what == "port" and services[target].port is None and services[target].preset is None:
                    check.problem(path, f"`{match.group(0)}`: service {target!r} has no port",
                                  f"give [services.{target}] a port")
    for service in services.values():
        for index, dep in enumerate(service.depends_on):
            if dep not in services:
                check.problem(("services", service.name, "depends_on", str(index)),
                              f"unknown service {dep!r}",
                              did_you_mean(dep, names) or f"known services: {', '.join(names) or 'none'}")
    cycle = graph.find_cycle({n: [d for d in s.depends_on if d in services] for n, s in services.items()})
    if cycle:
        check.problem(("services", cycle[0], "depends_on"), "dependency cycle: " + " -> ".join(cycle))
    by_port: dict[int, str] = {}
    for service in services.values():
        port = service.port
        if port is None:
            continue
        if port in by_port:
            check.problem(("services", service.name, "port"),
                          f"port {port} is also used by service {by_port[port]!r}")
        else:
            by_port[port] = service.name


def topological_order(services: Mapping[str, Service], wanted: list[str] | None = None) -> list[str]:
    """Services (and, for `wanted`, their dependencies) with every dependency first."""
    return graph.topological_order({n: s.depends_on for n, s in services.items()}, wanted)
