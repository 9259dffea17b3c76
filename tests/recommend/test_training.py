"""Interaction weighting and the training pipeline against a real store."""

from __future__ import annotations

import numpy as np

from nextread.config import Settings
from nextread.engine.collaborative import EASE
from nextread.engine.ranker import LearnedRanker
from nextread.schemas import InteractionIn, ItemIn
from nextread.services.training import (
    Artifact,
    event_weights,
    load_artifact,
    read_without_liking,
    train_tenant,
    weighted_matrix,
)
from nextread.store.db import session_scope
from nextread.store.reading_data import EventArrays
from nextread.store.tenants import ensure_tenant
from nextread.store.writes import upsert_items, write_interactions
from tests.conftest import Database

DAY = 86_400.0
WEIGHTS = {"checkout": 3.0, "rating": 4.0, "abandoned": -2.0, "view": 0.5}


def _events(types: list[str], values: list[float | None], ages_days: list[float], now: float) -> EventArrays:
    n = len(types)
    return EventArrays(
        user=np.zeros(n, dtype=np.int64),
        item=np.arange(n, dtype=np.int64),
        type=np.array(types, dtype=object),
        value=np.array([np.nan if v is None else v for v in values]),
        timestamp=np.array([now - age * DAY for age in ages_days]),
    )


def test_event_weights_by_type_rating_and_half_life() -> None:
    now = 1_800_000_000.0
    events = _events(
        ["checkout", "checkout", "rating", "rating", "custom"],
        [None, None, 5, 1, None],
        [0, 45, 0, 0, 0],
        now,
    )
    weights = event_weights(events, WEIGHTS, half_life_days=45, now=now)
    assert np.allclose(weights, [3.0, 1.5, 4.0, -4.0, 0.0])
    # A low rating as evidence of reading: a share of the rating weight, liked ratings unchanged.
    weights = event_weights(events, WEIGHTS, half_life_days=45, now=now, consumed_weight=0.25)
    assert np.allclose(weights, [3.0, 1.5, 4.0, 1.0, 0.0])


def test_negative_evidence_removes_the_cell() -> None:
    rows = np.array([0, 0, 0, 1])
    columns = np.array([0, 0, 1, 1])
    matrix = weighted_matrix(rows, columns, np.array([3.0, -4.0, 2.0, 0.5]), (2, 2))
    assert matrix.toarray().tolist() == [[0.0, 2.0], [0.0, 0.5]]
    assert matrix.nnz == 3 - 1


def test_train_registers_a_loadable_version(database: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path, database_url=database.url)
    with session_scope(database.sessions) as session:
        tenant_id = ensure_tenant(session, "school").id
        upsert_items(session, tenant_id, [ItemIn(id=f"bk-{n}", title=f"Book {n}") for n in range(4)])
        write_interactions(
            session,
            tenant_id,
            [
                InteractionIn(user_id=f"st-{u}", item_id=f"bk-{i}", type="checkout")
                for u in range(3)
                for i in range(3)
            ],
        )
    first = train_tenant(database.sessions, tenant_id, settings)
    second = train_tenant(database.sessions, tenant_id, settings)
    assert (first.version, second.version) == (1, 2)
    assert (second.n_users, second.n_items, second.n_interactions) == (3, 4, 9)
    artifact = load_artifact(tmp_path / second.path)
    assert artifact.version == 2
    assert artifact.embeddings is not None and artifact.embeddings.shape == (4, 384)
    assert artifact.popularity.tolist() == [3.0, 3.0, 3.0, 0.0]
    # Events a moment apart: each checkout counts ~1 in the trending signal, unread books 0.
    np.testing.assert_allclose(artifact.trending, [3.0, 3.0, 3.0, 0.0], atol=1e-3)
    assert first.params["items_re_embedded"] == 4
    assert second.params["items_re_embedded"] == 0  # vectors kept with the items, text unchanged


def _two_reading_circles(database: Database) -> int:
    """300 readers (enough for the ranker to learn): even ones read books 0–11, odd ones 12–23, eight
    each."""
    rng = np.random.default_rng(0)
    with session_scope(database.sessions) as session:
        tenant_id = ensure_tenant(session, "school").id
        upsert_items(session, tenant_id, [ItemIn(id=f"bk-{n}", title=f"Book {n}") for n in range(24)])
        rows = [
            InteractionIn(user_id=f"st-{u}", item_id=f"bk-{12 * (u % 2) + i}", type="checkout")
            for u in range(300)
            for i in rng.choice(12, 8, replace=False)
        ]
        write_interactions(session, tenant_id, rows)
    return tenant_id


def test_training_learns_the_ranker_unless_it_is_switched_off(database: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    tenant_id = _two_reading_circles(database)
    settings = Settings(data_dir=tmp_path, database_url=database.url)
    version = train_tenant(database.sessions, tenant_id, settings)
    artifact = load_artifact(tmp_path / version.path)
    assert isinstance(artifact.cf, LearnedRanker) and artifact.cf.booster is not None
    assert (version.params["cf_model"], version.params["ranker_learned"]) == ("LearnedRanker", True)
    reader = artifact.history_matrix(
        EventArrays(
            user=np.zeros(3, dtype=np.int64),
            item=np.array([artifact.item_pks[0], artifact.item_pks[1], artifact.item_pks[2]]),
            type=np.array(["checkout"] * 3, dtype=object),
            value=np.full(3, np.nan),
            timestamp=np.full(3, 1_800_000_000.0),
        )
    )
    scores = artifact.cf.score(reader)[0]
    scores[reader.indices] = -np.inf
    assert set(np.argsort(-scores)[:5]) <= set(range(12))  # the reader's own circle first

    plain = Settings(data_dir=tmp_path, database_url=database.url, learned_ranker=False)
    version = train_tenant(database.sessions, tenant_id, plain)
    assert isinstance(load_artifact(tmp_path / version.path).cf, EASE)
    assert (version.params["cf_model"], version.params["ranker_learned"]) == ("EASE", False)


def test_retraining_re_embeds_only_changed_items(database: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path, database_url=database.url)
    books = [ItemIn(id=f"bk-{n}", title=f"Book {n}", description="A dragon tale.") for n in range(3)]
    with session_scope(database.sessions) as session:
        tenant_id = ensure_tenant(session, "school").id
        upsert_items(session, tenant_id, books)
        write_interactions(
            session, tenant_id, [InteractionIn(user_id="st-1", item_id="bk-0", type="checkout")]
        )
    first = load_artifact(tmp_path / train_tenant(database.sessions, tenant_id, settings).path)
    with session_scope(database.sessions) as session:
        changed = books[1].model_copy(update={"description": "A story about the solar system."})
        upsert_items(session, tenant_id, [changed, ItemIn(id="bk-3", title="Book 3")])
    version = train_tenant(database.sessions, tenant_id, settings)
    second = load_artifact(tmp_path / version.path)
    assert version.params["items_re_embedded"] == 2  # the edited book and the new one
    assert np.allclose(second.embeddings[[0, 2]], first.embeddings[[0, 2]])
    assert not np.allclose(second.embeddings[1], first.embeddings[1])
    assert abs(float(np.linalg.norm(second.embeddings[3])) - 1.0) < 1e-4


def test_one_reader_history_has_the_cells_training_would_give() -> None:
    """The per-request fast path and the training path agree: sums per book, books whose evidence
    nets out negative dropped, books unknown to the model ignored."""
    artifact = Artifact(1, 1, 0.0, np.array([10, 11, 12]), WEIGHTS, 45.0, None, np.zeros(3))
    now = 1_800_000_000.0
    events = EventArrays(
        user=np.zeros(6, dtype=np.int64),
        item=np.array([10, 10, 11, 11, 12, 99]),
        type=np.array(["checkout", "view", "view", "abandoned", "rating", "checkout"], dtype=object),
        value=np.array([np.nan, np.nan, np.nan, np.nan, 5.0, np.nan]),
        timestamp=np.full(6, now),
    )
    fast = artifact.history_matrix(events, now=now)
    assert fast.toarray().tolist() == [[3.5, 0.0, 4.0]]
    rows = np.zeros(len(events), dtype=np.int64)
    assert (fast != artifact.users_matrix(events, rows, 1, now=now)).nnz == 0


def test_a_book_read_without_liking_it_feeds_cf_but_is_not_enjoyed() -> None:
    artifact = Artifact(1, 1, 0.0, np.array([10, 11]), WEIGHTS, 45.0, None, np.zeros(2), consumed_weight=0.25)
    now = 1_800_000_000.0
    events = EventArrays(
        user=np.zeros(3, dtype=np.int64),
        item=np.array([10, 11, 11]),
        type=np.array(["rating", "checkout", "rating"], dtype=object),
        value=np.array([2.0, np.nan, 1.0]),
        timestamp=np.full(3, now),
    )
    assert read_without_liking(events).tolist() == [True, False, True]
    assert artifact.history_matrix(events, now=now).toarray().tolist() == [[1.0, 4.0]]
    # liked: the 2-star book is no evidence, the 1-star rating cancels the checkout
    assert artifact.history_matrix(events, now=now, liked_only=True).nnz == 0
    assert artifact.users_matrix(events, np.zeros(3, dtype=np.int64), 1, now=now).nnz == 0


def test_events_come_back_with_their_exact_epoch_seconds(database: Database) -> None:
    """The database computes epoch seconds (julianday on SQLite, EXTRACT on PostgreSQL)."""
    from datetime import UTC, datetime

    from nextread.store.reading_data import load_events, load_user_events

    moments = [
        datetime(2024, 3, 1, 10, 0, 0, 250_000, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
    ]
    with session_scope(database.sessions) as session:
        tenant_id = ensure_tenant(session, "school").id
        upsert_items(session, tenant_id, [ItemIn(id="bk-1", title="Book")])
        write_interactions(
            session,
            tenant_id,
            [InteractionIn(user_id="st-1", item_id="bk-1", type="checkout", timestamp=at) for at in moments],
        )
        events = load_events(session, tenant_id)
        one_user = load_user_events(session, tenant_id, [int(events.user[0])])
    expected = sorted(at.timestamp() for at in moments)
    np.testing.assert_allclose(sorted(events.timestamp), expected, rtol=0, atol=1e-3)
    np.testing.assert_allclose(sorted(one_user.timestamp), expected, rtol=0, atol=1e-3)
