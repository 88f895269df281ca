"""A Procfile's `release:` line (Heroku's release phase) becomes a one-shot task that the other
processes wait for, not an always-restarting service (which ran `migrate` six times in 12 s)."""

from __future__ import annotations

from pathlib import Path

from nixenv.app.detect import detect
from nixenv.app.init import build_document, render_document
from nixenv.config.load import parse


def test_release_line_becomes_a_one_shot_task_the_processes_wait_for(tmp_path: Path):
    (tmp_path / "Procfile").write_text("release: python manage.py migrate\nweb: gunicorn app --bind :$PORT\n"
                                       "worker: celery -A app worker\n")
    found = detect(tmp_path)
    assert found.services["release"] == {"command": "python manage.py migrate", "oneshot": True}
    assert found.services["web"]["depends_on"] == ["release"]
    assert found.services["worker"]["depends_on"] == ["release"]
    assert any("release phase" in reason for reason in found.service_reasons)
    cfg = parse(render_document(build_document(tmp_path, found), found), root=tmp_path)
    assert cfg.services["release"].oneshot and cfg.services["release"].restart == "never"
    assert cfg.services["web"].depends_on == ("release",)


def test_without_release_nothing_waits(tmp_path: Path):
    (tmp_path / "Procfile").write_text("web: serve\n")
    assert "depends_on" not in detect(tmp_path).services["web"]
