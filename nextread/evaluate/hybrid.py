"""The serving pipeline itself as an offline model, so the numbers we quote are the numbers we serve.

``ServedHybrid`` runs each held-out reader through the steps of :func:`nextread.engine.pipeline.recommend`
— the same candidate filters, [0, 1] components, weighted mean, one-book-per-series and MMR shaping as
``GET /v1/users/{id}/recommendations``, minus the explanations — and turns the served order into scores
for the runner. A users file supplies what serving reads from a reader's record (stated level and
interests, :class:`ReaderProfiles`). What an offline file cannot supply is left out rather than
invented: no classmates (so no social signal), and without a stated level a reader's level is the
median level of what they read, as the recommender infers it for a student with no stated level.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from types import SimpleNamespace
from typing import Any

import numpy as np
import scipy.sparse as sp

from nextread.engine.collaborative import EASE
from nextread.engine.hybrid import Weights, trending
from nextread.engine.pipeline import Catalog, UserContext, rank_and_shape, score_candidates
from nextread.engine.protocol import Recommender, SavedModel
from nextread.engine.ranker import LearnedRanker
from nextread.engine.shaping import CandidateFilter
from nextread.evaluate.metrics import LIST_LENGTH
from nextread.levels import level_from
from nextread.services.training import item_texts

# Seen items are masked by the runner anyway; copies on the shelf today say nothing about past reads.
EVALUATION_FILTER = CandidateFilter(exclude_seen=True, available_only=False)


def catalog_for(item_rows: Sequence[Mapping[str, Any]], embeddings: np.ndarray | None) -> Catalog:
    return Catalog.from_items(list(item_rows), embeddings=embeddings)


def texts_of(item_rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """What the content model reads about each item ("" when nothing): title, authors, tags, description."""
    return item_texts([_as_item(row) for row in item_rows])


def embed_items(item_rows: Sequence[Mapping[str, Any]]) -> np.ndarray | None:
    """MiniLM vectors of what the content model reads about each item; ``None`` when no item has text."""
    texts = texts_of(item_rows)
    return embed_texts(texts) if any(texts) else None


def embed_texts(texts: list[str]) -> np.ndarray:
    """MiniLM vectors (an empty text embeds as a space) from one model per process: items and
    readers' interests are embedded by the same model, loaded once (loading takes seconds)."""
    return _local_embedder().embed([text or " " for text in texts])


@cache
def _local_embedder() -> Any:
    from nextread.embed.select import LocalEmbedder

    return LocalEmbedder()


def _as_item(row: Mapping[str, Any]) -> SimpleNamespace:
    return SimpleNamespace(**{key: row.get(key) for key in ("title", "authors", "tags", "description")})


@dataclass(frozen=True)
class ReaderProfiles:
    """What the users file states about each user index, as serving reads it from the user record:
    a level on the grade scale (NaN: not stated) and the interests text's embedding (a zero row: none).
    Profile fields are not interactions, so the protocol's held-out users keep theirs."""

    levels: np.ndarray
    interests: np.ndarray | None

    def level(self, user: int) -> float | None:
        return None if np.isnan(self.levels[user]) else float(self.levels[user])

    def interests_of(self, user: int) -> np.ndarray | None:
        if self.interests is None or not self.interests[user].any():
            return None
        return self.interests[user]


def reader_profiles(user_rows: Sequence[Mapping[str, Any]], with_interests: bool) -> ReaderProfiles | None:
    """Profiles from the users file's rows; ``None`` when no row states a level or interests.
    Interests are embedded (by the same local model as the items) only when the items have text."""
    levels = np.array([_stated_level(row) for row in user_rows], dtype=np.float64)
    texts = [str(row.get("interests") or "") for row in user_rows]
    interests = None
    if with_interests and any(texts):
        vectors = embed_texts(texts)
        interests = np.where(np.array([bool(text) for text in texts])[:, None], vectors, 0.0)
    if np.isnan(levels).all() and interests is None:
        return None
    return ReaderProfiles(levels, interests)


def _stated_level(row: Mapping[str, Any]) -> float:
    letter = row.get("guided_reading_level")
    level = level_from(row.get("lexile"), None if letter is None else str(letter), row.get("grade"))
    return np.nan if level is None else level


class ServedHybrid:
    """A CF model (EASE/EDLAE, by default under the learned ranker) fitted on the training matrix,
    then every reader ranked by the serving pipeline with ``weights``. ``now_year`` pins "today" for
    the recency signal to the data's end. ``times`` holds each pair's event time (the dataset's
    pattern); only the times of the pairs in the training matrix are read, so the trending signal
    never sees past a split's cutoff.

    What a reader consumed without liking it enters the CF input at ``consumed_weight`` (a liked item
    is 1), as a rating of any value enters serving's: having read a book says what else they might
    read. It is never "enjoyed" (no profile, series or explanation built on it) and always seen.

    It is a :class:`~nextread.engine.protocol.Recommender` like the peers it is compared with; ``fit``
    and ``score`` also take the rows' ``consumed`` cells and ``users`` (``liked`` is unused: every cell
    of ``interactions`` is liked here). Similar items, saving and warming up are the CF model's, the
    one part a training stores (the catalog and weights are inputs)."""

    reads_consumed = True
    reads_profiles = True

    def __init__(
        self,
        catalog: Catalog,
        cf: Recommender,
        weights: Weights,
        now_year: float,
        diversity: float = 0.2,
        depth: int = LIST_LENGTH,
        times: sp.csr_matrix | None = None,
        trending_half_life_days: float = 14.0,
        consumed_weight: float = 0.0,
        profiles: ReaderProfiles | None = None,
    ):
        self.catalog, self.cf, self.weights, self.now_year = catalog, cf, weights, now_year
        self.mmr_lambda, self.depth = 1.0 - diversity, depth
        self.times, self.trending_half_life_days = times, trending_half_life_days
        self.consumed_weight = consumed_weight
        self.profiles = profiles

    def _cf_input(self, liked: sp.csr_matrix, consumed: sp.csr_matrix | None) -> sp.csr_matrix:
        if consumed is None or not self.consumed_weight:
            return liked
        return (liked + self.consumed_weight * consumed).tocsr()

    def fit(
        self,
        interactions: sp.csr_matrix,
        consumed: sp.csr_matrix | None = None,
        *,
        liked: sp.csr_matrix | None = None,
    ) -> ServedHybrid:
        self.cf.fit(self._cf_input(interactions, consumed), liked=interactions)
        self.n_items = interactions.shape[1]
        # What training stores in the artifact: readers per item (level-band popularity) and, from the
        # event times, the time-decayed positives (trending).
        self.catalog.popularity = np.asarray((interactions > 0).sum(axis=0), dtype=np.float64).ravel()
        self.catalog.trending = None
        if self.times is not None:
            pairs = self.times.multiply(interactions > 0).tocoo()
            self.catalog.trending = trending(
                pairs.col, pairs.data, interactions.shape[1], self.trending_half_life_days
            )
        return self

    def score(
        self,
        history: sp.csr_matrix,
        consumed: sp.csr_matrix | None = None,
        users: np.ndarray | None = None,
        *,
        liked: sp.csr_matrix | None = None,
    ) -> np.ndarray:
        """The served list as scores: first item highest, items not served −inf. ``users`` (the rows'
        user indices) lets the stated profiles in."""
        history = history.tocsr()
        consumed = sp.csr_matrix(history.shape) if consumed is None else consumed.tocsr()
        cf_input = self._cf_input(history, consumed)
        cf_scores = np.asarray(self.cf.score(cf_input, liked=history), dtype=np.float64)
        scores = np.full(history.shape, -np.inf)
        for row in range(history.shape[0]):
            liked = history.indices[history.indptr[row] : history.indptr[row + 1]]
            had = consumed.indices[consumed.indptr[row] : consumed.indptr[row + 1]]
            user = None if users is None else int(users[row])
            served = self._served(liked, had, cf_scores[row], user)
            scores[row, served] = np.arange(len(served), 0, -1, dtype=np.float64)
        return scores

    def similar_items(self, item_index: int, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        return self.cf.similar_items(item_index, n)

    def save(self) -> SavedModel:
        return self.cf.save()

    def warm_up(self) -> None:
        self.cf.warm_up()

    def _served(
        self, items: np.ndarray, consumed: np.ndarray, cf_row: np.ndarray, user_index: int | None
    ) -> np.ndarray:
        level, interests = None, None
        if self.profiles is not None and user_index is not None:
            level, interests = self.profiles.level(user_index), self.profiles.interests_of(user_index)
        if level is None:  # as the recommender infers it for a student with no stated level
            levels = self.catalog.levels[items]
            known = levels[~np.isnan(levels)]
            level = float(np.median(known)) if known.size else None
        user = UserContext(
            level=level,
            seen=np.union1d(items, consumed).astype(np.intp),
            enjoyed=items.astype(np.intp),
            interests_embedding=interests,
        )
        candidates, total, _ = score_candidates(
            self.catalog,
            user,
            cf_scores=cf_row,
            weights=self.weights,
            filters=EVALUATION_FILTER,
            now_year=self.now_year,
        )
        if not len(candidates):
            return candidates
        return rank_and_shape(self.catalog, candidates, total, self.depth, self.mmr_lambda)


def served_hybrid_factory(  # type: ignore[no-untyped-def]
    catalog: Catalog,
    now_year: float,
    times: sp.csr_matrix | None = None,
    profiles: ReaderProfiles | None = None,
):
    """A runner factory: CF hyperparameters, the trending half-life and hybrid weights are all tuning
    parameters. The CF model is EASE/EDLAE under the learned ranking stage, as served by default."""

    def build(
        l2: float,
        dropout: float = 0.0,
        diversity: float = 0.2,
        trending_half_life_days: float = 14.0,
        consumed_weight: float = 0.0,
        seed: int = 0,
        **weights: float,
    ) -> ServedHybrid:
        return ServedHybrid(
            catalog,
            LearnedRanker(EASE(l2, dropout=dropout), seed=seed),
            Weights(**weights),
            now_year,
            diversity,
            times=times,
            trending_half_life_days=trending_half_life_days,
            consumed_weight=consumed_weight,
            profiles=profiles,
        )

    return build
