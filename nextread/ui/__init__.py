"""The web dashboard (librarians, teachers, admins) and the student page, served at ``/ui`` by the same
process as the API.

NiceGUI keeps one global UI application per process, while tests build many FastAPI apps in one
process; so the UI is configured and its pages registered once, and every later app only mounts it and
runs its start-up and shutdown inside its own lifespan.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from nextread.config import Settings
from nextread.ui.context import MOUNT_PATH, bind_app

_configured = False


def storage_secret(settings: Settings) -> str:
    """The configured secret, or one generated on first start and kept under data_dir (mode 0600)."""
    if settings.accounts.ui_storage_secret:
        return settings.accounts.ui_storage_secret
    path = settings.store.data_dir / "ui-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        os.chmod(path, 0o600)
    return path.read_text().strip()


def mount_ui(app: FastAPI, settings: Settings) -> None:
    global _configured
    from nicegui import core, ui
    from nicegui.storage import Storage

    bind_app(app)
    Storage.path = Path(settings.store.data_dir / "ui-sessions").resolve()
    if not _configured:
        from nextread.ui import pages  # noqa: F401  (registers the pages)

        ui.run_with(
            app,
            mount_path=MOUNT_PATH,
            title="nextread",
            favicon="📚",
            storage_secret=storage_secret(settings),
            show_welcome_message=False,
        )
        _configured = True
        return
    app.mount(MOUNT_PATH, core.app)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[object]:
        async with core.app.router.lifespan_context(core.app), inner(app_) as state:
            yield state

    app.router.lifespan_context = lifespan
