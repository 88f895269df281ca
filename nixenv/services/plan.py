"""Plan: from the configuration to what each service must be, with nothing written or run.

A `ServicePlan` is everything the service directory is rendered from: the command (a
preset's unless the user wrote one), where it runs, its readiness, what runs before it
(a preset's setup: data directory, first-time initialisation) and once it is ready (a
preset's `ensure`: databases and users), its stop signal and timeout, its restart policy,
and its environment with `${services.NAME.port}` references replaced by real ports. The
presets' exported variables (DATABASE_URL, REDIS_URL, ...) are planned here too, for the
shell and for the services.
"""

from __future__ import annotations

import pwd
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from nixenv.config.load import SERVICE_REF, Config, Ready, Service, ready_text
from nixenv.config.paths import ProjectPaths
from nixenv.services import presets
from nixenv.services.presets.base import Context
from nixenv.services.runas import run_as_user

DEFAULT_STOP_SIGNAL = "TERM"
DEFAULT_STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class ServicePlan:
    name: str
    command: str
    cwd: str
    port: int | None
    depends_on: tuple[str, ...]
    env: Mapping[str, str]  # the service's own variables (after [env], dotenv, exports, secrets)
    ready: Ready | None
    restart: str
    stop_signal: str
    stop_timeout: float
    oneshot: bool = False
    preset: str | None = None
    setup: str = ""  # sh, before the command on every start
    ensure: str = ""  # sh, once the service is ready, on every start
    data_dir: Path | None = None
    client: tuple[str, ...] = ()  # `nixenv services shell NAME`
    ready_text: str = ""  # what ready means, for `status`
    exports: Mapping[str, str] = field(default_factory=dict)  # name -> value (may hold ${SECRET_NAME})


@dataclass(frozen=True)
class Plan:
    services: Mapping[str, ServicePlan]
    exports: Mapping[str, str]  # every preset's exports: variable -> value (may hold ${SECRET_NAME})

    def order(self) -> list[str]:
        return list(self.services)


def expand_refs(text: str, ports: Mapping[str, int]) -> str:
    def one(match) -> str:
        name, what = match.groups()
        return "127.0.0.1" if what == "host" else str(ports[name])

    return SERVICE_REF.sub(one, text)


def plan(cfg: Config, paths: ProjectPaths, ports: Mapping[str, int],
         environ: Mapping[str, str] | None = None) -> Plan:
    run_as = run_as_user(environ)
    if run_as is not None:
        try:
            pwd.getpwnam(run_as)
        except KeyError:
            run_as = None  # reported by the preset's setup: it fails with the reason
    services: dict[str, ServicePlan] = {}
    exports: dict[str, str] = {}
    for name, service in cfg.services.items():
        planned = _plan_one(cfg, paths, ports, service, run_as)
        services[name] = planned
        exports.update(planned.exports)
    return Plan(services, exports)


def _plan_one(cfg: Config, paths: ProjectPaths, ports: Mapping[str, int], service: Service,
              run_as: str | None) -> ServicePlan:
    port = ports.get(service.name)
    env = {k: expand_refs(v, ports) for k, v in service.env.items()}
    command = expand_refs(service.command, ports)
    if service.preset is None:
        return ServicePlan(
            name=service.name, command=command, cwd=service.cwd, port=port, depends_on=service.depends_on,
            env=env, ready=service.ready, restart=service.restart,
            stop_signal=service.stop_signal or DEFAULT_STOP_SIGNAL,
            stop_timeout=service.stop_timeout if service.stop_timeout is not None else DEFAULT_STOP_TIMEOUT,
            oneshot=service.oneshot, ready_text=ready_text(service))
    assert port is not None
    ctx = Context(service=service, port=port, data_dir=paths.data(service.name),
                  run_dir=paths.sockets(service.name), run_as=run_as, project_root=paths.root)
    preset = presets.plan_for(ctx)
    exported = presets.apply_export(preset, service)
    return ServicePlan(
        name=service.name, command=command or preset.command, cwd=service.cwd, port=port,
        depends_on=service.depends_on, env=env,
        ready=service.ready or Ready("command", preset.ready), restart=service.restart,
        stop_signal=service.stop_signal or preset.stop_signal,
        stop_timeout=service.stop_timeout if service.stop_timeout is not None else preset.stop_timeout,
        preset=service.preset, setup=preset.setup, ensure=preset.ensure, data_dir=ctx.data_dir,
        client=preset.client, exports=exported, ready_text=ready_text(service))
