"""The dashboard mounts on every app a process builds (tests build many), with a stable session secret."""

from __future__ import annotations

import stat
from pathlib import Path

from fastapi.testclient import TestClient

from nextread.app import create_app
from nextread.ui import storage_secret
from tests.ui.conftest import demo_settings


def test_session_secret_is_generated_once_and_private(tmp_path: Path) -> None:
    settings = demo_settings(tmp_path)
    first = storage_secret(settings)
    assert len(first) >= 32 and first == storage_secret(settings)
    assert stat.S_IMODE((tmp_path / "ui-secret").stat().st_mode) == 0o600
    assert storage_secret(demo_settings(tmp_path, ui_storage_secret="configured")) == "configured"


def test_every_app_in_a_process_serves_the_dashboard(tmp_path: Path) -> None:
    for run in range(2):
        with TestClient(create_app(demo_settings(tmp_path / str(run)))) as client:
            page = client.get("/ui/login")
            assert page.status_code == 200 and "nextread" in page.text
            assert (
                client.get("/ui/students", follow_redirects=False).headers["location"]
                == "/ui/login?next=/ui/students"
            )
            assert client.get("/healthz").status_code == 200
