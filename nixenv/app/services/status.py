"""`nixenv services status`: one row per service, from the configuration when it can be read,
else from the service directories on disk."""

from __future__ import annotations

from pathlib import Path

from nixenv.app.services.common import Project, project, specs
from nixenv.services import ports as service_ports
from nixenv.services.status import Known, Row
from nixenv.services.status import status as read_status
from nixenv.services.supervise import Scanner


def status(root: Path) -> tuple[Project, Scanner, list[Row]]:
    proj = project(root)
    if proj.paths is None:
        return proj, Scanner("stopped"), []
    known = None
    if proj.cfg is not None:
        spec = specs(proj.cfg)
        ports = service_ports.resolve(proj.cfg, proj.paths, record=False)
        known = {n: Known(ports.get(n), spec[n].ready_text if spec[n].notified else None, spec[n].oneshot)
                 for n in proj.cfg.services}
    info, rows = read_status(proj.paths, known)
    return proj, info, rows
