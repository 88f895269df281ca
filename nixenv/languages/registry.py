"""Python and Node toolchains: which nixpkgs they need, what the .envrc installs, and `nixenv ide`.

The .envrc side (templates/envrc/python.j2, node.j2, languages.j2) keeps a venv at `.venv` made
from the devshell's interpreter and runs the package manager only when its inputs (lock file,
pyproject.toml, requirements files, package.json) changed; this module decides which files
those are and which nixpkgs attributes the devshell needs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from nixenv.config.load import Config
from nixenv.support.errors import NixenvError
from nixenv.support.files import write_atomic

# `.venv`: the one path VS Code, PyCharm, uv, poetry (in-project) and pdm all look for first.
VENV_DIR = ".venv"

# nixpkgs attributes (same name on Linux and macOS). pip comes from the venv (ensurepip), not nixpkgs.
PYTHON_MANAGER_PACKAGES = {"uv": "uv", "poetry": "poetry", "pdm": "pdm"}

# What each Python manager installs from, and so what the install stamp hashes.
PYTHON_MANAGER_INPUTS = {
    "uv": ("pyproject.toml", "uv.lock"),
    "poetry": ("pyproject.toml", "poetry.lock"),
    "pdm": ("pyproject.toml", "pdm.lock"),
    "none": (),
}
DEFAULT_REQUIREMENTS = ("requirements.txt",)

NODE_MANAGER_LOCKS = {
    "npm": ("package-lock.json", "npm-shrinkwrap.json"),
    "yarn": ("yarn.lock",),
    "pnpm": ("pnpm-lock.yaml",),
}
# yarn and pnpm come from corepack, which follows package.json's `packageManager`. nixpkgs' nodejs
# bundles it below Node 25 only (`bundlesCorepack = !lib.versionAtLeast version "25.0.0"` in
# pkgs/development/web/nodejs/nodejs.nix, as Node itself stopped shipping it); from 25 on it is the
# standalone `corepack` package (pkgs/by-name/co/corepack/package.nix). The `corepack_XX`
# attributes are no help: they hold only the yarn/pnpm shims made by the bundled corepack
# (pkgs/development/web/nodejs/corepack.nix), and there is none for 25 and later.
COREPACK_MANAGERS = ("yarn", "pnpm")
NODE_BUNDLES_COREPACK_BELOW = 25

# What nixpkgs' Python setup hook (pkgs/development/interpreters/python/setup-hook.sh) and
# stdenv's setup (pkgs/stdenv/generic/setup.sh, SOURCE_DATE_EPOCH) export into every devshell
# holding a Python; the .envrc unsets them so that the venv behaves as a plain one. A value the
# user sets in [env] is overwritten by the hook, so the flake carries it as NIXENV_USER_<NAME>
# and the .envrc puts it back.
PYTHON_HOOK_VARIABLES = ("PYTHONHASHSEED", "DETERMINISTIC_BUILD", "PYTHONNOUSERSITE", "SOURCE_DATE_EPOCH")

VSCODE_SETTINGS = ".vscode/settings.json"


@dataclass(frozen=True)
class PkgRef:
    """A nixpkgs attribute the devshell needs, and the nixenv.toml key that asked for it."""

    attr: str
    asked_by: str
    # `ATTR.withPackages (ps: [ ps.X ... ])`: postgresql with extensions
    # (pkgs/servers/sql/postgresql/generic.nix, postgresqlWithPackages)
    with_packages: tuple[str, ...] = ()

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.attr.split("."))


VSCODE_KEY = "python.defaultInterpreterPath"
VSCODE_VALUE = "${workspaceFolder}/" + VENV_DIR + "/bin/python"


def flake_packages(cfg: Config) -> list[PkgRef]:
    """The interpreter, the Python manager and Node, as nixpkgs attributes for flake.nix."""
    refs = []
    if cfg.python is not None:
        refs.append(PkgRef(cfg.python.attr, "python.version"))
        manager = PYTHON_MANAGER_PACKAGES.get(cfg.python.manager)
        if manager:
            refs.append(PkgRef(manager, "python.manager"))
    if cfg.node is not None:
        refs.append(PkgRef(cfg.node.attr, "node.version"))  # with npm (and corepack below Node 25)
        if cfg.node.manager in COREPACK_MANAGERS and int(cfg.node.version) >= NODE_BUNDLES_COREPACK_BELOW:
            refs.append(PkgRef("corepack", "node.manager"))
    return refs


def python_hook_overrides(cfg: Config) -> dict[str, str]:
    """[env] values of PYTHON_HOOK_VARIABLES, under the name the .envrc restores them from."""
    if cfg.python is None:
        return {}
    return {f"NIXENV_USER_{name}": cfg.env[name] for name in PYTHON_HOOK_VARIABLES if name in cfg.env}


def python_inputs(cfg: Config) -> tuple[str, ...]:
    """Files whose content decides what the venv holds (relative to the project root)."""
    if cfg.python is None:
        return ()
    if cfg.python.manager == "pip":
        return tuple(dict.fromkeys(cfg.python.requirements or DEFAULT_REQUIREMENTS))
    return PYTHON_MANAGER_INPUTS[cfg.python.manager]


def node_inputs(cfg: Config) -> tuple[str, ...]:
    if cfg.node is None:
        return ()
    return ("package.json", *NODE_MANAGER_LOCKS[cfg.node.manager])


@dataclass(frozen=True)
class PythonEnvrc:
    version: str
    attr: str
    manager: str
    inputs: tuple[str, ...]
    with_pip: bool  # pip in the venv, as each manager's own venvs have it (uv and pdm make theirs without)


@dataclass(frozen=True)
class NodeEnvrc:
    version: str
    attr: str
    manager: str
    inputs: tuple[str, ...]
    corepack: bool


def envrc_context(cfg: Config) -> dict:
    """Values the envrc/python.j2 and envrc/node.j2 fragments need."""
    python = None
    if cfg.python is not None:
        python = PythonEnvrc(
            version=cfg.python.version,
            attr=cfg.python.attr,
            manager=cfg.python.manager,
            inputs=python_inputs(cfg),
            with_pip=cfg.python.manager in ("pip", "none", "poetry"),
        )
    node = None
    if cfg.node is not None:
        node = NodeEnvrc(
            version=cfg.node.version,
            attr=cfg.node.attr,
            manager=cfg.node.manager,
            inputs=node_inputs(cfg),
            corepack=cfg.node.manager in COREPACK_MANAGERS,
        )
    watch = tuple(dict.fromkeys(python_inputs(cfg) + node_inputs(cfg)))
    return {"python": python, "node": node, "watch": watch, "venv": VENV_DIR,
            "python_hook_variables": PYTHON_HOOK_VARIABLES}


# --------------------------------------------------------------------------- nixenv ide


def write_ide(cfg: Config) -> list[str]:
    """Point VS Code at .venv/bin/python (keeping every other setting) and return lines to print."""
    if cfg.python is None:
        raise NixenvError(f"{cfg.path}: there is no [python] table, so there is no interpreter to point "
                          'an IDE at. Add [python] with version = "3.12" and run `nixenv generate`.')
    settings = cfg.root / VSCODE_SETTINGS
    if settings.is_symlink():  # e.g. shared from a dotfiles repository: edit the file it points to
        settings = settings.resolve()
    try:
        raw = settings.read_bytes()
    except FileNotFoundError:
        raw = None
    except OSError as exc:
        raise NixenvError(f"{settings}: cannot read it: {exc.strerror}") from None
    if raw is None:
        new_text, status = new_settings_text(), "created"
        mode = 0o644
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise NixenvError(f"{settings}: not UTF-8 text; nixenv left it untouched. Set "
                              f'"{VSCODE_KEY}": "{VSCODE_VALUE}" in it by hand.') from None
        new_text = set_jsonc_member(text, VSCODE_KEY, VSCODE_VALUE, where=str(settings))
        status = "unchanged" if new_text == text else "updated"
        mode = settings.stat().st_mode & 0o7777
    if status != "unchanged":
        write_atomic(settings, new_text, mode)
    interpreter = cfg.root / VENV_DIR / "bin" / "python"
    lines = [
        f"VS Code: {VSCODE_SETTINGS} {status}: \"{VSCODE_KEY}\": \"{VSCODE_VALUE}\"",
        f"PyCharm: Settings > Project > Python Interpreter > Add Interpreter > Existing: {interpreter}",
        f"Interpreter: {interpreter}",
    ]
    if not interpreter.exists():
        lines.append(f"note: {VENV_DIR} does not exist yet; direnv creates it when you enter the "
                     "directory (run `direnv allow` once).")
    return lines


def new_settings_text(newline: str = "\n", key: str = VSCODE_KEY, value: str = VSCODE_VALUE) -> str:
    member = f"{json.dumps(key, ensure_ascii=False)}: {json.dumps(value, ensure_ascii=False)}"
    return "{" + newline + "  " + member + newline + "}" + newline


class JsoncError(NixenvError):
    pass


@dataclass(frozen=True)
class _Member:
    key: str
    key_start: int
    value_start: int
    value_end: int


def set_jsonc_member(text: str, key: str, value: str, *, where: str = VSCODE_SETTINGS) -> str:
    """`text` (JSON with comments and trailing commas, as VS Code writes it) with the top-level
    `key` set to the string `value`. Everything else (comments, order, formatting) is kept byte
    for byte; a file that is not a JSON object is refused, never rewritten."""
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body = text[len(bom):]
    if not body.strip():
        newline = "\r\n" if "\r\n" in body else "\n"
        return bom + new_settings_text(newline, key, value)
    open_at, close_at, members = _top_level_members(body, where)
    encoded = json.dumps(value, ensure_ascii=False)
    matching = [m for m in members if m.key == key]
    if matching:
        out = body
        for member in reversed(matching):
            out = out[:member.value_start] + encoded + out[member.value_end:]
    else:
        newline = "\r\n" if "\r\n" in body else "\n"
        entry = f"{json.dumps(key, ensure_ascii=False)}: {encoded}"
        if members:
            last = members[-1]
            indent = _indent_of(body, last.key_start)
            out = body[:last.value_end] + "," + newline + indent + entry + body[last.value_end:]
        else:
            # an empty object, or one holding only comments: keep them, add the member after them
            head = body[:close_at].rstrip(" \t")
            if not head.endswith(("\n", "\r")):
                head += newline
            out = head + "  " + entry + newline + body[close_at:]
    # Never write something VS Code cannot read or that lost the value.
    parsed = parse_jsonc(out, where)
    if parsed.get(key) != value:  # pragma: no cover - a bug guard
        raise JsoncError(f"{where}: nixenv could not set {key} safely; the file was left untouched.")
    return bom + out


def _indent_of(text: str, index: int) -> str:
    line_start = max(text.rfind("\n", 0, index), text.rfind("\r", 0, index)) + 1
    prefix = text[line_start:index]
    return prefix if not prefix.strip() else "  "


def parse_jsonc(text: str, where: str = VSCODE_SETTINGS) -> dict:
    """The object a JSON-with-comments document holds (comments and trailing commas removed)."""
    try:
        value = json.loads(_strip_jsonc(text, where))
    except json.JSONDecodeError as exc:
        raise JsoncError(f"{where}: not valid JSON (with comments) at line {exc.lineno} column {exc.colno}: "
                         f"{exc.msg}. nixenv left it untouched; fix it, or set \"{VSCODE_KEY}\" by hand.") from None
    if not isinstance(value, dict):
        raise JsoncError(f"{where}: expected a JSON object at the top level; nixenv left it untouched.")
    return value


def _strip_jsonc(text: str, where: str) -> str:
    """Comments become spaces (so positions are kept) and trailing commas are dropped."""
    out: list[str] = []
    i, n = 0, len(text)
    pending_comma: int | None = None  # index in `out` of a comma that may be trailing
    while i < n:
        c = text[i]
        if c == '"':
            end = _string_end(text, i, where)
            out.append(text[i:end])
            pending_comma = None
            i = end
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end == -1 else end
            out.append(" " * (end - i))
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end == -1:
                raise JsoncError(f"{where}: a /* comment is never closed; nixenv left the file untouched.")
            out.append("".join(ch if ch in "\r\n" else " " for ch in text[i:end + 2]))
            i = end + 2
        elif c == ",":
            pending_comma = len(out)
            out.append(c)
            i += 1
        elif c in "}]":
            if pending_comma is not None:
                out[pending_comma] = " "
            pending_comma = None
            out.append(c)
            i += 1
        else:
            if not c.isspace():
                pending_comma = None
            out.append(c)
            i += 1
    return "".join(out)


def _string_end(text: str, start: int, where: str) -> int:
    """Index just past the JSON string starting at `start` (a double quote)."""
    i = start + 1
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i + 1
        if c == "\n":
            break
        i += 1
    raise JsoncError(f"{where}: a string is never closed; nixenv left the file untouched.")


def _skip_ws(text: str, i: int) -> int:
    while i < len(text):
        if text[i].isspace():
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = len(text) if end == -1 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = len(text) if end == -1 else end + 2
        else:
            break
    return i


def _value_end(text: str, i: int, where: str) -> int:
    """Index just past the JSON value starting at `i` (strings, nesting and comments respected)."""
    if text[i] == '"':
        return _string_end(text, i, where)
    if text[i] in "{[":
        depth = 0
        while i < len(text):
            c = text[i]
            if c == '"':
                i = _string_end(text, i, where)
                continue
            if text.startswith("//", i) or text.startswith("/*", i):
                i = _skip_ws(text, i)
                continue
            if c in "{[":
                depth += 1
            elif c in "}]":
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
        raise JsoncError(f"{where}: unbalanced brackets; nixenv left the file untouched.")
    start = i
    while i < len(text) and text[i] not in ",}]/ \t\r\n":
        i += 1
    if i == start:
        raise JsoncError(f"{where}: unexpected {text[i]!r} at offset {i}; nixenv left the file untouched.")
    return i


def _top_level_members(text: str, where: str) -> tuple[int, int, list[_Member]]:
    """(index of the top-level `{`, index of its `}`, its members) of a JSONC object document."""
    parse_jsonc(text, where)  # refuses anything that is not a well-formed object first
    i = _skip_ws(text, 0)
    open_at = i
    i += 1
    members: list[_Member] = []
    while True:
        i = _skip_ws(text, i)
        if text[i] == "}":
            return open_at, i, members
        if text[i] == ",":
            i += 1
            continue
        key_start = i
        key_end = _string_end(text, i, where)
        key = json.loads(text[key_start:key_end])
        i = _skip_ws(text, key_end)
        i = _skip_ws(text, i + 1)  # past the colon
        value_end = _value_end(text, i, where)
        members.append(_Member(key, key_start, i, value_end))
        i = value_end
