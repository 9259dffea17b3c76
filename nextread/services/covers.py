"""Book covers kept and served by nextread itself, so a reader's browser never contacts another site.

A cover is fetched by the server, and only when Open Library enrichment is on (the switch a school uses to
decide whether anything may leave the building); only from the configured covers host
(``NEXTREAD_OPENLIBRARY_COVERS_URL``), and only the URL recorded as the book's cover — never an address a
browser asks for. Images are stored content-addressed under ``<data_dir>/covers`` (the same picture for
two books is kept once), checked to be an image and capped at :data:`MAX_COVER_BYTES`; an index file per
cover URL says which picture it is, or that Open Library has none, so each cover costs one request ever.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from nextread import __version__
from nextread.config import Settings
from nextread.services.enrich import _limiter
from nextread.store.models import Item

# Open Library's medium covers are 10-60 kB; a reply this large is not a book cover.
MAX_COVER_BYTES = 1_000_000
IMAGE_TYPES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png", b"GIF8": "image/gif"}
NO_COVER = "none"
# Stops a school's first page of books from sending the same request several times at once.
_FETCH_LOCK = threading.Lock()


@dataclass(frozen=True)
class Cover:
    path: Path
    digest: str
    media_type: str


def covers_dir(settings: Settings) -> Path:
    return settings.store.data_dir / "covers"


def may_fetch(settings: Settings, cover_url: str | None) -> bool:
    """Whether ``cover_url`` is one nextread would fetch: enrichment on, and on the covers host."""
    if not cover_url or not settings.openlibrary.openlibrary_enabled:
        return False
    try:
        host = httpx.URL(settings.openlibrary.openlibrary_covers_url)
        wanted = httpx.URL(cover_url)
    except httpx.InvalidURL:  # an imported catalogue's typo
        return False
    return (wanted.scheme, wanted.host, wanted.port) == (host.scheme, host.host, host.port) and (
        wanted.path.startswith(host.path.rstrip("/") + "/")
    )


def item_cover(
    session: Session, tenant_id: int, item_id: str, settings: Settings, http: httpx.Client | None = None
) -> Cover | None:
    """The stored picture of the tenant's book ``item_id``, fetched now if it never was; None when the
    book has no cover nextread may fetch, Open Library has none, or the fetch failed (tried again later)."""
    cover_url = session.scalar(
        select(Item.cover_url).where(Item.tenant_id == tenant_id, Item.external_id == item_id)
    )
    if not may_fetch(settings, cover_url):
        return None
    assert cover_url is not None  # may_fetch said so
    return stored_cover(settings, cover_url) or fetch_cover(settings, cover_url, http)


def known_missing(settings: Settings, cover_url: str) -> bool:
    """Open Library said it has no such cover (or sent no picture): a page shows its placeholder."""
    index = _index_file(settings, cover_url)
    return index.exists() and index.read_text(encoding="utf-8").strip() == NO_COVER


def stored_cover(settings: Settings, cover_url: str) -> Cover | None:
    index = _index_file(settings, cover_url)
    if not index.exists():
        return None
    name = index.read_text(encoding="utf-8").strip()
    path = covers_dir(settings) / name
    if name == NO_COVER or not path.exists():
        return None
    return Cover(path, path.stem, _media_type(path.read_bytes()[:8]) or "application/octet-stream")


def fetch_cover(settings: Settings, cover_url: str, http: httpx.Client | None = None) -> Cover | None:
    """Fetch, check and store one cover; "no such cover" (404) is remembered, errors are not."""
    if not may_fetch(settings, cover_url):
        return None
    with _FETCH_LOCK:
        if _index_file(settings, cover_url).exists():
            return stored_cover(settings, cover_url)
        body = _download(settings, cover_url, http)
        if body is None:
            return None
        media_type = _media_type(body[:8])
        if not body or media_type is None:
            _write(_index_file(settings, cover_url), NO_COVER.encode())
            return None
        digest = hashlib.sha256(body).hexdigest()
        path = covers_dir(settings) / f"{digest}.{media_type.split('/')[1]}"
        if not path.exists():
            _write(path, body)
        _write(_index_file(settings, cover_url), path.name.encode())
        return Cover(path, digest, media_type)


def _download(settings: Settings, cover_url: str, http: httpx.Client | None) -> bytes | None:
    """The reply's bytes (empty for "no cover"), or None after a failure worth retrying later."""
    group = settings.openlibrary
    client = http or httpx.Client(
        timeout=group.openlibrary_timeout_seconds,
        follow_redirects=True,  # covers.openlibrary.org hands the picture over from archive.org
        headers={"User-Agent": f"nextread/{__version__} (book covers)"},
    )
    _limiter(group.openlibrary_covers_url, group.openlibrary_requests_per_second).wait()
    try:
        # Open Library answers a missing cover with a 1-pixel GIF unless asked for a 404.
        with client.stream("GET", cover_url, params={"default": "false"}) as response:
            if response.status_code == 404:
                return b""
            if response.status_code != 200:
                return None
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_COVER_BYTES:
                    return b""
            return body
    except httpx.HTTPError:
        return None
    finally:
        if http is None:
            client.close()


def _media_type(head: bytes) -> str | None:
    return next((kind for magic, kind in IMAGE_TYPES.items() if head.startswith(magic)), None)


def _index_file(settings: Settings, cover_url: str) -> Path:
    return covers_dir(settings) / "by-url" / hashlib.sha256(cover_url.encode()).hexdigest()


def _write(path: Path, data: bytes) -> None:
    """Write-then-rename, so a concurrent reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{threading.get_ident()}.tmp")
    partial.write_bytes(data)
    partial.replace(path)
