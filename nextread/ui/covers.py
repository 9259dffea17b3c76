"""Covers on dashboard and student pages come from nextread (``/ui/covers/<item>.jpg``), never from
another site: a page asks :func:`cover_src` for an image address and shows its placeholder on None.

The route serves only the signed-in school's book's own cover (:mod:`nextread.services.covers` fetches
it once, when enrichment is on): there is no URL parameter to proxy, so it cannot be aimed elsewhere."""

from __future__ import annotations

from urllib.parse import quote

from fastapi.responses import FileResponse, Response
from nicegui import app
from starlette.requests import Request

from nextread.services.covers import Cover, item_cover, known_missing, may_fetch
from nextread.ui.auth import current_identity
from nextread.ui.context import db, settings

# Behind a sign-in, so only the browser's own cache may keep them; a day, then checked by ETag.
CACHE_CONTROL = "private, max-age=86400"


def cover_src(item_id: str, cover_url: str | None) -> str | None:
    """The page's own path of book ``item_id``'s cover (``ui.image`` adds ``/ui``), or None: enrichment
    off, no cover recorded (``cover_url``), one on a host nextread does not fetch from, or none to have."""
    if not may_fetch(settings(), cover_url) or known_missing(settings(), str(cover_url)):
        return None
    return f"/covers/{quote(item_id, safe='')}.jpg"


def _cover(item_id: str) -> Cover | None | Response:
    identity = current_identity()
    if identity is None:
        return Response(status_code=401)
    with db() as session:
        return item_cover(session, identity.tenant_id, item_id, settings())


@app.get("/covers/{item_id}.jpg", include_in_schema=False)
def serve_cover(item_id: str, request: Request) -> Response:
    """A plain (threaded) route: the sign-in lookup and a first fetch block, and the session's storage
    is only reachable in the request's own context, which a threaded route keeps."""
    cover = _cover(item_id)
    if isinstance(cover, Response):
        return cover
    if cover is None:
        return Response(status_code=404, headers={"Cache-Control": CACHE_CONTROL})
    etag = f'"{cover.digest}"'
    headers = {"Cache-Control": CACHE_CONTROL, "ETag": etag, "X-Content-Type-Options": "nosniff"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return FileResponse(cover.path, media_type=cover.media_type, headers=headers)
