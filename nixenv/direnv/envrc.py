""".envrc generation and direnv helpers."""

from __future__ import annotations

from pathlib import Path

from nixenv.config.load import Config
from nixenv.support.files import GeneratedFile


def envrc_files(cfg: Config) -> list[GeneratedFile]:
    from nixenv.languages import registry as languages
    from nixenv.secrets import store as secrets
    from nixenv.support.render import render

    text = render("envrc.j2", cfg=cfg, lang=languages.envrc_context(cfg), secrets=secrets.envrc_context(cfg))
    return [GeneratedFile(".envrc", text)]


def envrc_allowed(root: Path) -> bool:
    """True when direnv is installed and allows root/.envrc as it is now."""
    import re

    from nixenv.support import proc

    if not (root / ".envrc").exists() or not proc.have("direnv"):
        return False
    status = proc.run(["direnv", "status"], cwd=root, check=False, timeout=20).stdout
    allowed = re.findall(r"^Found RC allowed (\S+)$", status, re.M)
    return bool(allowed) and allowed[-1] in ("true", "0")
