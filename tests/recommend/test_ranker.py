"""The learned ranking stage on small matrices whose right answer is known."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp

from nextread.engine import ranker as ranker_module
from nextread.engine.collaborative import EASE
from nextread.engine.models import restore_model
from nextread.engine.ranker import FEATURES, HEAD, LearnedRanker, random_target_mask
from nextread.services.recommend import Reader, RecommendationService, cf_scores
from nextread.services.training import Artifact
from nextread.store.reading_data import EventArrays

CLUSTER, DECOYS = range(0, 25), range(50, 60)


def _readers(rng: np.random.Generator, n: int = 300) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Half the readers like books of cluster 0–24, half of 25–49; everyone also had four of the
    ten decoys (50–59) without liking them. Returns (CF input with decoys at 0.25, liked only)."""
    liked, had = np.zeros((n, 60), np.float32), np.zeros((n, 60), np.float32)
    for reader in range(n):
        first = 0 if reader % 2 == 0 else 25
        liked[reader, first + rng.choice(25, 8, replace=False)] = 1.0
        had[reader, 50 + rng.choice(10, 4, replace=False)] = 0.25
    return sp.csr_matrix(liked + had), sp.csr_matrix(liked)


def _new_reader() -> sp.csr_matrix:
    history = np.zeros((1, 60), np.float32)
    history[0, [0, 1, 2, 3, 4, 5]] = 1.0
    history[0, [50, 51]] = 0.25
    return sp.csr_matrix(history)


def _liked_part(history: sp.csr_matrix) -> sp.csr_matrix:
    liked = history.multiply(history >= 1.0).tocsr()
    liked.eliminate_zeros()
    return liked


def test_the_ranker_learns_that_books_everyone_had_but_nobody_liked_are_no_recommendation() -> None:
    cf_input, liked = _readers(np.random.default_rng(0))
    plain = np.asarray(EASE(l2=10.0).fit(cf_input).score(_new_reader()))[0]
    plain[[0, 1, 2, 3, 4, 5, 50, 51]] = -np.inf
    assert set(np.argsort(-plain)[:5]) & set(DECOYS), "the test needs CF alone to rank decoys high"

    ranker = LearnedRanker(EASE(l2=10.0), seed=0).fit(cf_input, liked=liked)
    assert ranker.booster is not None
    scores = ranker.score(_new_reader())[0]
    scores[[0, 1, 2, 3, 4, 5, 50, 51]] = -np.inf
    top = np.argsort(-scores)[:5]
    assert set(top) <= set(CLUSTER)


def test_the_ranker_only_reorders_the_head_keeping_the_cf_values() -> None:
    cf_input, liked = _readers(np.random.default_rng(1))
    ranker = LearnedRanker(EASE(l2=10.0), seed=0).fit(cf_input, liked=liked)
    history = _new_reader()
    cf = np.asarray(ranker.generators.cf.score(history), dtype=np.float64)[0]
    scores = ranker.score(history)[0]
    np.testing.assert_array_equal(scores[history.indices], cf[history.indices])  # no candidates
    unseen = np.setdiff1d(np.arange(60), history.indices)
    np.testing.assert_array_equal(np.sort(scores[unseen]), np.sort(cf[unseen]))  # same values
    assert not np.array_equal(scores[unseen], cf[unseen])  # handed out in another order
    assert len(unseen) <= HEAD  # so every unseen book is in the head here


def test_with_too_few_readers_to_learn_from_the_cf_scores_pass_through() -> None:
    cf_input, liked = _readers(np.random.default_rng(2), n=12)
    ranker = LearnedRanker(EASE(l2=10.0), seed=0).fit(cf_input, liked=liked)
    assert ranker.booster is None
    expected = EASE(l2=10.0).fit(cf_input).score(_new_reader())
    np.testing.assert_allclose(ranker.score(_new_reader()), expected, rtol=1e-6)


def test_a_saved_ranker_restored_scores_the_same() -> None:
    cf_input, liked = _readers(np.random.default_rng(3))
    ranker = LearnedRanker(EASE(l2=10.0), seed=0).fit(cf_input, liked=liked)
    restored = restore_model(ranker.save())
    assert isinstance(restored, LearnedRanker) and restored.generators.liked_cf is not restored.cf
    history = _new_reader()
    np.testing.assert_array_equal(
        restored.score(history, liked=_liked_part(history)), ranker.score(history, liked=_liked_part(history))
    )
    np.testing.assert_array_equal(restored.score(cf_input[:50]), ranker.score(cf_input[:50]))


def test_one_readers_head_goes_through_the_compiled_trees_with_lightgbms_output(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cf_input, liked = _readers(np.random.default_rng(4))
    ranker = LearnedRanker(EASE(l2=10.0), seed=0).fit(cf_input, liked=liked)
    _, features, _, _ = ranker.generators.features(cf_input[:40], liked[:40])
    rows = features.reshape(-1, features.shape[-1])
    one_reader = rows[: min(HEAD, len(rows) // 40)]
    np.testing.assert_allclose(
        ranker.compiled_trees().predict(one_reader, n_jobs=1), ranker.booster.predict(one_reader), rtol=1e-12
    )
    compiled = ranker.compiled_trees()
    assert ranker.compiled_trees() is compiled  # compiled once per process
    restored = restore_model(ranker.save())
    assert restored._compiled is None  # machine code for this CPU is never saved
    restored.warm_up()
    assert restored._compiled is not None
    expected = ranker.score(_new_reader())

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("one reader's request went to LightGBM's predict")

    monkeypatch.setattr(restored.booster, "predict", refuse)
    np.testing.assert_array_equal(restored.score(_new_reader()), expected)


def test_hidden_targets_are_a_fifth_of_each_row_at_least_one_never_all() -> None:
    rows = sp.csr_matrix(np.array([[1, 1, 1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0, 0, 0, 0, 0]]))
    mask = random_target_mask(rows, 0.2, np.random.default_rng(0))
    per_row = np.bincount(np.repeat([0, 1], np.diff(rows.indptr)), weights=mask)
    assert per_row.tolist() == [2.0, 1.0]


def test_the_liked_only_twin_learns_from_liked_cells_under_a_ridge_shrunk_by_their_share() -> None:
    cf_input, liked = _readers(np.random.default_rng(4))
    ranker = LearnedRanker(EASE(l2=10.0), seed=0).fit(cf_input, liked=liked)
    twin = ranker.generators.liked_cf
    assert twin is not ranker.generators.cf
    share = liked.nnz / cf_input.nnz  # 8 liked of 12 cells per reader
    assert twin.l2 == pytest.approx(10.0 * share)
    reader = _liked_part(_new_reader())
    np.testing.assert_allclose(twin.score(reader), EASE(l2=10.0 * share).fit(liked).score(reader), rtol=1e-5)


def test_when_every_cell_is_liked_the_cf_model_is_its_own_twin() -> None:
    _, liked = _readers(np.random.default_rng(5))
    ranker = LearnedRanker(EASE(l2=10.0), seed=0).fit(liked)
    assert ranker.generators.liked_cf is ranker.generators.cf


def test_the_liked_features_read_the_liked_cells_not_the_whole_history() -> None:
    cf_input, liked = _readers(np.random.default_rng(6))
    generators = LearnedRanker(EASE(l2=10.0), seed=0).fit(cf_input, liked=liked).generators
    history = _new_reader()
    candidates, told, _, _ = generators.features(history, _liked_part(history))
    _, untold, _, _ = generators.features(history)
    assert told.shape[-1] == len(FEATURES)
    base = len(FEATURES) - 3
    np.testing.assert_array_equal(told[..., :base], untold[..., :base])  # the other features unchanged
    twin_scores = np.asarray(generators.liked_cf.score(_liked_part(history)), dtype=np.float64)
    np.testing.assert_allclose(told[0, :, base], twin_scores[0, candidates[0]])
    assert told[0, 0, base + 2] == pytest.approx((6 + 1) / (8 + 2))  # 6 of 8 cells liked
    assert untold[0, 0, base + 2] == pytest.approx((8 + 1) / (8 + 2))


def test_item_counts_are_log_shares_that_hiding_a_fifth_of_every_count_barely_moves() -> None:
    cf_input, liked = _readers(np.random.default_rng(8))
    generators = LearnedRanker(EASE(l2=10.0), seed=0).fit(cf_input, liked=liked).generators
    readers, likers = FEATURES.index("item readers (log share)"), FEATURES.index("item likers (log share)")
    candidates, features, _, _ = generators.features(_new_reader())
    expected = np.log1p(generators.readers[candidates[0]]) - np.log(generators.readers.sum() + 1.0)
    np.testing.assert_allclose(features[0, :, readers], expected)
    counted = generators.likers[candidates[0]] > 0  # a share of nothing moves with the total
    assert counted.sum() >= 10
    full = features[0][counted][:, [readers, likers]]
    generators.readers, generators.likers = 0.8 * generators.readers, 0.8 * generators.likers
    hidden = generators.features(_new_reader())[1][0][counted][:, [readers, likers]]
    assert np.abs(hidden - full).max() < 0.02  # raw log counts would all drop by log(0.8) = -0.22


class _RecordingRanker(LearnedRanker):
    def score(self, history: sp.csr_matrix, liked: sp.csr_matrix | None = None) -> np.ndarray:
        self.told = liked
        return super().score(history, liked=liked)


def _events(ratings: dict[int, float]) -> EventArrays:
    """Checkouts of books 0–5 and the given star ratings, all just now."""
    books = [*range(6), *ratings]
    return EventArrays(
        user=np.zeros(len(books), dtype=np.int64),
        item=np.array(books, dtype=np.int64),
        type=np.array(["checkout"] * 6 + ["rating"] * len(ratings), dtype=object),
        value=np.array([np.nan] * 6 + list(ratings.values())),
        timestamp=np.full(len(books), time.time()),
    )


def test_serving_tells_the_ranker_which_history_cells_the_reader_liked() -> None:
    cf_input, liked = _readers(np.random.default_rng(8))
    ranker = _RecordingRanker(EASE(l2=10.0), seed=0).fit(cf_input, liked=liked)
    weights = {"checkout": 1.0, "rating": 1.0}
    artifact = Artifact(1, 1, 0.0, np.arange(60), weights, 45.0, ranker, np.zeros(60), consumed_weight=0.25)
    service = RecommendationService(SimpleNamespace())  # type: ignore[arg-type]
    service.catalog = lambda session, tenant_id, artifact: None  # type: ignore[method-assign]

    state = service._reader_state(None, artifact, Reader(), _events({50: 2.0, 51: 1.0}))  # type: ignore[arg-type]
    assert ranker.told is not None and ranker.told.indices.tolist() == [0, 1, 2, 3, 4, 5]
    assert state.context.enjoyed.tolist() == [0, 1, 2, 3, 4, 5]  # the 1–2 star books are not enjoyed
    history = artifact.history_matrix(_events({50: 2.0, 51: 1.0}))
    assert sorted(history.indices.tolist()) == [0, 1, 2, 3, 4, 5, 50, 51]  # but they are CF input
    np.testing.assert_array_equal(state.cf, ranker.score(history, liked=ranker.told)[0])

    service._reader_state(None, artifact, Reader(), _events({50: 5.0}))  # type: ignore[arg-type]
    assert ranker.told is None  # every cell liked: nothing more to tell
    assert cf_scores(artifact, sp.csr_matrix((1, 60)), None) is None  # no history, no CF scores


def test_the_liked_twin_regresses_only_the_most_liked_items(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ranker_module, "LIKED_TWIN_MAX_ITEMS", 10)
    cf_input, liked = _readers(np.random.default_rng(9))
    twin = LearnedRanker(EASE(l2=10.0), seed=0).fit(cf_input, liked=liked).generators.liked_cf
    counts = np.asarray((liked > 0).sum(axis=0)).ravel()
    assert twin.head.tolist() == sorted(np.argsort(-counts, kind="stable")[:10].tolist())
    outside = np.setdiff1d(np.arange(60), twin.head)
    assert not twin.score(_liked_part(_new_reader()))[0, outside].any()  # scores 0 outside its head


def test_generator_fits_are_reused_by_input_only_while_asked_and_score_the_same() -> None:
    cf_input, liked = _readers(np.random.default_rng(4))
    fresh = LearnedRanker(EASE(l2=10.0), seed=0).fit(cf_input, liked=liked)
    again = LearnedRanker(EASE(l2=10.0), seed=0).fit(cf_input, liked=liked)
    assert fresh.generators.knn is not again.generators.knn  # nothing kept outside the context
    with ranker_module.reusing_generator_fits():
        first = LearnedRanker(EASE(l2=10.0), seed=0).fit(cf_input, liked=liked)
        other_l2 = LearnedRanker(EASE(l2=50.0), seed=0).fit(cf_input, liked=liked)
        other_input = LearnedRanker(EASE(l2=10.0), seed=0).fit(cf_input * 0.5, liked=liked)
    assert other_l2.generators.knn is first.generators.knn and other_l2.generators.als is first.generators.als
    assert other_input.generators.knn is not first.generators.knn  # a different input is fitted anew
    assert other_input.generators.als is first.generators.als  # iALS reads the liked cells only
    np.testing.assert_array_equal(first.score(_new_reader()), fresh.score(_new_reader()))
    assert ranker_module._recent_fits is None
