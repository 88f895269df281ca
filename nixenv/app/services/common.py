"""What every `nixenv services` use case shares: progress, names, start specs, the project."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from nixenv.config.load import Config, load, ready_text
from nixenv.config.paths import ProjectPaths, find_root
from nixenv.services.start import StartSpec
from nixenv.support.errors import ConfigError, NixenvError
from nixenv.support.text import did_you_mean


class Progress:
    """What `up`/`down`/`restart` report while they work (the CLI prints it)."""

    def event(self, text: str) -> None:  # a line worth keeping
        pass

    def waiting(self, pending: dict[str, float]) -> None:  # name -> seconds waited so far
        pass


def paths_of(cfg: Config) -> ProjectPaths:
    return ProjectPaths.of(cfg.root, cfg.project.name)


def check_names(cfg: Config, names: Sequence[str]) -> None:
    unknown = [n for n in names if n not in cfg.services]
    if unknown:
        known = list(cfg.services)
        hints = [h for n in unknown if (h := did_you_mean(n, known))]
        raise NixenvError(f"no service {', '.join(repr(n) for n in unknown)} in {cfg.path.name}"
                          f" (known: {', '.join(known) or 'none'})" + (f"; {hints[0]}" if hints else ""))


def specs(cfg: Config) -> dict[str, StartSpec]:
    return {name: StartSpec(name, service.depends_on, service.ready is not None or service.preset is not None,
                            service.oneshot, service.restart, ready_text(service))
            for name, service in cfg.services.items()}


def closure_dependants(cfg: Config, names: Sequence[str]) -> list[str]:
    out = list(names)
    changed = True
    while changed:
        changed = False
        for name, service in cfg.services.items():
            if name not in out and any(d in out for d in service.depends_on):
                out.append(name)
                changed = True
    return out


@dataclass(frozen=True)
class Project:
    """What `down` and `logs` need: the config when it can be read, else the paths found on disk."""
    root: Path
    cfg: Config | None
    paths: ProjectPaths | None
    problem: str | None  # why the config could not be read


def project(start_dir: Path) -> Project:
    root = find_root(start_dir)
    try:
        cfg = load(root)
    except (ConfigError, NixenvError) as exc:
        return Project(root, None, ProjectPaths.find(root), str(exc))
    return Project(root, cfg, paths_of(cfg), None)
