"""Serving: turns a request into arrays for the pipeline and its answer back into catalog rows.

A user's events are read fresh from the store on every request and folded into the serving model
(``model.score(history_row)``), so a new interaction changes the very next recommendation with no
retraining and no per-user state in the process. Catalog attributes librarians edit (copies, staff
picks, levels) are re-read when the items table changes.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from cachetools import TTLCache
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nextread.engine.explain import explain_similar
from nextread.engine.hybrid import ReadingBand, Weights, normalise_scores
from nextread.engine.pipeline import (
    Catalog,
    Recommendation,
    UserContext,
    explain_candidate,
    recommend,
    score_candidates,
)
from nextread.engine.shaping import CandidateFilter
from nextread.freshness import Freshness
from nextread.gc_freeze import freeze_long_lived
from nextread.levels import level_from
from nextread.search.languages import language_key
from nextread.services.registry import ModelRegistry
from nextread.services.training import PROVISIONAL_VERSION, Artifact, item_texts, read_without_liking
from nextread.store.models import Interaction, Item, ModelVersion, User
from nextread.store.reading_data import (
    NOT_CONSUMED,
    EventArrays,
    class_membership,
    load_items,
    load_user_events,
)
from nextread.store.tenant_settings import load_tenant_settings

PEER_COUNTS_SECONDS = 30.0
PEER_COUNTS_ENTRIES = 1_000


def cf_scores(artifact: Artifact, history: sp.csr_matrix, liked: sp.csr_matrix | None) -> np.ndarray | None:
    """The CF model's scores of the catalog for one reader (``None`` without history). ``liked`` is
    given when some history cells are books read without liking them: the model is told which cells
    were liked, as it was at training. A provisional artifact has no CF model: ``None`` too."""
    if not history.nnz or artifact.cf is None:
        return None
    return np.asarray(artifact.cf.score(history, liked=liked)[0])


class ItemCard(NamedTuple):
    """What an answer shows of each recommended item; kept with the served catalog, so a request
    reads no item rows."""

    external_id: str
    title: str
    authors: list[str]
    cover_url: str | None


@dataclass
class ServedCatalog:
    version: int
    trained_at: float
    items_changed_at: object
    catalog: Catalog
    external_ids: list[str]
    present: np.ndarray
    cards: list[ItemCard]

    @property
    def stamp(self) -> str:
        """Model version and catalog state (newest item edit, item count): part of every cache key. A
        provisional artifact is recounted under the same version, so its time is part of it too."""
        provisional = f"@{self.trained_at}" if self.version == PROVISIONAL_VERSION else ""
        return f"{self.version}{provisional}|{self.items_changed_at}"

    def built_from(self, artifact: Artifact) -> bool:
        return (self.version, self.trained_at) == (artifact.version, artifact.trained_at)


@dataclass
class Served:
    """A ranked answer plus the catalog and model version it was computed with."""

    results: list[Recommendation]
    catalog: ServedCatalog
    artifact: Artifact


@dataclass
class ScoredUser:
    """One user's score for every catalog item (NaN = excluded) and the item indices they have read."""

    scores: np.ndarray
    seen: np.ndarray
    catalog: ServedCatalog
    artifact: Artifact


@dataclass
class ItemExplanation:
    """One book for one reader: ``rank`` among the request's candidates (1 = best, before series and
    diversity shaping) or ``None`` with ``excluded_because`` naming the rule that keeps it off the list."""

    recommendation: Recommendation | None
    rank: int | None
    candidates: int
    excluded_because: str | None


@dataclass(frozen=True)
class Reader:
    lexile: int | None = None
    guided_reading_level: str | None = None
    grade: int | None = None
    interests: str | None = None
    user_pk: int | None = None
    level: float | None = None
    """A level already on the grade-equivalent scale (an anonymous reader's "ATOS 3.4"); wins over
    the lexile, letter and grade when given."""


def reader_of(user: User) -> Reader:
    return Reader(user.lexile, user.guided_reading_level, user.grade, user.interests, user.id)


@dataclass
class ReaderState:
    """What every per-reader answer starts from: the model, the served catalog, the reader's context
    and the CF model's scores of the catalog for them."""

    artifact: Artifact
    served: ServedCatalog
    context: UserContext
    cf: np.ndarray | None


@dataclass
class RecommendationRequest:
    n: int = 10
    offset: int = 0
    weights: Weights | None = None
    band: ReadingBand | None = None
    filters: CandidateFilter | None = None
    diversity: float = 0.2


class RecommendationService:
    def __init__(self, registry: ModelRegistry, embed_text: Callable[[str], np.ndarray] | None = None):
        self.registry = registry
        self.embed_text = lru_cache(maxsize=4096)(embed_text) if embed_text else None
        self._catalogs: dict[int, ServedCatalog] = {}
        self._catalog_checks: Freshness[int, ServedCatalog] = Freshness(self._refresh_seconds)
        self._tenant_weights: Freshness[int, Weights] = Freshness(self._refresh_seconds)
        self._peer_counts_cache: Freshness[tuple, np.ndarray] = Freshness(
            lambda: PEER_COUNTS_SECONDS, TTLCache(maxsize=PEER_COUNTS_ENTRIES, ttl=PEER_COUNTS_SECONDS)
        )
        self._lock = threading.Lock()

    def for_user(
        self, session: Session, tenant_id: int, user: User, request: RecommendationRequest
    ) -> Served | None:
        return self.for_reader(
            session, tenant_id, reader_of(user), load_user_events(session, tenant_id, [user.id]), request
        )

    def for_reader(
        self,
        session: Session,
        tenant_id: int,
        reader: Reader,
        events: EventArrays,
        request: RecommendationRequest,
    ) -> Served | None:
        """Recommendations for any reader: a stored user, or an anonymous session described only by
        the books it touched, its interests text and a grade or level (cold start)."""
        artifact = self.registry.ensure(tenant_id)
        if artifact is None:
            return None
        state = self._reader_state(session, artifact, reader, events)
        results = recommend(
            state.served.catalog,
            state.context,
            cf_scores=state.cf,
            weights=request.weights or self.tenant_weights(session, tenant_id),
            band=request.band,
            filters=request.filters,
            n=request.n,
            offset=request.offset,
            mmr_lambda=1.0 - request.diversity,
        )
        return Served(results, state.served, state.artifact)

    def score_user(
        self, session: Session, tenant_id: int, user: User, request: RecommendationRequest
    ) -> ScoredUser | None:
        """Every catalog item's hybrid score for one user (NaN where the request's filters exclude it),
        unshaped and uncut: class lists combine these across students instead of personal top-n pages."""
        artifact = self.registry.ensure(tenant_id)
        if artifact is None:
            return None
        state = self._stored_reader_state(session, artifact, user)
        candidates, total, _ = score_candidates(
            state.served.catalog,
            state.context,
            cf_scores=state.cf,
            weights=request.weights or self.tenant_weights(session, tenant_id),
            band=request.band,
            filters=request.filters,
        )
        scores = np.full(state.served.catalog.n_items, np.nan)
        scores[candidates] = total
        return ScoredUser(scores, state.context.seen, state.served, state.artifact)

    def tenant_weights(self, session: Session, tenant_id: int, recheck: bool = False) -> Weights:
        """The tenant's saved scoring weights (dashboard Settings), used when a request brings none.
        Re-read every ``model_refresh_seconds`` (at once with ``recheck``) so a change reaches every
        process without a restart."""
        hit = None if recheck else self._tenant_weights.fresh(tenant_id)
        if hit is not None:
            return hit.value
        return self._tenant_weights.check(tenant_id, lambda: load_tenant_settings(session, tenant_id).weights)

    def weights_stamp(self, tenant_id: int, session: Session | None = None) -> str | None:
        """A fingerprint of the tenant's saved weights for cache keys, so a saved change is never
        answered from the cache. With a session it is re-read when due; without, it is known only while
        fresh (no I/O), else None."""
        if session is not None:
            self.tenant_weights(session, tenant_id)
        hit = self._tenant_weights.fresh(tenant_id)
        if hit is None:
            return None
        return hashlib.blake2b(hit.value.model_dump_json().encode(), digest_size=6).hexdigest()

    def answer_stamp(self, session: Session, tenant_id: int) -> str | None:
        """Model version, catalog state (newest item edit, item count) and the school's saved weights
        an answer is computed from; part of every cache key, so none of them is ever served stale."""
        artifact = self.registry.ensure(tenant_id)
        if artifact is None:
            return None
        return f"{self.catalog(session, tenant_id, artifact).stamp}|{self.weights_stamp(tenant_id, session)}"

    def forget_tenant_settings(self, tenant_id: int) -> None:
        """Drop this process's copy after a save, so the next request here sees it at once."""
        self._tenant_weights.forget(tenant_id)

    def explain_item(
        self, session: Session, tenant_id: int, user: User, item: Item, request: RecommendationRequest
    ) -> ItemExplanation | None:
        """Why one book is (or is not) on this user's list: the score, components and sentence the list
        would show, its rank among the candidates, and for a book the request's rules exclude (read
        already, no copies, other grades…) the rule, with the book scored as if it were allowed."""
        artifact = self.registry.ensure(tenant_id)
        if artifact is None:
            return None
        column = artifact.item_column.get(item.id)
        if column is None:
            return ItemExplanation(None, None, 0, "added after the current model was trained")
        state = self._stored_reader_state(session, artifact, user)
        filters = request.filters or CandidateFilter()
        band = request.band or ReadingBand()
        score = partial(
            explain_candidate,
            state.served.catalog,
            state.context,
            column,
            cf_scores=state.cf,
            weights=request.weights or self.tenant_weights(session, tenant_id),
        )
        found = score(band=band, filters=filters)
        if found is not None:
            return ItemExplanation(*found, None)
        seen_as = _what_the_reader_did(session, tenant_id, user, item)
        reason = _exclusion(state.served.catalog, state.context, column, filters, band, seen_as)
        relaxed = score(band=band.model_copy(update={"hard": False}), filters=_NO_RULES)
        return ItemExplanation(relaxed[0] if relaxed else None, None, 0, reason)

    def similar_items(self, session: Session, tenant_id: int, item: Item, n: int) -> Served | None:
        """Neighbours of a book: what a one-book history scores highest (collaborative), blended with
        embedding similarity; a book added after training is embedded on the fly, so it has content
        neighbours immediately.

        Only the best ``max(200, 4n)`` of each signal are candidates, so a large catalog costs one index
        query and one partial sort, not a scan; both signals are min-max normalised over the union of
        candidates, which for a catalog that small is the whole catalog, as before."""
        artifact = self.registry.ensure(tenant_id)
        if artifact is None:
            return None
        served = self.catalog(session, tenant_id, artifact)
        column = artifact.item_column.get(item.id)
        size = len(artifact.item_pks)
        depth = min(size, max(200, 4 * n))
        cf = None
        if column is not None and artifact.cf is not None:
            one = sp.csr_matrix(([1.0], ([0], [column])), shape=(1, size))
            cf = np.asarray(artifact.cf.score(one)[0], dtype=np.float64)
        vector = self._item_vector(artifact, item, column)
        index = artifact.index() if vector is not None else None
        parts: list[np.ndarray] = []
        if index is not None:
            parts.append(index.search(vector, depth, exclude=column)[0])
        if cf is not None and depth:
            parts.append(np.argpartition(-cf, depth - 1)[:depth] if depth < size else np.arange(size))
        candidates = np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)
        candidates = candidates[served.present[candidates] & (candidates != column)]
        signals: dict[str, np.ndarray] = {}
        if cf is not None:
            signals["cf"] = normalise_scores(cf[candidates])
        if index is not None:
            signals["semantic"] = normalise_scores(index.vectors[candidates] @ vector)
        # the mean of the signals there are, so a score stays in [0, 1] like every other list's
        scores = sum(signals.values()) / len(signals) if signals else np.zeros(len(candidates))
        order = np.argsort(-scores, kind="stable")[:n]
        picks = []
        for i in order:
            if np.isfinite(scores[i]):
                components = {name: float(values[i]) for name, values in signals.items()}
                reason = explain_similar(components, item.title)
                picks.append(Recommendation(int(candidates[i]), float(scores[i]), components, reason))
        return Served(picks, served, artifact)

    def _item_vector(self, artifact: Artifact, item: Item, column: int | None) -> np.ndarray | None:
        if artifact.embeddings is None:
            return None
        if column is not None:
            return artifact.embeddings[column]
        return self.embed_text(item_texts([item])[0]) if self.embed_text else None

    def warm(self, session: Session) -> None:
        """Load every tenant's newest model and build its served catalog now, before the process takes
        requests. Loaded lazily, a 50k × 10k model and its catalog kept the first requests to a new
        process waiting 1.2–1.5 s, and every request that arrived meanwhile queued behind them. A
        tenant without a trained model is left to its first request."""
        ready = select(ModelVersion.tenant_id).where(ModelVersion.status == "ready").distinct()
        for tenant_id in list(session.scalars(ready)):  # read them all before the catalog queries
            artifact = self.registry.current(tenant_id)
            if artifact is not None:
                self.catalog(session, tenant_id, artifact)

    def fresh_stamp(self, tenant_id: int) -> str | None:
        """The stamp the next request would be served under, when both the model and the catalog were
        checked within ``model_refresh_seconds`` (so no I/O is needed to know it); otherwise None."""
        artifact = self.registry.fresh(tenant_id)
        served = self._catalogs.get(tenant_id)
        if artifact is None or served is None or served.version != artifact.version:
            return None
        if self._catalog_checks.fresh(tenant_id) is None:
            return None
        weights = self.weights_stamp(tenant_id)
        return None if weights is None else f"{served.stamp}|{weights}"

    def checks_due(self, tenant_id: int) -> bool:
        """Whether the model, catalog or saved-weights check is past half of ``model_refresh_seconds``:
        time for :meth:`recheck`, before the check expires and :meth:`fresh_stamp` says None."""
        checks = (self.registry.checks, self._catalog_checks, self._tenant_weights)
        return any(check.due(tenant_id) for check in checks)

    def _refresh_seconds(self) -> float:
        return self.registry.settings.serving.model_refresh_seconds

    def recheck(self, session: Session, tenant_id: int) -> None:
        """Run the model, catalog and saved-weights checks now, all together, so a busy process
        re-checks ahead of expiry instead of sending every request of that moment down the slow path."""
        artifact = self.registry.current(tenant_id, recheck=True)
        if artifact is not None:
            self.catalog(session, tenant_id, artifact, recheck=True)
        self.tenant_weights(session, tenant_id, recheck=True)

    def catalog(
        self, session: Session, tenant_id: int, artifact: Artifact, recheck: bool = False
    ) -> ServedCatalog:
        """The catalog arrays aligned with the artifact's item columns, rebuilt when either changes;
        the catalog's state is re-checked every ``model_refresh_seconds`` (at once with ``recheck``)."""
        served = self._catalogs.get(tenant_id)
        fresh = not recheck and self._catalog_checks.fresh(tenant_id) is not None
        if served is not None and served.built_from(artifact) and fresh:
            return served
        return self._catalog_checks.check(
            tenant_id, partial(self._rebuild_if_changed, session, tenant_id, artifact)
        )

    def _rebuild_if_changed(self, session: Session, tenant_id: int, artifact: Artifact) -> ServedCatalog:
        changed_at = (
            session.scalar(select(func.max(Item.updated_at)).where(Item.tenant_id == tenant_id)),
            session.scalar(select(func.count(Item.id)).where(Item.tenant_id == tenant_id)),
        )
        served = self._catalogs.get(tenant_id)
        if _is_built_for(served, artifact, changed_at):
            return served
        with self._lock:  # one build per change, however many requests arrive meanwhile
            served = self._catalogs.get(tenant_id)
            if not _is_built_for(served, artifact, changed_at):
                served = self._catalogs[tenant_id] = _build_catalog(session, tenant_id, artifact, changed_at)
                freeze_long_lived()  # lives until the next change: out of full GC passes
        return served

    def _stored_reader_state(self, session: Session, artifact: Artifact, user: User) -> ReaderState:
        events = load_user_events(session, artifact.tenant_id, [user.id])
        return self._reader_state(session, artifact, reader_of(user), events)

    def _reader_state(
        self, session: Session, artifact: Artifact, reader: Reader, events: EventArrays
    ) -> ReaderState:
        columns = artifact.item_column
        consumed = [
            columns[pk]
            for pk, kind in zip(events.item.tolist(), events.type, strict=True)
            if pk in columns and kind not in NOT_CONSUMED
        ]
        peers, group_name = (
            class_membership(session, reader.user_pk) if reader.user_pk is not None else ([], None)
        )
        interests = self.embed_text(reader.interests) if self.embed_text and reader.interests else None
        history = artifact.history_matrix(events)
        # The CF input may count books read without liking them; the profile, series and reasons must
        # not, and the CF model is told which cells were liked. Without such an event (the usual case)
        # the two are the same matrix: no second pass.
        read_not_liked = artifact.consumed_weight and read_without_liking(events).any()
        liked = artifact.history_matrix(events, liked_only=True) if read_not_liked else None
        enjoyed = history if liked is None else liked
        context = UserContext(
            level=reader.level
            if reader.level is not None
            else level_from(
                lexile=reader.lexile, guided_reading_level=reader.guided_reading_level, grade=reader.grade
            ),
            grade=reader.grade,
            seen=np.unique(np.array(consumed, dtype=np.intp)),
            enjoyed=enjoyed.indices.astype(np.intp),
            enjoyed_weights=enjoyed.data.astype(np.float64),
            peer_counts=self._peer_counts(session, artifact, peers) if peers else None,
            group_name=group_name,
            interests_embedding=interests,
        )
        served = self.catalog(session, artifact.tenant_id, artifact)
        return ReaderState(artifact, served, context, cf_scores(artifact, history, liked))

    def _peer_counts(self, session: Session, artifact: Artifact, peers: list[int]) -> np.ndarray:
        """How many classmates enjoyed each book (net positive evidence, same weights as training).
        A class's taste moves slowly, so the counts are reused for ``PEER_COUNTS_SECONDS``."""
        key = (artifact.tenant_id, artifact.version, tuple(peers))
        cached = self._peer_counts_cache.fresh(key)
        if cached is not None:
            return cached.value
        return self._peer_counts_cache.check(key, partial(self._count_peers, session, artifact, peers))

    def _count_peers(self, session: Session, artifact: Artifact, peers: list[int]) -> np.ndarray:
        events = load_user_events(session, artifact.tenant_id, peers)
        readers, rows = np.unique(events.user, return_inverse=True)
        matrix = artifact.users_matrix(events, rows, len(readers))
        return np.bincount(matrix.indices, minlength=len(artifact.item_pks)).astype(np.float64)


_NO_RULES = CandidateFilter(exclude_seen=False, available_only=False, grade_appropriate=False)
# The request's rules one at a time, so a librarian hears the first one that excludes the book; the
# first one's reason is what the reader did with the book (:func:`_what_the_reader_did`).
_RULES = (
    (None, {"exclude_seen": True}),
    ("no copies are available", {"available_only": True}),
    ("it is meant for other grades", {"grade_appropriate": True}),
)
# What keeps a book a reader touched off their list, strongest evidence first: a book they only
# dismissed must not be called read.
_SEEN_REASONS = (
    ("finished", "the reader has already read it"),
    ("rating", "the reader has already rated it"),
    ("checkout", "the reader has already borrowed it"),
    ("return", "the reader has already borrowed it"),
    ("abandoned", "the reader started it and gave up"),
    ("dismiss", "the reader dismissed it (not for me)"),
    ("like", "the reader has already liked it"),
)


def _what_the_reader_did(session: Session, tenant_id: int, user: User, item: Item) -> str:
    kinds = set(
        session.scalars(
            select(Interaction.type).where(
                Interaction.tenant_id == tenant_id,
                Interaction.user_id == user.id,
                Interaction.item_id == item.id,
            )
        )
    )
    for kind, reason in _SEEN_REASONS:
        if kind in kinds:
            return reason
    other = sorted(kinds - NOT_CONSUMED)
    return f"the reader already has a {other[0]!r} event for it" if other else "the reader has seen it"


def _exclusion(
    catalog: Catalog,
    context: UserContext,
    column: int,
    filters: CandidateFilter,
    band: ReadingBand,
    seen_as: str,
) -> str:
    if catalog.active is not None and not catalog.active[column]:
        return "it has been removed from the catalog"
    for reason, rule in _RULES:
        applies = getattr(filters, next(iter(rule)))
        if applies and not _NO_RULES.model_copy(update=rule).mask(catalog, context)[column]:
            return reason or seen_as
    level = catalog.levels[column : column + 1]
    if band.hard and context.level is not None and not band.contains(level, context.level)[0]:
        return "it is outside the reader's reading band"
    return "it does not match the requested tags, language or level range"


def _is_built_for(served: ServedCatalog | None, artifact: Artifact, changed_at: object) -> bool:
    """Built from this artifact (a provisional one is rebuilt under the same version) and catalog state."""
    return served is not None and served.built_from(artifact) and served.items_changed_at == changed_at


def _build_catalog(session: Session, tenant_id: int, artifact: Artifact, changed_at: object) -> ServedCatalog:
    by_pk = {item.id: item for item in load_items(session, tenant_id)}
    rows = []
    for pk in artifact.item_pks:
        item = by_pk.get(int(pk))
        rows.append({c.name: getattr(item, c.name) for c in Item.__table__.c} if item else {"title": ""})
    present = np.array([int(pk) in by_pk for pk in artifact.item_pks], dtype=bool)
    catalog = Catalog.from_items(
        rows,
        popularity=artifact.popularity,
        trending=artifact.trending,
        embeddings=artifact.embeddings,
        # "eng", "en-US", "English" are all "en", as a request's language filter is parsed.
        key_language=language_key,
    )
    catalog.active = present
    external_ids = [row.get("external_id") or "" for row in rows]
    cards = [
        ItemCard(external_id, row["title"], row.get("authors") or [], row.get("cover_url"))
        for external_id, row in zip(external_ids, rows, strict=True)
    ]
    return ServedCatalog(
        artifact.version, artifact.trained_at, changed_at, catalog, external_ids, present, cards
    )
