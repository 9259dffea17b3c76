"""Request-scoped dependencies: a database session and the authenticated principal (tenant + role)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Annotated, TypeVar

import anyio
from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from nextread.config import Settings
from nextread.observability import get_logger
from nextread.services.access import WRITE, AccessDenied, KeyCache, Principal, require
from nextread.store.db import session_scope

T = TypeVar("T")
log = get_logger("nextread.api.recommendations")

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer <key>`")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    """The request's unit of work: committed once the endpoint has returned, rolled back on any
    exception so nothing is half-written. Only ever used through :data:`SessionDep`, whose
    ``scope="function"`` makes FastAPI run the commit before the response is sent: a 2xx then means
    stored (an immediate read sees it) and a commit that fails is answered with an error instead."""
    session: Session = request.app.state.session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_principal(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing API key: send 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = key_cache(request).principal(session, credentials.credentials)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"}
        )
    request.state.principal = principal
    return principal


def key_cache(request: Request) -> KeyCache:
    return request.app.state.keys


def known_principal(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal | None:
    """The principal of a valid key checked lately, without a database session; None when the key is
    missing, invalid or not checked lately. Lets a cache hit be answered on the event loop; everything
    else goes through :func:`get_principal`."""
    if credentials is None or not credentials.credentials:
        return None
    principal = key_cache(request).known(credentials.credentials)
    if principal is not None:
        request.state.principal = principal
    return principal


def recheck_ahead(request: Request, key: str, tenant_id: int) -> None:
    """Re-check the key, the model, the catalog and the saved weights in the background, once per
    process at a time, when any of them is past half its interval. Without it every check expired under
    load, and every request of that moment went to the ranking thread to re-check in turn: on the
    precomputed bench (50k readers, 32 connections), bursts every 5 s of requests queued up to 340 ms
    behind each other, while a hit takes 2–7 ms."""
    state = request.app.state
    if not (key_cache(request).due(key) or state.recommendations.checks_due(tenant_id)):
        return
    running: asyncio.Task[None] | None = getattr(state, "recheck", None)
    if running is not None and not running.done():
        return
    # kept on the app state: the reference also stops the task from being collected mid-run
    state.recheck = asyncio.get_running_loop().create_task(
        run_in_threadpool(_recheck, request, key, tenant_id)
    )


def _recheck(request: Request, key: str, tenant_id: int) -> None:
    try:
        with session_scope(request.app.state.session_factory) as session:
            key_cache(request).principal(session, key, recheck=True)
            request.app.state.recommendations.recheck(session, tenant_id)
    except Exception as exc:  # the checks run again, in the request path, when they expire
        log.warning("recheck_failed", tenant_id=tenant_id, error=str(exc))


def require_admin(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    try:
        return require(principal, WRITE)
    except AccessDenied as denied:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(denied)) from denied


ReaderDep = Annotated[Principal, Depends(get_principal)]
AdminDep = Annotated[Principal, Depends(require_admin)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


async def on_ranking_thread(request: Request, compute: Callable[[], T]) -> T:
    """Run a request that ranks the catalog on one of the process's ranking threads: at most
    ``NEXTREAD_RANKING_THREADS`` of them compute at a time, the others queued in arrival order.

    A ranked answer is Python and numpy work that gives up and retakes the GIL hundreds of times; with
    every thread of FastAPI's pool computing at once each hand-over became a thread switch and the
    slowest request waited behind all of them. Over HTTP at 50k readers × 10k books (2 processes, 32
    connections, SQLite, alternating runs) one thread served 378–428 requests/s at p99 105–133 ms
    where the 40-thread pool served 261–354 at p99 232–291 ms (README, Benchmarks). The limiter is
    created on first use, inside the event loop it serves."""
    state = request.app.state
    limiter = getattr(state, "ranking_limiter", None)
    if limiter is None:
        limiter = state.ranking_limiter = anyio.CapacityLimiter(state.settings.serving.ranking_threads)
    return await anyio.to_thread.run_sync(compute, limiter=limiter)
