""".envrc generation and direnv helpers."""

from __future__ import annotations

import re
from pathlib import Path

from nixenv.config.load import Config
from nixenv.config.paths import EXPORTS_FILE
from nixenv.languages import registry as languages
from nixenv.secrets import store as secrets
from nixenv.support import proc
from nixenv.support.files import GeneratedFile
from nixenv.support.render import render


# The line after which the .envrc holds what a warm entry never reads (templates/envrc/on-demand.j2).
ON_DEMAND_MARKER = "# ---- nixenv: on demand (read by _nixenv_on_demand) ----"
FUNCTION_DEFINITION = re.compile(r"^(_nixenv_[a-z_]+)\(\) \{", re.M)


def envrc_files(cfg: Config) -> list[GeneratedFile]:
    # the presets' exports (written per machine by `nixenv generate`/`services up`) are read
    # only by projects that have a preset: the others' warm entry does not look for the file
    exports = EXPORTS_FILE if any(s.preset for s in cfg.services.values()) else None
    context = dict(cfg=cfg, lang=languages.envrc_context(cfg), secrets=secrets.envrc_context(cfg), exports=exports)
    on_demand = render("envrc/on-demand.j2", **context)
    # a stub for each function of the on-demand part that the warm part calls (the others are
    # only called from the on-demand part, once it is loaded)
    warm = render("envrc.j2", **context, on_demand="", on_demand_names=[], on_demand_marker=ON_DEMAND_MARKER)
    names = [name for name in FUNCTION_DEFINITION.findall(on_demand) if re.search(rf"\b{name}\b", warm)]
    text = render("envrc.j2", **context, on_demand=on_demand, on_demand_names=names,
                  on_demand_marker=ON_DEMAND_MARKER)
    return [GeneratedFile(".envrc", text)]


def envrc_allowed(root: Path) -> bool:
    """True when direnv is installed and allows root/.envrc as it is now."""
    if not (root / ".envrc").exists() or not proc.have("direnv"):
        return False
    status = proc.run(["direnv", "status"], cwd=root, check=False, timeout=20).stdout
    allowed = re.findall(r"^Found RC allowed (\S+)$", status, re.M)
    return bool(allowed) and allowed[-1] in ("true", "0")
