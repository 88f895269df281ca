"""`nixenv import compose` and `nixenv init` run as a user runs them (a subprocess) on the fixtures."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from nixenv.app.init import _with_compose, build_document, render_document
from nixenv.app.detect import detect
from nixenv.config.load import parse

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "compose"
REPO = Path(__file__).resolve().parents[3]


def nixenv(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("COMPOSE_PROFILES", None)
    result = subprocess.run([sys.executable, "-m", "nixenv", *args], cwd=cwd, env=env, text=True,
                            capture_output=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
def project(tmp_path):
    def copy(name: str) -> Path:
        root = tmp_path / name
        shutil.copytree(FIXTURES / name, root)
        return root
    return copy


def test_dry_run_prints_and_writes_nothing(project):
    root = project("node")
    out = nixenv("import", "compose", "--dry-run", cwd=root).stdout
    assert not (root / "nixenv.toml").exists()
    toml_text, _, report = out.partition("# --- report (dry run: nothing was written) ---")
    cfg = parse(toml_text, root=root)
    assert set(cfg.services) == {"api", "postgres"}
    assert "# mongo: not imported" in report


@pytest.mark.parametrize("name, args, services", [
    ("django", ["local.yml"], {"django", "migrate", "postgres", "redis", "celeryworker", "celerybeat", "flower"}),
    ("node", [], {"api", "postgres"}),
    ("features", [], {"cache", "web", "worker", "beat"}),
    ("unmappable", [], {"app"}),
])
def test_import_writes_a_valid_nixenv_toml(project, name, args, services):
    root = project(name)
    result = nixenv("import", "compose", *args, cwd=root)
    cfg = parse((root / "nixenv.toml").read_text(), root=root)
    assert set(cfg.services) == services
    assert cfg.project.name == name
    assert "wrote nixenv.toml" in result.stdout
    for service in services:  # one line per imported compose service says what it became
        assert any(line.strip().startswith(f"{service}: ") and "->" in line for line in result.stdout.splitlines())
    text = (root / "nixenv.toml").read_text()
    assert "debug-pass" not in text and "tok-123" not in text and "flower-pass" not in text  # secrets stay out


def test_profile_option(project):
    root = project("features")
    nixenv("import", "compose", "--profile", "docs", cwd=root)
    services = tomllib.loads((root / "nixenv.toml").read_text())["services"]
    assert "docs" in services and "debug" not in services


def test_merge_into_an_existing_file_keeps_comments_and_refuses_clashes(project):
    root = project("node")
    original = ('# my project\n[project]\nname = "mine"  # keep this comment\n\n[env]\nFOO = "bar"\n\n'
                '[services.postgres]  # hand-written\ncommand = "my-postgres"\n')
    (root / "nixenv.toml").write_text(original)
    refused = nixenv("import", "compose", cwd=root, check=False)
    assert refused.returncode == 1
    assert "already has [services.postgres]" in refused.stderr and "--force" in refused.stderr
    assert (root / "nixenv.toml").read_text() == original
    nixenv("import", "compose", "--force", cwd=root)
    text = (root / "nixenv.toml").read_text()
    assert text.startswith('# my project\n[project]\nname = "mine"  # keep this comment\n')
    assert 'FOO = "bar"' in text
    cfg = parse(text, root=root)
    assert cfg.services["postgres"].preset == "postgres" and cfg.project.name == "mine"


def test_merge_adds_services_next_to_hand_written_ones(project):
    root = project("node")
    (root / "nixenv.toml").write_text('[project]\nname = "n"\n\n# the docs server\n[services.docs]\n'
                                      'command = "mkdocs serve"\nport = 8001\n')
    nixenv("import", "compose", cwd=root)
    text = (root / "nixenv.toml").read_text()
    assert "# the docs server" in text
    assert set(parse(text, root=root).services) == {"docs", "api", "postgres"}


def test_errors_name_the_file(project, tmp_path):
    root = tmp_path / "bad"
    root.mkdir()
    missing = nixenv("import", "compose", cwd=root, check=False)
    assert missing.returncode == 1 and "no compose file" in missing.stderr and "compose.yaml" in missing.stderr
    (root / "compose.yaml").write_text("services:\n  db:\n    image: postgres:${PG_VERSION:?set PG_VERSION in .env}\n")
    required = nixenv("import", "compose", cwd=root, check=False)
    assert required.returncode == 1
    assert "compose.yaml" in required.stderr and "set PG_VERSION in .env" in required.stderr
    (root / "compose.yaml").write_text("services:\n  web:\n    extends: base\n")
    unknown = nixenv("import", "compose", cwd=root, check=False)
    assert "extends 'base', which compose.yaml does not define" in unknown.stderr


def test_init_uses_the_compose_file(project):
    root = project("django")
    found, report = _with_compose(root, detect(root), [root / "local.yml"])
    text = render_document(build_document(root, found), found, from_compose=True)
    cfg = parse(text, root=root)
    assert set(cfg.services) >= {"django", "postgres", "migrate"} and cfg.services["migrate"].oneshot
    assert any(line.startswith("mailpit: not imported") for line in report)
    assert found.service_reasons == ("services from local.yml",)
    node = project("node")
    found, report = _with_compose(node, detect(node), [])  # compose's own lookup
    assert set(found.services) == {"api", "postgres"}
