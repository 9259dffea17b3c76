"""Precomputed recommendation lists: every reader's default answer written to the shared cache ahead
of the request, the way Gorse's workers fill its cache.

The answer is the one ``GET /v1/users/{id}/recommendations`` would give with default parameters
(the same service, the same JSON, the same cache key), so a request for it is a cache read. Nothing
about freshness is given up: a reader's new interaction drops their entries as always (the next
request computes afresh), and a new model, a catalog edit or new school weights change the key.

Each reader's cache token is taken *before* their events are read, as the endpoint does: a reader who
interacts meanwhile has the token deleted, so a list computed from older events is written where
nobody looks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from nextread.cache import ServingCache, UserEntry, open_cache
from nextread.config import Settings
from nextread.observability import get_logger
from nextread.services.answers import answer_json, answer_variant, default_request, listed
from nextread.services.recommend import Reader, RecommendationRequest, RecommendationService
from nextread.services.registry import ModelRegistry
from nextread.store.db import session_scope
from nextread.store.models import ModelVersion, User
from nextread.store.reading_data import EventArrays, load_events

log = get_logger("nextread.precompute")


@dataclass
class PrecomputeReport:
    readers: int = 0
    written: int = 0
    already_cached: int = 0
    model_version: int | None = None


def train_then_precompute(
    sessions: sessionmaker[Session], settings: Settings, tenant_id: int
) -> tuple[ModelVersion, PrecomputeReport | None]:
    """Train a new version; with ``NEXTREAD_PRECOMPUTE_AFTER_TRAIN`` also write every reader's list
    for it into the shared cache (a new model changes every key, so until then requests compute their
    lists). ``nextread train`` and scheduled retrains share it."""
    from nextread.services.training import train_tenant

    version = train_tenant(sessions, tenant_id, settings)
    if not settings.cache.precompute_after_train:
        return version, None
    report = precompute_tenant(sessions, settings, tenant_id)
    log_precomputed_after_train(tenant_id, report)
    return version, report


def log_precomputed_after_train(tenant_id: int, report: PrecomputeReport) -> None:
    log.info(
        "precomputed_after_train",
        tenant_id=tenant_id,
        model_version=report.model_version,
        written=report.written,
        readers=report.readers,
    )


def precompute_tenant(
    sessions: sessionmaker[Session],
    settings: Settings,
    tenant_id: int,
    shard: tuple[int, int] = (0, 1),
    progress: Callable[[int, int], None] | None = None,
) -> PrecomputeReport:
    """Precompute with a service and cache of its own, as a separate command or a job does: the newest
    model version, the shared cache of ``settings``."""
    from nextread.embed.select import text_embedding_function

    service = RecommendationService(ModelRegistry(sessions, settings), text_embedding_function(settings))
    cache = open_cache(settings)
    try:
        return precompute_recommendations(sessions, service, cache, tenant_id, shard, progress)
    finally:
        cache.close()


def precompute_recommendations(
    sessions: sessionmaker[Session],
    service: RecommendationService,
    cache: ServingCache,
    tenant_id: int,
    shard: tuple[int, int] = (0, 1),
    progress: Callable[[int, int], None] | None = None,
) -> PrecomputeReport:
    """Write the default answer of every reader of the tenant (those with ``pk % count == index`` for
    ``shard=(index, count)``, so several processes can share the work) into ``cache``."""
    if not cache.enabled:
        raise ValueError("caching is off (NEXTREAD_CACHE_URL=none://): there is nowhere to precompute to")
    request = default_request()
    report = PrecomputeReport()
    with session_scope(sessions) as session:
        stamp = service.answer_stamp(session, tenant_id)
        artifact = service.registry.current(tenant_id)
        if stamp is None or artifact is None:
            return report
        report.model_version = artifact.version
        variant = answer_variant(stamp, request, explain=True, llm=False)
        readers = _readers(session, tenant_id, shard)
        entries = {
            reader.user_pk: cache.lookup_user(tenant_id, user_id, variant) for user_id, reader in readers
        }
        events_of = _events_by_reader(load_events(session, tenant_id))
        for done, (user_id, reader) in enumerate(readers, start=1):
            entry = entries[reader.user_pk]
            if entry.value is not None:
                report.already_cached += 1
            elif _write(session, service, cache, tenant_id, user_id, reader, events_of, entry, request):
                report.written += 1
            if progress is not None and done % 1_000 == 0:
                progress(done, len(readers))
        report.readers = len(readers)
    return report


def _readers(session: Session, tenant_id: int, shard: tuple[int, int]) -> list[tuple[str, Reader]]:
    index, count = shard
    rows = session.execute(
        select(User.external_id, User.lexile, User.guided_reading_level, User.grade, User.interests, User.id)
        .where(User.tenant_id == tenant_id, User.id % count == index)
        .order_by(User.id)
    )
    return [(row[0], Reader(*row[1:])) for row in rows]


def _events_by_reader(events: EventArrays) -> Callable[[int], EventArrays]:
    """Each reader's slice of the tenant's events, read once for all of them."""
    order = np.argsort(events.user, kind="stable")
    users = events.user[order]

    def slice_of(user_pk: int) -> EventArrays:
        start, stop = np.searchsorted(users, [user_pk, user_pk + 1])
        return events.subset(order[start:stop])

    return slice_of


def _write(
    session: Session,
    service: RecommendationService,
    cache: ServingCache,
    tenant_id: int,
    user_id: str,
    reader: Reader,
    events_of: Callable[[int], EventArrays],
    entry: UserEntry,
    request: RecommendationRequest,
) -> bool:
    events = events_of(reader.user_pk or 0)
    served = service.for_reader(session, tenant_id, reader, events, request)
    if served is None:
        return False
    cache.store_user(entry, answer_json(listed(served, user_id, explain=True)))
    return entry.key is not None
