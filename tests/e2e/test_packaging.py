"""A non-editable install works: the wheel carries the templates, the console script runs."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from testkit import run, write_project

REPO = Path(__file__).resolve().parents[2]


def test_wheel_ships_templates_and_runs_outside_the_checkout(tmp_path, env):
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", dist, REPO],
        cwd=tmp_path, env=env)
    wheel = next(dist.glob("nixenv-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "nixenv/templates/flake.nix.j2" in names and "nixenv/templates/envrc.j2" in names
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--system-site-packages", venv], cwd=tmp_path, env=env)
    run([venv / "bin/python", "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", wheel], cwd=tmp_path, env=env)
    clean = {**env, "PYTHONPATH": "", "PATH": f"{venv / 'bin'}:{env['PATH']}"}
    assert run([venv / "bin/nixenv", "--version"], cwd=tmp_path, env=clean).stdout.startswith("nixenv ")
    where = run([venv / "bin/python", "-c", "import nixenv.support.templates as t; print(t.templates_dir())"],
                cwd=tmp_path, env=clean).stdout.strip()
    assert where.startswith(str(venv)), f"templates must come from the installed wheel, not {where}"
    project = write_project(tmp_path / "p", '[project]\nname = "p"\n', git=False)
    out = run([venv / "bin/nixenv", "generate"], cwd=project, env=clean).stdout
    assert "created: flake.nix, .envrc" in out


def test_python_m_nixenv_and_help(tmp_path, env):
    assert subprocess.run([sys.executable, "-m", "nixenv", "--version"], capture_output=True, text=True,
                          env=env).stdout.strip().startswith("nixenv ")
    help_text = subprocess.run([sys.executable, "-m", "nixenv", "--help"], capture_output=True, text=True, env=env).stdout
    for command in ("init", "generate", "shell", "run", "doctor", "services", "secrets", "--install-completion"):
        assert command in help_text
