"""What `nixenv init` detects in a repository: Python and Node toolchains, Procfile services.

Pure functions over the files of a directory; every finding carries the reason for it.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nixenv.app.procfile import parse_procfile, procfile_problems
DEFAULT_PYTHON = "3.12"
DEFAULT_NODE = "22"
# Preferred order when a version range allows several: the current default first.
PYTHON_PREFERENCE = ("3.12", "3.13", "3.11", "3.14")
NODE_PREFERENCE = ("22", "24", "26")  # config.load.NODE_VERSIONS, the default first
NODE_LTS_CODENAMES = {"jod": "22", "krypton": "24"}
PROCFILE_PORT_BASE = 5000


@dataclass(frozen=True)
class Finding:
    value: dict[str, Any]
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Detection:
    python: Finding | None = None
    node: Finding | None = None
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    service_reasons: tuple[str, ...] = ()

    @property
    def reasons(self) -> list[str]:
        out = []
        for finding in (self.python, self.node):
            if finding:
                out.extend(finding.reasons)
        out.extend(self.service_reasons)
        return out


def detect(root: Path) -> Detection:
    services, service_reasons = detect_procfile(root)
    return Detection(python=detect_python(root), node=detect_node(root),
                     services=services, service_reasons=service_reasons)


# ------------------------------------------------------------------------------ python


def detect_python(root: Path) -> Finding | None:
    pyproject = _read_toml(root / "pyproject.toml")
    requirements = sorted(p.name for p in root.glob("requirements*.txt") if p.is_file())
    requirements.sort(key=lambda name: name != "requirements.txt")
    reasons: list[str] = []

    if pyproject is None and not requirements and not (root / "setup.py").exists():
        return None
    tool = (pyproject or {}).get("tool", {})
    if "poetry" in tool or (root / "poetry.lock").exists():
        manager = "poetry"
        reasons.append("python manager poetry: " + ("pyproject.toml has [tool.poetry]" if "poetry" in tool else "poetry.lock"))
    elif (root / "uv.lock").exists() or "uv" in tool:
        manager = "uv"
        reasons.append("python manager uv: " + ("uv.lock" if (root / "uv.lock").exists() else "pyproject.toml has [tool.uv]"))
    elif (root / "pdm.lock").exists() or "pdm" in tool:
        manager = "pdm"
        reasons.append("python manager pdm: " + ("pdm.lock" if (root / "pdm.lock").exists() else "pyproject.toml has [tool.pdm]"))
    else:
        manager = "pip"
        reasons.append("python manager pip: " + (", ".join(requirements) if requirements else "pyproject.toml/setup.py without a lock file"))

    version, why = _python_version(root, pyproject)
    reasons.append(f"python {version}: {why}")
    value: dict[str, Any] = {"version": version, "manager": manager}
    if manager == "pip" and requirements:
        value["requirements"] = requirements
    return Finding(value, tuple(reasons))


def _python_version(root: Path, pyproject: dict | None) -> tuple[str, str]:
    pinned = root / ".python-version"
    if pinned.is_file():
        text = pinned.read_text(errors="replace").strip().splitlines()
        match = re.match(r"(?:python-?)?3\.(\d+)", text[0].strip()) if text else None
        if match and f"3.{match.group(1)}" in PYTHON_PREFERENCE:
            return f"3.{match.group(1)}", ".python-version"
    spec = None
    if pyproject:
        spec = pyproject.get("project", {}).get("requires-python")
        source = "requires-python"
        if spec is None:
            spec = pyproject.get("tool", {}).get("poetry", {}).get("dependencies", {}).get("python")
            source = "[tool.poetry.dependencies] python"
        if isinstance(spec, str):
            for candidate in PYTHON_PREFERENCE:
                if version_satisfies(candidate, spec):
                    return candidate, f"{source} = {spec!r}"
    return DEFAULT_PYTHON, "default (no .python-version or requires-python)"


# -------------------------------------------------------------------------------- node


def detect_node(root: Path) -> Finding | None:
    package_json = root / "package.json"
    if not package_json.is_file():
        return None
    try:
        package = json.loads(package_json.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        package = {}
    if not isinstance(package, dict):
        package = {}
    reasons = []
    declared = package.get("packageManager")
    manager = None
    if isinstance(declared, str):
        name = declared.split("@", 1)[0]
        if name in ("yarn", "pnpm", "npm"):
            manager = name
            reasons.append(f"node manager {name}: package.json packageManager = {declared!r}")
    if manager is None:
        for lock, name in (("yarn.lock", "yarn"), ("pnpm-lock.yaml", "pnpm"), ("package-lock.json", "npm")):
            if (root / lock).exists():
                manager = name
                reasons.append(f"node manager {name}: {lock}")
                break
    if manager is None:
        manager = "npm"
        reasons.append("node manager npm: package.json without a lock file")

    version, why = _node_version(root, package)
    reasons.append(f"node {version}: {why}")
    return Finding({"version": version, "manager": manager}, tuple(reasons))


def _node_version(root: Path, package: dict) -> tuple[str, str]:
    nvmrc = root / ".nvmrc"
    if nvmrc.is_file():
        text = nvmrc.read_text(errors="replace").strip()
        match = re.match(r"v?(\d+)", text)
        if match and match.group(1) in NODE_PREFERENCE:
            return match.group(1), ".nvmrc"
        codename = text.lower().removeprefix("lts/")
        if codename in NODE_LTS_CODENAMES:
            return NODE_LTS_CODENAMES[codename], f".nvmrc ({text})"
    engines = package.get("engines")
    if isinstance(engines, dict) and isinstance(engines.get("node"), str):
        spec = engines["node"]
        for candidate in NODE_PREFERENCE:
            if semver_range_satisfies(candidate, spec):
                return candidate, f"package.json engines.node = {spec!r}"
    return DEFAULT_NODE, "default (no .nvmrc or engines.node)"


# ---------------------------------------------------------------------------- Procfile


RELEASE = "release"  # Procfile name of Heroku's release phase


def detect_procfile(root: Path) -> tuple[dict[str, dict[str, Any]], tuple[str, ...]]:
    """[services.*] tables from a Procfile; a process using $PORT gets a port like foreman's."""
    procfile = root / "Procfile"
    if not procfile.is_file():
        return {}, ()

    text = procfile.read_text(encoding="utf-8", errors="replace")
    entries = parse_procfile(text)
    skipped = tuple(f"skipped {problem}" for problem in procfile_problems(text))
    services: dict[str, dict[str, Any]] = {}
    release = entries.pop(RELEASE, None)
    if release is not None:
        # Heroku's release phase (migrations) runs once before the processes start: a one-shot
        # task every other process waits for, not an always-restarting service
        services[RELEASE] = {"command": release, "oneshot": True}
    for index, (name, command) in enumerate(entries.items()):
        table: dict[str, Any] = {"command": command}
        if re.search(r"\$\{?PORT\b", command):
            port = PROCFILE_PORT_BASE + 100 * index
            table["port"] = port
            table["ready"] = {"tcp": port}
        if release is not None:
            table["depends_on"] = [RELEASE]
        services[name] = table
    reasons = (f"services {', '.join(services)}: Procfile",) if services else ()
    if release is not None:
        reasons += (f"`{RELEASE}:` is Heroku's release phase: a one-shot task the other services wait for",)
    return services, reasons + skipped


# ------------------------------------------------------------------- version ranges
# A nixpkgs interpreter is the newest patch release of its minor version, so a candidate
# "3.12" is compared as 3.12.999 and a Node major "22" as 22.999.999.

_LATEST = 999


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def _pad(numbers: tuple[int, ...]) -> tuple[int, ...]:
    return numbers + (0,) * (3 - len(numbers))


def _compare(op: str, cand: tuple[int, ...], target: tuple[int, ...]) -> bool:
    return {">=": cand >= target, "<=": cand <= target, ">": cand > target, "<": cand < target}[op]


def version_satisfies(candidate: str, spec: str) -> bool:
    """Does Python `candidate` ("3.12") meet a PEP 440 or poetry spec (>=3.11,<3.13 | ^3.11 | ~=3.11 | ==3.12.*)?"""
    cand = _numbers(candidate)[:2] + (_LATEST,)
    for part in spec.split(","):
        match = re.match(r"\s*(\^|~=|~|===|==|!=|>=|<=|>|<)?\s*(\d+(?:\.\d+)*)(\.\*)?\s*$", part)
        if not match:
            continue  # "*" or something we do not understand: no constraint
        op, numbers = match.group(1) or "==", _numbers(match.group(2))
        if op in ("==", "===", "!="):
            equal = cand[: len(numbers)] == numbers if len(numbers) < 3 or match.group(3) else cand[:2] == numbers[:2]
            ok = equal if op != "!=" else not equal
        elif op == "^":
            ok = _pad(numbers) <= cand < (numbers[0] + 1, 0, 0)
        elif op == "~=":
            upper = (numbers[0] + 1, 0, 0) if len(numbers) <= 2 else (numbers[0], numbers[1] + 1, 0)
            ok = _pad(numbers) <= cand < upper
        elif op == "~":
            upper = (numbers[0] + 1, 0, 0) if len(numbers) == 1 else (numbers[0], numbers[1] + 1, 0)
            ok = _pad(numbers) <= cand < upper
        else:
            ok = _compare(op, cand, _pad(numbers))
        if not ok:
            return False
    return True


def semver_range_satisfies(major: str, spec: str) -> bool:
    """Does Node `major` ("22") meet an npm range (>=18 | ^20.0.0 | 20.x | 18 || 20 | >=18 <23)?"""
    cand = (int(major), _LATEST, _LATEST)
    for alternative in spec.split("||"):
        comparators = alternative.split()
        if comparators and all(_semver_ok(cand, c) for c in comparators):
            return True
    return False


def _semver_ok(cand: tuple[int, ...], comparator: str) -> bool:
    match = re.match(r"(\^|~|>=|<=|>|<|=)?v?(\d+)((?:\.(?:\d+|[xX*]))*)$", comparator)
    if not match:
        return comparator in ("*", "x", "X")
    op = match.group(1) or ""
    numbers = _numbers(match.group(2) + match.group(3).replace("x", "").replace("X", "").replace("*", ""))
    if op in ("", "=", "^", "~"):
        return cand[0] == numbers[0] and cand >= _pad(numbers)
    return _compare(op, cand, _pad(numbers))


def _read_toml(path: Path) -> dict | None:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}
