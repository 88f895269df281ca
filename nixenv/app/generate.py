"""`nixenv generate`: every output, from the registry below, written only where it changed.

Committed outputs (flake.nix, .envrc, .sops.yaml) are GeneratedFiles with a content-hash
marker: written atomically, a hand edit is never overwritten without --force. The service
directories and the presets' exports are per machine (ports, paths) and written by the
services' reconcile step, skipped entirely when the stamp of their inputs is unchanged. A new
output is one module with `files(cfg) -> list[GeneratedFile]`, added to COMMITTED.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from nixenv.config.load import Config
from nixenv.config.paths import ProjectPaths
from nixenv.direnv.envrc import envrc_files
from nixenv.languages.registry import PkgRef
from nixenv.nix.flake import flake_files
from nixenv.secrets.store import sops_files
from nixenv.services import ports, reconcile, stamp
from nixenv.services.digest import env_inputs
from nixenv.services.plan import Plan, plan
from nixenv.services.presets import packages_for
from nixenv.support.files import Change, GeneratedFile, apply
from nixenv.support.git import intent_to_add
from nixenv.support.files import plan as plan_files

def server_packages(cfg: Config) -> list[PkgRef]:
    """The nixpkgs packages of the services' presets, with the key that asked for each."""
    return [PkgRef(package.attr, f"services.{name}.preset", package.with_packages)
            for name, service in cfg.services.items() if service.preset is not None
            for package in packages_for(service, cfg.root)]


def flake(cfg: Config) -> list[GeneratedFile]:
    return flake_files(cfg, server_packages(cfg))


COMMITTED: tuple[Callable[[Config], list[GeneratedFile]], ...] = (flake, envrc_files, sops_files)


def render_all(cfg: Config) -> list[GeneratedFile]:
    """Every committed file nixenv generates for this configuration."""
    return [file for output in COMMITTED for file in output(cfg)]


@dataclass
class Report:
    changes: list[Change]
    written: list[Change] = field(default_factory=list)
    tracked: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def by_status(self, status: str, committed_only: bool = True) -> list[str]:
        return [c.file.path for c in self.changes
                if c.status == status and (c.file.committed or not committed_only)]

    @property
    def edited(self) -> list[Change]:
        return [c for c in self.changes if c.status == "edited"]

    @property
    def out_of_date(self) -> list[Change]:
        """Committed files that differ from what the config renders (for --check)."""
        return [c for c in self.changes if c.file.committed and c.status != "unchanged"]


def generate(cfg: Config, *, check: bool = False, force: bool = False) -> Report:
    changes = plan_files(cfg.root, render_all(cfg))
    report = Report(changes)
    if check:
        return report
    report.written = apply(cfg.root, changes, force=force)
    service_directories(cfg)
    created = [c.file.path for c in report.written if c.file.committed]
    report.tracked, warning = intent_to_add(cfg.root, created)
    if warning:
        report.warnings.append(warning)
    return report


def is_current(cfg: Config) -> bool:
    """True when no committed file would change."""
    return all(c.status == "unchanged" for c in plan_files(cfg.root, render_all(cfg)))


def ensure_generated(cfg: Config) -> Report | None:
    """Generate when stale (used by `services up`, `shell`); None when already current."""
    if is_current(cfg):
        service_directories(cfg)
        return None
    return generate(cfg)


def service_directories(cfg: Config) -> Plan | None:
    """The service directories and `.nixenv/exports.env`, when what they are made from changed
    (the stamp: nixenv.toml, the ports, the templates, nixenv itself); None when current."""
    paths = ProjectPaths.of(cfg.root, cfg.project.name)
    if stamp.current(cfg, paths):
        return None
    planned = plan(cfg, paths, ports.resolve(cfg, paths))
    reconcile.write(paths, planned, stamp.stamp(stamp.config_bytes(cfg), paths), env_inputs(cfg))
    return planned
