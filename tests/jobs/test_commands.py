"""`nextread jobs` on a real (SQLite) database, and the scheduler running inside the API process."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from nextread.app import create_app
from nextread.cli import app
from nextread.config import Settings, get_settings
from nextread.store.db import session_scope
from nextread.store.models import JobRun
from tests.api.test_recommendations import _library
from tests.conftest import ADMIN_KEY


def test_jobs_run_retrain_then_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEXTREAD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("NEXTREAD_LOG_LEVEL", "WARNING")
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        assert "no job runs yet" in runner.invoke(app, ["jobs"]).output
        from nextread.cli import prepare_demo

        prepare_demo(get_settings())
        ran = runner.invoke(app, ["jobs", "run", "retrain"])
        assert ran.exit_code == 0, ran.output
        assert "retrain run 1: succeeded" in ran.output
        listed = runner.invoke(app, ["jobs"])
        assert listed.exit_code == 0, listed.output
        assert "retrain" in listed.output and "manual" in listed.output and "succeeded" in listed.output
        unknown = runner.invoke(app, ["jobs", "run", "reindex"])
        assert unknown.exit_code != 0
        assert "reindex" in unknown.output
    finally:
        get_settings.cache_clear()


def test_the_api_process_retrains_after_new_interactions(settings: Settings) -> None:
    fast = settings.model_copy(update={"scheduler_poll_seconds": 0.2, "retrain_after_interactions": 10})
    with TestClient(create_app(fast)) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        _library(client)  # 34 interactions and no model yet
        sessions = client.app.state.session_factory
        deadline = time.monotonic() + 120
        runs: list[JobRun] = []
        while time.monotonic() < deadline and not any(run.status != "running" for run in runs):
            time.sleep(0.2)
            with session_scope(sessions) as session:
                runs = list(session.scalars(select(JobRun)))
        assert [(run.job, run.triggered_by, run.status) for run in runs] == [
            ("retrain", "interactions", "succeeded")
        ]
        assert client.get("/v1/models").json()[0]["version"] == 1


def test_the_scheduler_can_be_turned_off(settings: Settings) -> None:
    off = settings.model_copy(update={"scheduler_enabled": False})
    with TestClient(create_app(off)) as client:
        assert client.app.state.scheduler.scheduler is None
