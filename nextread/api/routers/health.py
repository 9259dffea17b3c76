"""Probes for orchestrators and the Prometheus scrape endpoint (no API key: they reveal no tenant data)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from nextread.store.db import ping

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the database answers (503 if not); reports the event bus, outbox and event lag",
    description="`bus` is `ok` or `degraded`: with the bus down, writes are still accepted and wait in "
    "the outbox (`outbox_backlog` events) until the relay can publish them, so the process stays ready. "
    "`events` is `lagging` while published events were not applied within "
    "`NEXTREAD_EVENT_RECONCILE_SECONDS` (`unapplied_events`, the oldest stored "
    "`oldest_unapplied_seconds` ago): no worker runs, workers fall behind, or the bus lost them and "
    "they are being re-published from the outbox.",
    responses={503: {"description": "The database does not answer", "model": dict[str, str]}},
)
async def readyz(request: Request) -> JSONResponse:
    try:
        await asyncio.to_thread(ping, request.app.state.engine)
        body: dict[str, object] = {"status": "ok", "database": "ok"}
        pipeline = getattr(request.app.state, "events", None)
        if pipeline is not None:
            bus = await pipeline.status()
            body |= {
                "bus": "ok" if bus.ok else "degraded",
                "outbox_backlog": bus.backlog_events,
                "events": "lagging" if bus.unapplied_events else "ok",
                "unapplied_events": bus.unapplied_events,
                "oldest_unapplied_seconds": bus.oldest_unapplied_seconds,
            }
    except Exception as exc:  # any driver error means "not ready", never a crash
        return JSONResponse({"status": "unavailable", "database": f"unreachable: {type(exc).__name__}"}, 503)
    return JSONResponse(body)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
