""".envrc generation and direnv helpers."""

from __future__ import annotations

from nixenv.config import Config
from nixenv.files import GeneratedFile


def envrc_files(cfg: Config) -> list[GeneratedFile]:
    from nixenv import languages, secrets
    from nixenv.render import render

    text = render("envrc.j2", cfg=cfg, lang=languages.envrc_context(cfg), secrets=secrets.envrc_context(cfg))
    return [GeneratedFile(".envrc", text)]
