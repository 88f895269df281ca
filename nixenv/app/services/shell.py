"""`nixenv services shell NAME`: the preset's client (psql, redis-cli, mysql, ...) connected to
the service, in the project's environment."""

from __future__ import annotations

from nixenv.app.services.common import check_names, paths_of
from nixenv.config.load import Config
from nixenv.services import env as services_env
from nixenv.services import ports as service_ports
from nixenv.services.plan import plan
from nixenv.support import proc
from nixenv.support.errors import NixenvError


def client_argv(cfg: Config, name: str) -> list[str]:
    """The command `nixenv services shell NAME` runs: the preset's client, in the project's
    environment (devshell, exports), connected to the service."""
    check_names(cfg, [name])
    service = cfg.services[name]
    if service.preset is None:
        raise NixenvError(f"services.{name} is not a preset: `nixenv services shell` opens a preset's client "
                          "(psql, redis-cli, mysql, ...)")
    paths = paths_of(cfg)
    planned = plan(cfg, paths, service_ports.resolve(cfg, paths))
    argv, _ = services_env.project_command(cfg, list(planned.services[name].client), [])
    return argv


def exec_client(argv: list[str]) -> None:
    proc.exec_replace(argv)
