"""What the UI pages share with the API: the app's settings, database sessions and recommendation
service, and a way to call the API's own route functions in-process (no second copy of their logic)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from fastapi import FastAPI, HTTPException
from pydantic.fields import FieldInfo
from sqlalchemy.orm import Session
from starlette.requests import Request

from nextread.config import Settings
from nextread.services.recommend import RecommendationService
from nextread.store.db import session_scope

MOUNT_PATH = "/ui"
T = TypeVar("T")
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


@contextmanager
def db() -> Iterator[Session]:
    with session_scope(api_app().state.session_factory) as session:
        yield session


def url(path: str) -> str:
    return MOUNT_PATH + path


def go(path: str) -> None:
    """Navigate to a ``/ui/...`` path: the browser side of NiceGUI adds the mount prefix itself."""
    from nicegui import ui

    ui.navigate.to(path.removeprefix(MOUNT_PATH) or "/")


def api_request() -> Request:
    """A request object bound to the API app, for route functions that reach ``request.app.state``."""
    return Request({"type": "http", "app": api_app(), "headers": [], "method": "GET", "path": "/"})


def call_route(route: Callable[..., T], **arguments: Any) -> T:
    """Call an API route function directly; parameters left out take their declared ``Query`` defaults,
    exactly as FastAPI would fill them for a request without them. Only sync routes: an async one
    would hand back a coroutine that nothing awaits."""
    if inspect.iscoroutinefunction(route):
        raise TypeError(f"{route.__name__} is async: call the sync function it runs instead")
    for name, parameter in inspect.signature(route).parameters.items():
        if name not in arguments and isinstance(parameter.default, FieldInfo):
            arguments[name] = parameter.default.get_default(call_default_factory=True)
    return route(**arguments)


def error_text(exc: Exception) -> str:
    return str(exc.detail) if isinstance(exc, HTTPException) else str(exc)
