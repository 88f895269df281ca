"""Who runs the servers: when nixenv runs as root (CI containers, these machines), servers that
refuse root (postgres, mysqld) run as an unprivileged user that owns their data: `nobody`,
which every Debian/Ubuntu/macOS machine has, or NIXENV_SERVICE_USER."""

from __future__ import annotations

import os
from typing import Mapping

RUN_AS_VAR = "NIXENV_SERVICE_USER"
DEFAULT_RUN_AS = "nobody"


def run_as_user(environ: Mapping[str, str] | None = None) -> str | None:
    """None unless nixenv runs as root; then the user servers run as."""
    if os.geteuid() != 0:
        return None
    env = os.environ if environ is None else environ
    return env.get(RUN_AS_VAR) or DEFAULT_RUN_AS
