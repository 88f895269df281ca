"""`nixenv import compose`: compose files -> services in nixenv.toml (new, or merged into the
existing file with its comments and hand edits kept), secrets into the encrypted file.

The result is validated with the config loader before anything is written; secrets are
stored before nixenv.toml is written, so a failed `sops` leaves nixenv.toml as it was.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import tomlkit

from nixenv.app.init import project_name
from nixenv.compose.load import COMPOSE_FILES, find_compose_files, load_project
from nixenv.compose.mapping import map_project
from nixenv.config.load import parse
from nixenv.config.paths import CONFIG_NAME
from nixenv.secrets.store import set_secret
from nixenv.support.errors import NixenvError
from nixenv.support.files import write_atomic


@dataclass(frozen=True)
class ImportOutcome:
    config_path: Path
    text: str  # the resulting nixenv.toml
    report: tuple[str, ...]
    files: tuple[Path, ...]  # the compose files read
    written: bool
    stored_secrets: tuple[str, ...] = ()


def compose_files(root: Path, given: Sequence[Path | str] = ()) -> list[Path]:
    """The files named (relative to `root` when relative), else compose's own lookup in `root`."""
    if given:
        return [p if p.is_absolute() else (root / p) for p in map(Path, given)]
    found = find_compose_files(root)
    if not found:
        raise NixenvError(f"no compose file in {root} (looked for {', '.join(COMPOSE_FILES)}); "
                          "name one: `nixenv import compose docker-compose.local.yml`")
    return found



def service_tables(services: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Plain service tables as tomlkit items: scalars and small tables inline, env as a sub-table."""
    out: dict[str, Any] = {}
    for name, service in services.items():
        table = tomlkit.table()
        for key, value in service.items():
            if key in ("env", "settings") and isinstance(value, dict):
                sub = tomlkit.table()
                for k, v in value.items():
                    sub[k] = v
                table[key] = sub
            elif isinstance(value, dict):
                inline = tomlkit.inline_table()
                inline.update(value)
                table[key] = inline
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                array = tomlkit.array()
                for item in value:
                    inline = tomlkit.inline_table()
                    inline.update(item)
                    array.append(inline)
                table[key] = array
            else:
                table[key] = value
        out[name] = table
    return out


def import_compose(root: Path, files: Sequence[Path | str] = (), *, dry_run: bool = False, force: bool = False,
                   profiles: Sequence[str] = (), environ: Mapping[str, str] | None = None) -> ImportOutcome:
    root = root.resolve()
    paths = compose_files(root, files)
    target = root / CONFIG_NAME
    current = target.read_text(encoding="utf-8") if target.exists() else None
    cfg = parse(current, root=root) if current is not None else None  # refuse to build on a broken file
    secrets_enabled = cfg is not None and cfg.secrets is not None and (root / cfg.secrets.file).exists()
    result = map_project(load_project(paths, environ=environ, profiles=profiles), secrets_enabled=secrets_enabled)
    report = list(result.report)

    if current is None:
        doc = tomlkit.document()
        doc.add(tomlkit.comment("nixenv.toml: the one file that describes this development environment."))
        doc.add(tomlkit.comment(f"Services imported from {', '.join(p.name for p in paths)} by `nixenv import compose`."))
        doc.add(tomlkit.nl())
        doc["project"] = {"name": project_name(root)}
    else:
        doc = tomlkit.parse(current)
    existing = doc.get("services")
    clashes = [name for name in result.services if existing is not None and name in existing]
    if clashes and not force:
        raise NixenvError(f"{CONFIG_NAME} already has {', '.join(f'[services.{n}]' for n in clashes)}: "
                          "re-run with --force to replace them with the imported ones (nothing was written)")
    if existing is None:
        doc["services"] = tomlkit.table(is_super_table=True)
        existing = doc["services"]
    for name in clashes:
        del existing[name]
        report.append(f"{name}: replaced the existing [services.{name}] (--force)")
    for name, table in service_tables(result.services).items():
        existing[name] = table
    text = tomlkit.dumps(doc)
    new_cfg = parse(text, root=root)  # never write a file the loader would refuse
    written_back = tomllib.loads(text).get("services", {})
    for name, table in result.services.items():
        if written_back.get(name) != table:
            raise NixenvError(f"internal error: [services.{name}] did not survive the TOML round trip; nothing was written")
    if dry_run:
        return ImportOutcome(target, text, tuple(report), tuple(paths), written=False)
    stored: list[str] = []
    if secrets_enabled and result.secrets:
        for name, value in result.secrets.items():
            set_secret(new_cfg, name, value)
            stored.append(name)
    write_atomic(target, text)
    return ImportOutcome(target, text, tuple(report), tuple(paths), written=True, stored_secrets=tuple(stored))
