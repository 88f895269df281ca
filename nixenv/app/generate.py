"""`nixenv generate`: render every file from the config, then write only what changed."""

from __future__ import annotations

from dataclasses import dataclass, field

from nixenv.config.load import Config
from nixenv.support.files import Change, GeneratedFile, apply, intent_to_add, plan


def render_all(cfg: Config) -> list[GeneratedFile]:
    """Every file nixenv generates for this configuration, committed and internal."""
    from nixenv.direnv import envrc as direnv
    from nixenv.nix import flake as nix
    from nixenv.secrets import store as secrets
    from nixenv.services import reconcile as services_layout

    return [
        *nix.flake_files(cfg),
        *direnv.envrc_files(cfg),
        *secrets.sops_files(cfg),
        *services_layout.service_files(cfg),
    ]


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
    from nixenv.services import reconcile as services_layout

    changes = plan(cfg.root, render_all(cfg))
    report = Report(changes)
    if check:
        return report
    report.written = apply(cfg.root, changes, force=force)
    services_layout.prune(cfg)
    created = [c.file.path for c in report.written if c.file.committed]
    report.tracked, warning = intent_to_add(cfg.root, created)
    if warning:
        report.warnings.append(warning)
    return report


def is_current(cfg: Config) -> bool:
    """True when nothing (internal files included) would change."""
    return all(c.status == "unchanged" for c in plan(cfg.root, render_all(cfg)))


def ensure_generated(cfg: Config) -> Report | None:
    """Generate when stale (used by `services up`, `shell`); None when already current."""
    if is_current(cfg):
        return None
    return generate(cfg)


