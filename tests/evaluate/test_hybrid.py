"""The evaluated default is the served pipeline: same order as ``recommend()``, seen items never back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from nextread.engine.collaborative import EASE
from nextread.engine.hybrid import Weights
from nextread.engine.pipeline import UserContext, recommend
from nextread.engine.ranker import LearnedRanker
from nextread.evaluate.data import InteractionData, from_arrays, load_interactions
from nextread.evaluate.hybrid import (
    EVALUATION_FILTER,
    ReaderProfiles,
    ServedHybrid,
    catalog_for,
    reader_profiles,
)
from nextread.evaluate.models import DEFAULT_MODEL, UNCONSTRAINED_MODEL, select
from nextread.levels import level_from

# Two taste clusters of four books; levels rise with the index; books 2 and 3 are one series.
ROWS = [
    {"title": f"Book {i}", "lexile": 200 + 60 * i, "tags": ["dragons" if i < 4 else "space"]}
    for i in range(8)
]
ROWS[2] |= {"series_name": "Scorch", "series_position": 1}
ROWS[3] |= {"series_name": "Scorch", "series_position": 2}
TRAIN = sp.csr_matrix(
    np.array(
        [
            [1, 1, 1, 0, 0, 0, 0, 0],
            [0, 1, 1, 1, 0, 0, 0, 0],
            [0, 0, 0, 0, 1, 1, 1, 0],
            [0, 0, 0, 0, 0, 1, 1, 1],
        ]
    ),
    dtype=np.float32,
)


def served_model() -> ServedHybrid:
    return ServedHybrid(catalog_for(ROWS, None), EASE(l2=1.0), Weights(), now_year=2026.0).fit(TRAIN)


def test_scores_follow_the_served_order_and_never_return_seen_items() -> None:
    model = served_model()
    history = sp.csr_matrix(np.array([[1, 1, 0, 0, 0, 0, 0, 0]], dtype=np.float32))
    scores = model.score(history)[0]
    served = recommend(
        model.catalog,
        UserContext(
            level=float(np.median(model.catalog.levels[[0, 1]])),
            seen=np.array([0, 1]),
            enjoyed=np.array([0, 1]),
        ),
        cf_scores=model.cf.score(history)[0],
        weights=Weights(),
        filters=EVALUATION_FILTER,
        n=8,
        mmr_lambda=model.mmr_lambda,
        now_year=2026.0,
    )
    order = [int(i) for i in np.argsort(-scores, kind="stable") if np.isfinite(scores[i])]
    assert order == [r.item_index for r in served]
    assert np.isneginf(scores[[0, 1]]).all()
    assert order[0] == 2  # the dragon book the CF model links to what was read, first in its series


def test_weights_change_the_ranking() -> None:
    history = sp.csr_matrix(np.array([[0, 0, 0, 0, 1, 0, 0, 0]], dtype=np.float32))
    cf_only = ServedHybrid(
        catalog_for(ROWS, None), EASE(l2=1.0), Weights(reading_match=0, rating=0, recency=0, series=0), 2026.0
    ).fit(TRAIN)
    level_only = ServedHybrid(
        catalog_for(ROWS, None), EASE(l2=1.0), Weights(cf=0, rating=0, recency=0, series=0), 2026.0
    ).fit(TRAIN)
    assert np.argmax(cf_only.score(history)[0]) in {5, 6}
    assert np.argmax(level_only.score(history)[0]) in {3, 5}  # nearest levels to book 4's


def test_trending_reads_only_the_times_of_training_pairs() -> None:
    day = 86_400.0
    times = TRAIN.copy().astype(np.float64)
    times.data[:] = 10 * day
    times[0, 0] = 30 * day  # the newest pair: book 0 is what readers took up lately
    model = ServedHybrid(
        catalog_for(ROWS, None), EASE(l2=1.0), Weights(), 2026.0, times=times, trending_half_life_days=20.0
    )
    model.fit(TRAIN)
    assert model.catalog.trending is not None
    assert model.catalog.trending[0] == 1.0 and model.catalog.trending[1] == 2 * 0.5
    without_first_reader = TRAIN.tolil()
    without_first_reader[0] = 0
    model.fit(without_first_reader.tocsr())
    # Book 0's only event is gone from training, so it counts nothing; the rest are now the newest.
    assert model.catalog.trending[0] == 0.0 and model.catalog.trending[1] == 1.0


def test_items_file_gives_the_default_its_catalog(tmp_path: Path) -> None:
    interactions = tmp_path / "events.jsonl"
    items = tmp_path / "items.jsonl"
    events = [
        {
            "user": f"u{u}",
            "item": f"b{(u + k) % 8}",
            "type": "checkout",
            "timestamp": 1_700_000_000 + 3600 * k,
        }
        for u in range(12)
        for k in range(6)
    ]
    interactions.write_text("\n".join(json.dumps(e) for e in events))
    items.write_text("\n".join(json.dumps({"id": f"b{i}", **row}) for i, row in enumerate(ROWS[:7])))
    data = load_interactions(interactions, items_path=items)
    assert data.item_rows is not None
    assert [row.get("title") for row in data.item_rows] == [f"Book {i}" for i in range(7)] + [None]
    factories, grids = select(data, [DEFAULT_MODEL, UNCONSTRAINED_MODEL])
    assert "reading_match" in grids[DEFAULT_MODEL]
    unconstrained = factories[UNCONSTRAINED_MODEL](l2=100.0, semantic=0.0, rating=0.1)
    assert unconstrained.weights.reading_match == 0.0


def test_consumed_items_feed_the_cf_input_but_are_never_served() -> None:
    history = sp.csr_matrix(np.array([[1, 0, 0, 0, 0, 0, 0, 0]], dtype=np.float32))
    consumed = sp.csr_matrix(np.array([[0, 0, 0, 0, 0, 1, 1, 0]], dtype=np.float32))
    weights = Weights(cf=1.0, reading_match=0.0, rating=0.0, social=0.0, recency=0.0)
    plain = served_model_with(weights, consumed_weight=0.0)
    reading = served_model_with(weights, consumed_weight=1.0)
    ignored, used = plain.score(history, consumed)[0], reading.score(history, consumed)[0]
    assert np.isneginf(ignored[[0, 5, 6]]).all() and np.isneginf(used[[0, 5, 6]]).all()
    # the space books read without liking pull their neighbours (4, 7) up only when they are read
    assert max(used[4], used[7]) > max(ignored[4], ignored[7])


def served_model_with(weights: Weights, consumed_weight: float) -> ServedHybrid:
    model = ServedHybrid(
        catalog_for(ROWS, None), EASE(l2=1.0), weights, now_year=2026.0, consumed_weight=consumed_weight
    )
    return model.fit(TRAIN)


def test_the_default_ranks_with_the_learned_ranker_taught_only_by_liked_pairs() -> None:
    """300 readers like five books of their circle of eight; each also had two books of the other
    circle without liking them. The ranker's labels come from the liked pairs alone."""
    rng = np.random.default_rng(0)
    liked, consumed = np.zeros((300, 16), np.float32), np.zeros((300, 16), np.float32)
    for reader in range(300):
        circle = 0 if reader % 2 == 0 else 8
        liked[reader, circle + rng.choice(8, 5, replace=False)] = 1.0
        consumed[reader, (8 - circle) + rng.choice(8, 2, replace=False)] = 1.0
    factories, _ = select(load_interactions_of(liked), [DEFAULT_MODEL])
    model = factories[DEFAULT_MODEL](l2=1.0, consumed_weight=0.5, seed=0)
    assert isinstance(model.cf, LearnedRanker)
    model.fit(sp.csr_matrix(liked), consumed=sp.csr_matrix(consumed))
    assert model.cf.booster is not None
    np.testing.assert_array_equal(model.cf.generators.likers, liked.sum(axis=0))
    np.testing.assert_array_equal(model.cf.generators.readers, ((liked + consumed) > 0).sum(axis=0))


def load_interactions_of(matrix: np.ndarray) -> InteractionData:
    rows, columns = np.nonzero(matrix)
    return from_arrays(rows.astype(str), columns.astype(str), min_user_positives=1, name="circles")


def test_a_stated_level_replaces_the_inferred_one_and_interests_enter_the_profile() -> None:
    """As serving reads the user record: the level the users file states (here far above what the
    reader read), and the interests text's embedding, which pulls the profile toward its items."""
    embeddings = np.zeros((8, 2), dtype=np.float32)
    embeddings[:4] = [1.0, 0.0]  # dragon books
    embeddings[4:] = [0.6, 0.8]  # space books: somewhat like them
    stated = ReaderProfiles(
        levels=np.array([np.nan, level_from(lexile=620)]), interests=np.array([[0.0, 0.0], [0.0, 1.0]])
    )
    weights = Weights(cf=0, reading_match=1, semantic=0, rating=0, recency=0, series=0, staff_pick=0)
    history = sp.csr_matrix(np.array([[1, 0, 0, 0, 0, 0, 0, 0]] * 2, dtype=np.float32))

    def top(model: ServedHybrid) -> list[int]:
        return [int(np.argmax(row)) for row in model.score(history, users=np.array([0, 1]))]

    level_only = ServedHybrid(catalog_for(ROWS, embeddings), EASE(l2=1.0), weights, 2026.0, profiles=stated)
    assert top(level_only.fit(TRAIN)) == [1, 7]  # inferred: next to book 0; stated: Lexile 620 = book 7
    interests_only = ServedHybrid(
        catalog_for(ROWS, embeddings),
        EASE(l2=1.0),
        weights.merged({"reading_match": 0, "semantic": 1}),
        2026.0,
        profiles=ReaderProfiles(np.full(2, np.nan), stated.interests),
    ).fit(TRAIN)
    scores = interests_only.score(history, users=np.array([0, 1]))
    # A dragon book alone makes a dragon profile; the space fan's interests tip theirs toward space.
    assert np.argmax(scores[0]) < 4 <= np.argmax(scores[1])


def test_users_file_profiles_reach_the_default(tmp_path: Path) -> None:
    interactions = tmp_path / "events.csv"
    users = tmp_path / "users.csv"
    interactions.write_text(
        "user,item,type\n" + "".join(f"u{u},b{(u + k) % 8},checkout\n" for u in range(12) for k in range(6))
    )
    users.write_text('User-ID,Favorite Genres,Lexile\nu1,"space|robots",640\nu3,,\nu99,dragons,300\n')
    data = load_interactions(interactions, users_path=users)
    assert data.user_rows is not None
    by_user = dict(zip(data.user_ids.tolist(), data.user_rows, strict=True))
    assert by_user["u1"] == {"interests": "space|robots", "lexile": 640.0}
    assert by_user["u3"] == {} and by_user["u0"] == {}
    profiles = reader_profiles(data.user_rows, with_interests=False)
    assert profiles is not None and profiles.interests is None
    assert profiles.level(list(data.user_ids).index("u1")) == level_from(lexile=640)
