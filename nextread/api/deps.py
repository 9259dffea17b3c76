"""Request-scoped dependencies: a database session and the authenticated principal (tenant + role)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Annotated, TypeVar

import anyio
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from nextread.config import Settings
from nextread.store.tenants import Principal, authenticate

T = TypeVar("T")

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
    principal = _cached_principal(request, session, credentials.credentials)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"}
        )
    request.state.principal = principal
    return principal


AUTH_CACHE_SECONDS = 10.0


def _cached_principal(
    request: Request, session: Session, key: str, recheck: bool = False
) -> Principal | None:
    """Keys are checked against the database at most every few seconds per process (at once with
    ``recheck``): a hot path saves a query per request, and a revoked key stops working within
    ``AUTH_CACHE_SECONDS``."""
    cache: dict[str, tuple[float, Principal | None]] = request.app.state.auth_cache
    now = time.monotonic()
    hit = cache.get(key)
    if hit is not None and not recheck and now - hit[0] < AUTH_CACHE_SECONDS:
        return hit[1]
    principal = authenticate(session, key)
    if len(cache) > 10_000:
        cache.clear()
    cache[key] = (now, principal)
    return principal


def known_principal(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal | None:
    """The principal of a valid key checked within ``AUTH_CACHE_SECONDS``, without a database session;
    None when the key is missing, invalid or not checked lately. Lets a cache hit be answered on the
    event loop; everything else goes through :func:`get_principal`."""
    if credentials is None or not credentials.credentials:
        return None
    hit = request.app.state.auth_cache.get(credentials.credentials)
    if hit is None or hit[1] is None or time.monotonic() - hit[0] >= AUTH_CACHE_SECONDS:
        return None
    request.state.principal = hit[1]
    return hit[1]


def key_check_due(request: Request, credentials: HTTPAuthorizationCredentials) -> bool:
    """Whether the key's last check is past half of ``AUTH_CACHE_SECONDS``: time to re-check it ahead
    of expiry (:func:`recheck_key`)."""
    hit = request.app.state.auth_cache.get(credentials.credentials)
    return hit is None or time.monotonic() - hit[0] >= AUTH_CACHE_SECONDS / 2


def recheck_key(request: Request, session: Session, credentials: HTTPAuthorizationCredentials) -> None:
    _cached_principal(request, session, credentials.credentials, recheck=True)


def require_admin(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if not principal.can_write:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this API key is read-only; writes need an admin key")
    return principal


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
