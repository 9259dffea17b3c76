"""The FastAPI application: wiring of settings, database, middleware, error handlers and routers."""

from __future__ import annotations

import asyncio
import gc
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nextread import __version__
from nextread.api import contextiq
from nextread.api.errors import document_errors, install_error_handlers
from nextread.api.limits import LimitBodySize
from nextread.api.routers import (
    classes,
    groups,
    health,
    interactions,
    items,
    recommendations,
    search,
    trending,
    users,
)
from nextread.cache import open_cache
from nextread.config import Settings, get_settings
from nextread.embed.select import text_embedding_function
from nextread.gc_freeze import freeze_long_lived
from nextread.llm.client import LLMClient
from nextread.mcp.server import mount_mcp
from nextread.observability import (
    HTTP_LATENCY,
    HTTP_REQUESTS,
    configure_logging,
    get_logger,
    install_stack_dump,
)
from nextread.services.access import KeyCache
from nextread.services.event_pipeline import api_event_pipeline
from nextread.services.recommend import RecommendationService
from nextread.services.registry import ModelRegistry
from nextread.services.scheduler import BackgroundScheduler
from nextread.store.db import make_engine, make_session_factory, session_scope, upgrade
from nextread.store.tenants import ensure_tenant, register_api_key
from nextread.ui import mount_ui

REQUEST_ID_HEADER = "X-Request-ID"
log = get_logger("nextread.api")


def bootstrap(settings: Settings, session_factory) -> None:  # type: ignore[no-untyped-def]
    """Create the default tenant and register the keys given in the settings."""
    with session_scope(session_factory) as session:
        tenant = ensure_tenant(session, settings.store.default_tenant)
        if settings.accounts.admin_api_key:
            register_api_key(session, tenant, settings.accounts.admin_api_key, "admin", "settings admin key")
        if settings.accounts.read_api_key:
            register_api_key(session, tenant, settings.accounts.read_api_key, "read", "settings read key")


class ObserveRequests:
    """Request id, metrics and one log line per request, as a plain ASGI middleware: Starlette's
    ``@app.middleware("http")`` streams every response through an extra task and queue, which cost
    about a fifth of the CPU time of a cached recommendation."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = Headers(scope=scope).get(REQUEST_ID_HEADER) or uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        finally:
            structlog.contextvars.clear_contextvars()
            _record_request(scope, status, request_id, time.perf_counter() - started)


def _record_request(scope: Scope, status: int, request_id: str, elapsed: float) -> None:
    route_path = getattr(scope.get("route"), "path", "unmatched")
    HTTP_REQUESTS.labels(scope["method"], route_path, str(status)).inc()
    HTTP_LATENCY.labels(scope["method"], route_path).observe(elapsed)
    log.info(
        "request",
        request_id=request_id,
        method=scope["method"],
        path=scope["path"],
        status=status,
        duration_ms=round(elapsed * 1000, 2),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.logging.log_format, settings.logging.log_level)
    engine = make_engine(settings.store.database_url)
    session_factory = make_session_factory(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        install_stack_dump(asyncio.get_running_loop())
        upgrade(engine)
        bootstrap(settings, session_factory)
        with session_scope(session_factory) as session:
            app.state.recommendations.warm(session)  # before the first request, not during it
        app.state.scheduler = BackgroundScheduler(session_factory, settings)
        app.state.scheduler.start()
        app.state.events = api_event_pipeline(settings, engine, session_factory, app.state.cache)
        await app.state.events.start()
        async with app.state.mcp.session_manager.run():
            freeze_long_lived()  # imports, the app, the embedding model: out of full GC passes
            yield
        await app.state.events.stop()
        await app.state.scheduler.stop()
        await app.state.cache.aclose()
        engine.dispose()
        gc.unfreeze()  # this app's objects may be collected again (a test process makes many apps)

    # /docs with Swagger UI served from this process, not a CDN, so it works offline. No /redoc: ReDoc
    # still fetches its logo from its vendor's CDN, and one docs page is enough.
    app = FastAPIOffline(
        redoc_url=None,
        title="nextread",
        version=__version__,
        description="Explainable, reading-level aware recommendations. Authenticate with "
        "`Authorization: Bearer <API key>`; read keys may GET, admin keys may also write. Every error is "
        "an RFC 9457 problem (`application/problem+json`): `detail` names the field first, and a 422 "
        "lists each invalid field in `errors` as `{loc, msg, type}`.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = session_factory
    app.state.keys = KeyCache()
    app.state.cache = open_cache(settings)
    app.state.recommendations = RecommendationService(
        ModelRegistry(session_factory, settings), embed_text=text_embedding_function(settings)
    )
    app.state.llm = LLMClient.from_settings(settings, cache=app.state.cache.backend)
    install_error_handlers(app)
    app.add_middleware(
        LimitBodySize,
        max_request_bytes=settings.intake.max_request_bytes,
        max_upload_bytes=settings.intake.max_upload_bytes,
    )
    app.add_middleware(ObserveRequests)  # outermost: it also logs the 413s of LimitBodySize
    # recommendations first: routes are matched in order and its per-user list is the hottest one
    # (matching every route before it cost a few percent of a cache hit), and its
    # /v1/items/popular must win over /v1/items/{item_id}
    for module in (recommendations, health, search, classes, trending, items, groups, interactions, users):
        app.include_router(module.router)
    app.include_router(contextiq.router)  # the Context IQ shape at /api/v1 (docs/context-iq.md)
    document_errors(app)
    app.state.mcp = mount_mcp(app)
    mount_ui(app, settings)  # the dashboard at /ui, after the API routes so they keep precedence
    return app
