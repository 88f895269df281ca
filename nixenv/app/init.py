"""`nixenv init`: detect the project, write nixenv.toml, add .gitignore entries, generate."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import tomli_w

from nixenv.compose.load import find_compose_files, load_project
from nixenv.compose.mapping import map_project
from nixenv.app.generate import generate
from nixenv.config.load import DEFAULT_NIXPKGS, parse
from nixenv.config.paths import CONFIG_NAME
from nixenv.app.detect import Detection, detect
from nixenv.support.errors import NixenvError
from nixenv.support.files import write_atomic
from nixenv.support.git import git_toplevel, intent_to_add

GITIGNORE_ENTRIES = (".direnv/", ".nixenv/")

HEADER = f"""\
# nixenv.toml: the one file that describes this development environment.
# After editing it, run `nixenv generate` (direnv reloads by itself).
# Schema: see the nixenv README. Package names: https://search.nixos.org/packages
# nixpkgs = "{DEFAULT_NIXPKGS}" is the default; pin another channel or commit here.
"""

SECTION_COMMENTS = {
    "packages": "# nixpkgs attribute paths: tools and native libraries (headers, pkg-config and\n"
                "# the runtime library path are set up for builds in the venv).",
    "env": "# Exported in the shell and to every service.",
    "scripts": "# Commands on PATH in the shell; `nixenv run NAME` runs one.",
}


@dataclass(frozen=True)
class InitResult:
    config_path: Path
    detections: list[str]
    gitignore: list[str]
    report: Any  # generate.Report
    in_git: bool
    compose_report: tuple[str, ...] = ()  # what the compose file's services became


def project_name(root: Path) -> str:
    """A valid [project].name: the name pyproject.toml or package.json give, else the directory's."""
    name = _declared_name(root) or root.name
    name = re.sub(r"[^A-Za-z0-9_+?=.-]+", "-", name).strip("-.") or "project"
    return name if re.match(r"[A-Za-z0-9_+?=]", name) else f"p{name}"


def _declared_name(root: Path) -> str | None:
    try:
        pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
        name = pyproject.get("project", {}).get("name") or pyproject.get("tool", {}).get("poetry", {}).get("name")
        if isinstance(name, str) and name:
            return name
    except (OSError, ValueError):
        pass
    try:
        name = json.loads((root / "package.json").read_text(encoding="utf-8")).get("name")
        if isinstance(name, str) and name:
            return name.rsplit("/", 1)[-1]
    except (OSError, ValueError, AttributeError):
        pass
    return None


def build_document(root: Path, found: Detection) -> dict[str, Any]:
    doc: dict[str, Any] = {"project": {"name": project_name(root)}}
    doc["packages"] = {"include": []}
    if found.python:
        doc["python"] = dict(found.python.value)
    if found.node:
        doc["node"] = dict(found.node.value)
    doc["env"] = {}
    if found.services:
        doc["services"] = found.services
    return doc


def render_document(doc: dict[str, Any], found: Detection, *, from_compose: bool = False) -> str:
    text = tomli_w.dumps(doc)
    reasons = {"python": found.python.reasons if found.python else (),
               "node": found.node.reasons if found.node else ()}
    lines = [HEADER]
    for line in text.splitlines():
        match = re.match(r"\[([a-z]+)\]$", line)
        if match:
            table = match.group(1)
            if table in SECTION_COMMENTS:
                lines.append(SECTION_COMMENTS[table])
            for reason in reasons.get(table, ()):
                lines.append(f"# detected: {reason}")
        elif line.startswith("[services."):
            if found.service_reasons and not any(l.startswith("[services.") for l in lines):
                lines.append("# imported from the compose file (`nixenv import compose --dry-run` shows the report)"
                             if from_compose else
                             "# detected from Procfile; ports follow foreman's convention (5000, 5100, ...)")
        lines.append(line)
    return "\n".join(lines) + "\n"


def ensure_gitignore(root: Path, entries: tuple[str, ...] = GITIGNORE_ENTRIES) -> list[str]:
    """Add `entries` to .gitignore unless present; returns what it says it did."""
    path = root / ".gitignore"
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    present = {line.strip() for line in current.splitlines()}
    missing = [e for e in entries if e not in present and e.rstrip("/") not in present]
    if not missing:
        return []
    text = current + ("" if not current or current.endswith("\n") else "\n")
    text += "# nixenv: direnv cache, service state and logs\n" if not current else ""
    text += "".join(f"{entry}\n" for entry in missing)
    write_atomic(path, text)
    return [f".gitignore: added {', '.join(missing)}"]


def _with_compose(root: Path, found: Detection, compose: Sequence[Path]) -> tuple[Detection, tuple[str, ...]]:
    """A compose file's services replace the Procfile's (a Procfile is usually Heroku's production)."""
    files = list(compose) or find_compose_files(root)
    if not files:
        return found, ()
    result = map_project(load_project(files))
    reason = f"services from {', '.join(f.name for f in files)}" + (" (the Procfile's were not used)" if found.services else "")
    return replace(found, services=dict(result.services), service_reasons=(reason,)), tuple(result.report)


def init(root: Path, *, force: bool = False, compose: Sequence[Path] = ()) -> InitResult:
    if not root.is_dir():
        raise NixenvError(f"{root} is not a directory")
    target = root / CONFIG_NAME
    if target.exists() and not force:
        raise NixenvError(f"{target} already exists; edit it and run `nixenv generate`, "
                          "or run `nixenv init --force` to replace it")
    found, compose_report = _with_compose(root, detect(root), compose)
    doc = build_document(root, found)
    text = render_document(doc, found, from_compose=bool(compose_report))
    cfg = parse(text, root=root)  # never write a file we would not accept
    write_atomic(target, text)
    entries = GITIGNORE_ENTRIES + ((".venv/",) if found.python else ()) + (("node_modules/",) if found.node else ())
    gitignore = ensure_gitignore(root, entries)
    report = generate(cfg)
    added, _ = intent_to_add(root, [CONFIG_NAME, ".gitignore"])
    report.tracked = [*added, *report.tracked]
    detections = found.reasons or ["nothing to detect: an empty environment (add [packages], [python], [node] ...)"]
    return InitResult(target, detections, gitignore, report, in_git=git_toplevel(root) is not None,
                      compose_report=compose_report)
