"""Service presets: `[services.NAME] preset = "..."` -> a Plan (base.py) the supervisor runs.

One module per server, each a function Context -> Plan, tested against the real servers from
Debian (tests/e2e/test_presets_servers.py). mailpit and minio are not here: no binary of
either can be had on these machines (not in Debian bookworm, PyPI or npm), and a preset is not
shipped untested.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from nixenv.config.load import Service

from nixenv.services.presets import memcached, mysql, nginx, postgres, rabbitmq, redis
from nixenv.services.presets.base import Context, Package, Plan, apply_export

REGISTRY: dict[str, Callable[[Context], Plan]] = {
    "postgres": postgres.plan,
    "redis": redis.plan,
    "valkey": redis.valkey_plan,  # same code as redis; untested: no valkey binary in Debian bookworm
    "mysql": mysql.plan,
    "memcached": memcached.plan,
    "rabbitmq": rabbitmq.plan,
    "nginx": nginx.plan,
}


def plan_for(ctx: Context) -> Plan:
    if ctx.service.preset not in REGISTRY:
        raise KeyError(f"no preset {ctx.service.preset!r}")
    return REGISTRY[ctx.service.preset](ctx)


def packages_for(service: Service, root: Path) -> tuple[Package, ...]:
    """The nixpkgs packages a preset service needs in the devshell (they depend on its
    version and extensions only, not on where it runs)."""
    ctx = Context(service=service, port=1, data_dir=root, run_dir=root, run_as=None, project_root=root)
    return plan_for(ctx).packages


__all__ = ["REGISTRY", "Context", "Package", "Plan", "apply_export", "packages_for", "plan_for"]
