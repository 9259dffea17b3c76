"""What the UI pages share with the API process: its settings, database sessions, recommendation service,
serving cache and LLM client, which the pages hand to the same service functions the API calls."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI
from sqlalchemy.orm import Session

from nextread.cache import ServingCache
from nextread.config import Settings
from nextread.llm.client import LLMClient
from nextread.services.lockout import Lockout, lockout_of
from nextread.services.recommend import RecommendationService
from nextread.store.db import session_scope

MOUNT_PATH = "/ui"
_app: FastAPI | None = None


def bind_app(app: FastAPI) -> None:
    global _app
    _app = app


def api_app() -> FastAPI:
    if _app is None:
        raise RuntimeError("the UI is not mounted on an app")
    return _app


def settings() -> Settings:
    return api_app().state.settings


def service() -> RecommendationService:
    return api_app().state.recommendations


def cache() -> ServingCache:
    return api_app().state.cache


def lockout() -> Lockout:
    """The sign-in page's failure counts, kept in the serving cache's backend (shared with Redis)."""
    state = api_app().state
    if getattr(state, "sign_in_lockout", None) is None:
        state.sign_in_lockout = lockout_of(cache().backend, settings())
    return state.sign_in_lockout


def llm() -> LLMClient | None:
    return api_app().state.llm


@contextmanager
def db() -> Iterator[Session]:
    with session_scope(api_app().state.session_factory) as session:
        yield session


def url(path: str) -> str:
    """The full address of a dashboard page, for redirects and raw HTML links. ``ui.link`` and
    ``ui.navigate`` take the page's own path (``/overview``): NiceGUI's browser side adds the mount
    prefix to those, so passing ``url(...)`` there would lead to ``/ui/ui/...``."""
    return MOUNT_PATH + path


def go(path: str) -> None:
    """Navigate to a page's own path or full address (the browser adds the mount prefix itself)."""
    from nicegui import ui

    ui.navigate.to(path.removeprefix(MOUNT_PATH) or "/")
