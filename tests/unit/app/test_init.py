"""`nixenv init`: detection (pure functions) and the command as a user runs it."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from testkit import nixenv, run
from nixenv.app.detect import detect, detect_node, detect_python, semver_range_satisfies, version_satisfies


def files(root: Path, mapping: dict[str, str]) -> Path:
    for name, text in mapping.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize("layout, manager, reason", [
    ({"pyproject.toml": "[tool.poetry]\nname='a'\n"}, "poetry", "pyproject.toml has [tool.poetry]"),
    ({"pyproject.toml": "[project]\nname='a'\n", "poetry.lock": ""}, "poetry", "poetry.lock"),
    ({"pyproject.toml": "[project]\nname='a'\n", "uv.lock": ""}, "uv", "uv.lock"),
    ({"pyproject.toml": "[project]\nname='a'\n", "pdm.lock": ""}, "pdm", "pdm.lock"),
    ({"requirements.txt": "x\n", "requirements-dev.txt": "y\n"}, "pip", "requirements.txt, requirements-dev.txt"),
])
def test_python_manager_detection(tmp_path, layout, manager, reason):
    found = detect_python(files(tmp_path, layout))
    assert found.value["manager"] == manager
    assert any(reason in r for r in found.reasons)
    if manager == "pip":
        assert found.value["requirements"] == ["requirements.txt", "requirements-dev.txt"]


@pytest.mark.parametrize("layout, version", [
    ({".python-version": "3.13.1\n", "requirements.txt": ""}, "3.13"),
    ({"pyproject.toml": "[project]\nname='a'\nrequires-python = '>=3.11,<3.12'\n"}, "3.11"),
    ({"pyproject.toml": "[project]\nname='a'\nrequires-python = '>=3.13'\n"}, "3.13"),
    ({"pyproject.toml": "[tool.poetry]\nname='a'\n[tool.poetry.dependencies]\npython = '^3.11'\n"}, "3.12"),
    ({"requirements.txt": ""}, "3.12"),
])
def test_python_version_detection(tmp_path, layout, version):
    assert detect_python(files(tmp_path, layout)).value["version"] == version


@pytest.mark.parametrize("layout, manager, version", [
    ({"package.json": json.dumps({"packageManager": "pnpm@9.1.0"}), "yarn.lock": ""}, "pnpm", "22"),
    ({"package.json": "{}", "yarn.lock": ""}, "yarn", "22"),
    ({"package.json": "{}", "pnpm-lock.yaml": ""}, "pnpm", "22"),
    ({"package.json": "{}", "package-lock.json": "{}", ".nvmrc": "v24.11.1\n"}, "npm", "24"),
    ({"package.json": "{}", ".nvmrc": "v20.11.1\n"}, "npm", "22"),  # nodejs_20 is gone: the default
    ({"package.json": json.dumps({"engines": {"node": ">=18 <25"}})}, "npm", "22"),
    ({"package.json": json.dumps({"engines": {"node": ">=25"}})}, "npm", "26"),
    ({"package.json": "{}", ".nvmrc": "lts/jod"}, "npm", "22"),
])
def test_node_detection(tmp_path, layout, manager, version):
    found = detect_node(files(tmp_path, layout))
    assert found.value == {"version": version, "manager": manager}


def test_version_range_helpers():
    assert version_satisfies("3.12", ">=3.11,<3.13") and not version_satisfies("3.13", ">=3.11,<3.13")
    assert version_satisfies("3.12", "~=3.11") and not version_satisfies("3.12", "~3.11")
    assert version_satisfies("3.12", "==3.12.*") and not version_satisfies("3.12", "!=3.12.*")
    assert semver_range_satisfies("20", "^20.0.0") and not semver_range_satisfies("22", "^20.0.0")
    assert semver_range_satisfies("22", "18 || >=22") and semver_range_satisfies("24", "24.x")


def test_procfile_becomes_services_with_ports(tmp_path):
    found = detect(files(tmp_path, {"Procfile": "web: gunicorn app:app --bind 127.0.0.1:$PORT\n# comment\nworker: celery -A app worker\nbad line\n"}))
    assert found.service_reasons == ("services web, worker: Procfile", "skipped Procfile:4: not `name: command`: 'bad line'")
    assert found.services == {
        "web": {"command": "gunicorn app:app --bind 127.0.0.1:$PORT", "port": 5000, "ready": {"tcp": 5000}},
        "worker": {"command": "celery -A app worker"},
    }


def test_init_in_an_empty_directory(tmp_path, env):
    project = tmp_path / "My Project!"
    project.mkdir()
    result = nixenv("init", cwd=project, env=env)
    assert "nothing to detect" in result.stdout
    doc = tomllib.loads((project / "nixenv.toml").read_text())
    assert doc["project"]["name"] == "My-Project"
    assert (project / "flake.nix").exists() and (project / ".envrc").exists()
    assert nixenv("generate", "--check", cwd=project, env=env).returncode == 0


def test_init_refuses_to_overwrite_and_gitignore_is_idempotent(tmp_path, env):
    project = files(tmp_path / "p", {"requirements.txt": "", ".gitignore": "node_modules\n*.pyc"})
    run(["git", "init", "-q"], cwd=project, env=env)
    nixenv("init", cwd=project, env=env)
    first = (project / "nixenv.toml").read_text()
    (project / "nixenv.toml").write_text(first + "\n# my notes\n")
    again = nixenv("init", cwd=project, env=env, check=False)
    assert again.returncode == 1 and "already exists" in again.stderr and "--force" in again.stderr
    assert (project / "nixenv.toml").read_text().endswith("# my notes\n")
    nixenv("init", "--force", cwd=project, env=env)
    assert (project / "nixenv.toml").read_text() == first
    ignore = (project / ".gitignore").read_text().splitlines()
    assert ignore.count(".direnv/") == 1 and ignore.count(".nixenv/") == 1 and ignore.count(".venv/") == 1
    assert "*.pyc" in ignore and "node_modules" in ignore
    tracked = run(["git", "ls-files"], cwd=project, env=env).stdout.split()
    assert {"nixenv.toml", "flake.nix", ".envrc", ".gitignore"} <= set(tracked)


def test_init_writes_a_commented_valid_config_from_procfile(tmp_path, env):
    project = files(tmp_path / "p", {"Procfile": "web: python -m http.server $PORT\n", "requirements.txt": ""})
    result = nixenv("init", cwd=project, env=env)
    assert "detected: services web: Procfile" in result.stdout
    text = (project / "nixenv.toml").read_text()
    assert "# detected: python manager pip: requirements.txt" in text
    doc = tomllib.loads(text)
    assert doc["services"]["web"] == {"command": "python -m http.server $PORT", "port": 5000, "ready": {"tcp": 5000}}
