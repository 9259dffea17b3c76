"""Fill a book's missing description, subjects (tags), page count and cover from Open Library.

Off by default (``NEXTREAD_OPENLIBRARY_ENABLED``): it is the only feature that talks to a public
service, and a school decides whether book titles may leave the building. When on:

* lookups go by ISBN (``/isbn/{isbn}.json`` → the edition, then its work ``/works/{id}.json``), and
  without an ISBN by ``/search.json?title=&author=`` — a search hit is used only when its title matches;
* requests are spaced to ``NEXTREAD_OPENLIBRARY_REQUESTS_PER_SECOND`` per process, time out after
  ``NEXTREAD_OPENLIBRARY_TIMEOUT_SECONDS``, and answers (including "not found") are cached on disk under
  ``<data_dir>/cache/openlibrary`` so re-running costs no requests; errors are not cached;
* a field that already has a value is never overwritten, and ``extra["enrichment"]`` records where
  each filled field came from.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from nextread import __version__
from nextread.config import Settings
from nextread.store.db import session_scope
from nextread.store.models import Item
from nextread.store.unknown import UnknownIdError, unknown

ENRICHED_FIELDS = ("description", "tags", "page_count", "cover_url")
MAX_SUBJECTS = 8
# Library-cataloguing subjects that say nothing about what a book is about.
GENERIC_SUBJECTS = frozenset(
    {
        "fiction",
        "juvenile fiction",
        "juvenile literature",
        "children's fiction",
        "children's stories",
        "accessible book",
        "protected daisy",
        "in library",
        "lending library",
        "large type books",
        "open library staff picks",
    }
)


class EnrichmentDisabledError(RuntimeError):
    """Enrichment is off in the settings."""


class EnrichmentResult(BaseModel):
    item_id: str
    filled: dict[str, str] = Field(description="Field → the Open Library URL its value came from.")
    still_missing: list[str]
    errors: list[str] = Field(description="Lookups that failed (timeout, bad JSON, server error).")
    requests: int = Field(description="HTTP requests made (cached answers cost none).")


class LookupFailedError(Exception):
    """One Open Library request failed in a way worth reporting (not a plain 404)."""


class RateLimiter:
    """At most ``rate`` calls per second across the threads of a process: each caller waits for its slot."""

    def __init__(self, rate: float):
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


_LIMITERS: dict[tuple[str, float], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def _limiter(base_url: str, rate: float) -> RateLimiter:
    """One limiter per server and rate in the process, shared by the API and the CLI loop."""
    with _LIMITERS_LOCK:
        return _LIMITERS.setdefault((base_url, rate), RateLimiter(rate))


class OpenLibraryClient:
    """JSON GETs against Open Library with the rate limit, timeout and on-disk cache applied."""

    def __init__(self, settings: Settings, http: httpx.Client | None = None):
        self.base_url = settings.openlibrary.openlibrary_url.rstrip("/")
        self.covers_url = settings.openlibrary.openlibrary_covers_url.rstrip("/")
        self.cache_dir = settings.store.data_dir / "cache" / "openlibrary"
        self.limiter = _limiter(self.base_url, settings.openlibrary.openlibrary_requests_per_second)
        self.http = http or httpx.Client(
            timeout=settings.openlibrary.openlibrary_timeout_seconds,
            follow_redirects=True,
            headers={"User-Agent": f"nextread/{__version__} (metadata enrichment)"},
        )
        self.requests = 0

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any] | None:
        """The JSON object at ``path``, or None when Open Library has no such record (404)."""
        url = str(httpx.URL(self.base_url + path, params=params or {}))
        cached = self._cache_file(url)
        if cached.exists():
            return json.loads(cached.read_text(encoding="utf-8"))["body"]
        self.limiter.wait()
        self.requests += 1
        try:
            response = self.http.get(url)
        except httpx.TimeoutException as exc:
            raise LookupFailedError(f"timeout: {url}") from exc
        except httpx.HTTPError as exc:
            raise LookupFailedError(f"request failed: {url}: {exc}") from exc
        if response.status_code == 404:
            body = None
        elif response.status_code != 200:
            raise LookupFailedError(f"HTTP {response.status_code}: {url}")
        else:
            body = _json_object(response, url)
        self._store(cached, url, body)
        return body

    def _cache_file(self, url: str) -> Path:
        return self.cache_dir / f"{hashlib.sha256(url.encode()).hexdigest()}.json"

    def _store(self, path: Path, url: str, body: dict[str, Any] | None) -> None:
        """Write-then-rename, so a concurrent reader never sees half a file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{threading.get_ident()}.tmp")
        partial.write_text(json.dumps({"url": url, "body": body}), encoding="utf-8")
        partial.replace(path)


def _json_object(response: httpx.Response, url: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise LookupFailedError(f"malformed JSON: {url}") from exc
    if not isinstance(body, dict):
        raise LookupFailedError(f"unexpected JSON (not an object): {url}")
    return body


@contextmanager
def open_library(settings: Settings) -> Iterator[OpenLibraryClient]:
    if not settings.openlibrary.openlibrary_enabled:
        raise EnrichmentDisabledError(
            "metadata enrichment is off: set NEXTREAD_OPENLIBRARY_ENABLED=true to allow Open Library lookups"
        )
    client = OpenLibraryClient(settings)
    try:
        yield client
    finally:
        client.close()


def missing_fields(item: Item) -> list[str]:
    return [name for name in ENRICHED_FIELDS if not getattr(item, name)]


def enrich_book_metadata(
    session: Session,
    tenant_id: int,
    item_id: str,
    settings: Settings,
    client: OpenLibraryClient | None = None,
) -> EnrichmentResult:
    """Fill the missing metadata of the tenant's book ``item_id`` (external id) in ``session``; the
    caller commits. Raises :class:`EnrichmentDisabledError` when enrichment is off and ``UnknownIdError``
    (a ``LookupError``) for an unknown item. Failed lookups are reported in ``errors``, never raised: a
    slow or broken Open Library must not stop a batch."""
    item = session.scalar(select(Item).where(Item.tenant_id == tenant_id, Item.external_id == item_id))
    if item is None:
        raise UnknownIdError("item_id", unknown("item", item_id))
    if client is None:
        with open_library(settings) as own:
            return _enrich(item, own)
    return _enrich(item, client)


def _enrich(item: Item, client: OpenLibraryClient) -> EnrichmentResult:
    before = client.requests
    missing = missing_fields(item)
    errors: list[str] = []
    found: dict[str, tuple[Any, str]] = {}
    if missing:
        try:
            found = _lookup(item, client)
        except LookupFailedError as exc:
            errors.append(str(exc))
    filled = {name: source for name, (value, source) in found.items() if name in missing and value}
    for name in filled:
        setattr(item, name, found[name][0])
    if filled:
        _record_provenance(item, filled)
    return EnrichmentResult(
        item_id=item.external_id,
        filled=filled,
        still_missing=missing_fields(item),
        errors=errors,
        requests=client.requests - before,
    )


def _lookup(item: Item, client: OpenLibraryClient) -> dict[str, tuple[Any, str]]:
    """Every value Open Library offers for this book, each with the URL it came from; the edition
    (most specific) wins over the work, the work over a search hit."""
    sources: list[tuple[dict[str, Any], str]] = []
    isbn = _clean_isbn(item.isbn)
    edition = client.get(f"/isbn/{isbn}.json") if isbn else None
    work_key = None
    if edition is not None:
        sources.append(
            (_from_edition(edition, isbn, client.covers_url), f"{client.base_url}/isbn/{isbn}.json")
        )
        work_key = _first_key(edition.get("works"))
    if work_key is None:
        hit = _search(item, client)
        if hit is not None:
            work_key = hit.get("key") if isinstance(hit.get("key"), str) else None
            sources.append((_from_search(hit, client.covers_url), f"{client.base_url}/search.json"))
    if work_key is not None and re.fullmatch(r"/works/OL\d+W", work_key):
        work = client.get(f"{work_key}.json")
        if work is not None:
            sources.insert(
                1 if edition is not None else 0, (_from_work(work), f"{client.base_url}{work_key}.json")
            )
    found: dict[str, tuple[Any, str]] = {}
    for values, url in sources:
        for name, value in values.items():
            if value and name not in found:
                found[name] = (value, url)
    return found


def _search(item: Item, client: OpenLibraryClient) -> dict[str, Any] | None:
    params = {"title": item.title, "limit": "1"}
    if item.authors:
        params["author"] = item.authors[0]
    result = client.get("/search.json", params)
    docs = (result or {}).get("docs")
    if not isinstance(docs, list) or not docs or not isinstance(docs[0], dict):
        return None
    hit = docs[0]
    return hit if _same_title(str(hit.get("title", "")), item.title, "author" in params) else None


def _same_title(found: str, wanted: str, by_author: bool) -> bool:
    """A search returns its best guess even for a book it does not have: only the same title counts,
    or the same title plus a subtitle when the search was also by the book's author."""

    def key(title: str) -> str:
        return re.sub(r"[^\w]+", " ", title.casefold()).strip()

    if not key(found):
        return False
    return key(found) == key(wanted) or (by_author and key(found.split(":")[0]) == key(wanted))


def _from_edition(edition: dict[str, Any], isbn: str | None, covers_url: str) -> dict[str, Any]:
    covers = [c for c in edition.get("covers") or [] if isinstance(c, int) and c > 0]
    return {
        "description": _text(edition.get("description")),
        "tags": _subjects(edition.get("subjects")),
        "page_count": _page_count(edition.get("number_of_pages")),
        "cover_url": f"{covers_url}/b/isbn/{isbn}-M.jpg" if covers and isbn else None,
    }


def _from_work(work: dict[str, Any]) -> dict[str, Any]:
    return {"description": _text(work.get("description")), "tags": _subjects(work.get("subjects"))}


def _from_search(hit: dict[str, Any], covers_url: str) -> dict[str, Any]:
    cover = _positive_int(hit.get("cover_i"))
    return {
        "tags": _subjects(hit.get("subject")),
        "page_count": _page_count(hit.get("number_of_pages_median")),
        "cover_url": f"{covers_url}/b/id/{cover}-M.jpg" if cover else None,
    }


def _text(value: Any) -> str | None:
    """Open Library descriptions are a string or ``{"type": "/type/text", "value": "…"}``."""
    if isinstance(value, dict):
        value = value.get("value")
    if not isinstance(value, str):
        return None
    text = value.strip()
    return text[:20_000] or None


def _subjects(value: Any) -> list[str]:
    """Subjects as tags: lower case, the topic before any " -- " subdivision, no cataloguing noise."""
    if not isinstance(value, list):
        return []
    tags: list[str] = []
    for subject in value:
        if not isinstance(subject, str):
            continue
        tag = subject.split("--")[0].strip().casefold().rstrip(".")
        if tag and tag not in GENERIC_SUBJECTS and tag not in tags and len(tag) <= 64:
            tags.append(tag)
        if len(tags) == MAX_SUBJECTS:
            break
    return tags


def _positive_int(value: Any, below: int = 2**31) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value < below else None


def _page_count(value: Any) -> int | None:
    """Catalogue typos such as 18400 pages for a picture book are dropped, not copied."""
    return _positive_int(value, below=10_000)


def _first_key(works: Any) -> str | None:
    if (
        isinstance(works, list)
        and works
        and isinstance(works[0], dict)
        and isinstance(works[0].get("key"), str)
    ):
        return works[0]["key"]
    return None


def _clean_isbn(isbn: str | None) -> str | None:
    digits = re.sub(r"[^0-9Xx]", "", isbn or "")
    return digits.upper() if len(digits) in (10, 13) else None


def _record_provenance(item: Item, filled: dict[str, str]) -> None:
    """Merged into ``extra`` as a new dict, so SQLAlchemy sees the JSON column change."""
    previous = (item.extra or {}).get("enrichment") or {}
    item.extra = {
        **(item.extra or {}),
        "enrichment": {
            "source": "openlibrary",
            "enriched_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "fields": {**previous.get("fields", {}), **filled},
        },
    }


def items_to_enrich(session: Session, tenant_id: int, limit: int | None) -> list[str]:
    """External ids of books missing at least one enrichable field, oldest first. Checked here rather
    than in SQL because "no tags" is an empty JSON list, which each database tests differently."""
    columns = [Item.external_id, *(getattr(Item, name) for name in ENRICHED_FIELDS)]
    statement = select(*columns).where(Item.tenant_id == tenant_id).order_by(Item.id)
    ids: list[str] = []
    for row in session.execute(statement.execution_options(yield_per=1_000)):
        if not all(row[1:]):
            ids.append(row[0])
            if limit is not None and len(ids) >= limit:
                break
    return ids


class EnrichmentSummary(BaseModel):
    items: int
    filled: dict[str, int] = Field(description="How many books got each field.")
    failed: list[str] = Field(description="Books whose lookups failed (their errors were reported).")
    requests: int


def enrich_tenant(
    sessions: sessionmaker[Session],
    tenant_id: int,
    settings: Settings,
    limit: int | None = None,
    report: Callable[[EnrichmentResult], None] | None = None,
) -> EnrichmentSummary:
    """Enrich every book of a tenant that misses something (up to ``limit``), one transaction per
    book, so an interrupted run keeps what it did and a re-run continues from the cache."""
    with session_scope(sessions) as session:
        ids = items_to_enrich(session, tenant_id, limit)
    filled: dict[str, int] = {}
    failed: list[str] = []
    with open_library(settings) as client:
        for item_id in ids:
            with session_scope(sessions) as session:
                result = enrich_book_metadata(session, tenant_id, item_id, settings, client)
            for name in result.filled:
                filled[name] = filled.get(name, 0) + 1
            if result.errors:
                failed.append(item_id)
            if report is not None:
                report(result)
        requests = client.requests
    return EnrichmentSummary(items=len(ids), filled=filled, failed=failed, requests=requests)
