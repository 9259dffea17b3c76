"""Every collaborative model on tiny matrices where the right answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from nextread.engine.collaborative import EASE, IALS, ItemKNN, Popularity, spd_inverse
from nextread.engine.models import restore_model

# Users 0-5 read items 0-3 (cluster A); users 6-11 read items 4-7 (cluster B). Each user misses one item.
ROWS, COLS = [], []
for user in range(12):
    cluster = range(0, 4) if user < 6 else range(4, 8)
    for item in cluster:
        if item != cluster[user % 4]:
            ROWS.append(user)
            COLS.append(item)
TRAIN = sp.csr_matrix((np.ones(len(ROWS), dtype=np.float32), (ROWS, COLS)), shape=(12, 8))

MODELS = {
    "ease": lambda: EASE(l2=1.0),
    "ials": lambda: IALS(factors=4, regularization=0.1, alpha=10.0, iterations=30, seed=1),
    "knn-cosine": lambda: ItemKNN(similarity="cosine", neighbours=8),
    "knn-bm25": lambda: ItemKNN(similarity="bm25", neighbours=8),
}


def _row(items: list[int]) -> sp.csr_matrix:
    return sp.csr_matrix((np.ones(len(items), dtype=np.float32), ([0] * len(items), items)), shape=(1, 8))


@pytest.mark.parametrize("name", list(MODELS))
def test_a_new_reader_of_cluster_a_gets_cluster_a_first(name: str) -> None:
    model = MODELS[name]().fit(TRAIN)
    scores = model.score(_row([0, 1]))[0]
    assert set(np.argsort(-scores)[:2]) <= {0, 1, 2, 3}
    assert min(scores[2], scores[3]) > max(scores[4:])


@pytest.mark.parametrize("name", list(MODELS))
def test_fold_in_follows_the_newest_history(name: str) -> None:
    model = MODELS[name]().fit(TRAIN)
    before = model.score(_row([0]))[0]
    after = model.score(_row([0, 4, 5, 6]))[0]
    assert before[1] > before[7]
    assert after[7] > after[1], "after reading three cluster-B books, the fourth must outrank cluster A"


@pytest.mark.parametrize("name", list(MODELS))
def test_similar_items_are_cluster_mates(name: str) -> None:
    model = MODELS[name]().fit(TRAIN)
    neighbours, scores = model.similar_items(5, n=3)
    assert set(neighbours) == {4, 6, 7}
    assert 5 not in neighbours
    assert list(scores) == sorted(scores, reverse=True)


@pytest.mark.parametrize("name", [*MODELS, "popularity"])
def test_a_saved_model_restored_scores_and_finds_neighbours_the_same(name: str) -> None:
    model = (MODELS[name]() if name in MODELS else Popularity()).fit(TRAIN)
    restored = restore_model(model.save())
    assert type(restored) is type(model)
    for history in (_row([0, 1]), TRAIN):
        np.testing.assert_array_equal(restored.score(history), model.score(history))
    for found, expected in zip(restored.similar_items(5, n=3), model.similar_items(5, n=3), strict=True):
        np.testing.assert_array_equal(found, expected)


def test_an_unknown_model_kind_is_refused_by_name() -> None:
    saved = EASE(l2=1.0).fit(TRAIN).save()
    saved.kind = "Pickled"
    with pytest.raises(ValueError, match="unknown model kind 'Pickled'"):
        restore_model(saved)


def test_ease_has_a_zero_diagonal_and_scores_are_history_times_b() -> None:
    model = EASE(l2=1.0).fit(TRAIN)
    assert np.allclose(np.diag(model.weights), 0.0)
    history = _row([0, 2])
    assert np.allclose(model.score(history)[0], model.weights[0] + model.weights[2], atol=1e-5)


def test_ease_over_the_most_read_items_only_scores_the_rest_zero() -> None:
    """With ``max_items`` below the catalog the regression covers the most read items; history cells
    outside them carry no weight, and a batch scores each row as it would alone."""
    model = EASE(l2=1.0, max_items=5).fit(TRAIN)
    tail = np.setdiff1d(np.arange(8), model.head)
    assert len(model.head) == 5 and len(tail) == 3
    head_item, tail_item = int(model.head[0]), int(tail[0])
    single = model.score(_row([head_item, tail_item]))[0]
    expected = np.zeros(8, dtype=np.float32)
    expected[model.head] = model.weights[0]
    assert np.allclose(single, expected, atol=1e-6)
    assert not model.score(_row([tail_item])).any()
    batch = model.score(sp.vstack([_row([head_item, tail_item]), _row([tail_item]), _row([1, 2])]).tocsr())
    assert np.allclose(batch[0], single) and not batch[1].any()
    assert np.allclose(batch[2], model.score(_row([1, 2]))[0])


def test_ease_dropout_is_edlae_closed_form() -> None:
    """Λ = λ + p/(1−p)·diag(G): checked against the formula computed directly in float64."""
    model = EASE(l2=1.0, dropout=0.5).fit(TRAIN)
    binary = (TRAIN > 0).astype(np.float64).toarray()
    gram = binary.T @ binary
    precision = np.linalg.inv(gram + np.diag(1.0 + np.diag(gram)))
    expected = precision / -np.diag(precision)
    np.fill_diagonal(expected, 0.0)
    assert np.allclose(model.weights, expected, atol=1e-4)
    assert not np.allclose(model.weights, EASE(l2=1.0).fit(TRAIN).weights, atol=1e-3)


def test_ease_rejects_a_dropout_outside_zero_to_one() -> None:
    with pytest.raises(ValueError, match="dropout"):
        EASE(dropout=1.0)


def test_popularity_ranks_by_positive_users() -> None:
    matrix = sp.csr_matrix(np.array([[1, 0, 1], [1, 0, 0], [1, 1, 0]], dtype=np.float32))
    model = Popularity().fit(matrix)
    scores = model.score(sp.csr_matrix((2, 3), dtype=np.float32))
    assert scores.shape == (2, 3)
    assert scores[0].tolist() == scores[1].tolist() == [3.0, 1.0, 1.0]


def test_spd_inverse_is_the_full_symmetric_inverse() -> None:
    """Sizes around the mirroring block (512) check every edge of the blocked copy."""
    rng = np.random.default_rng(5)
    for n in (3, 512, 1100):
        factor = rng.random((n, n))
        matrix = (factor @ factor.T + n * np.eye(n)).astype(np.float32)
        inverse = spd_inverse(matrix.copy())
        np.testing.assert_allclose(inverse, np.linalg.inv(matrix.astype(np.float64)), rtol=2e-3, atol=1e-7)
        assert np.array_equal(inverse, inverse.T) and inverse.flags.c_contiguous


@pytest.mark.parametrize("name", ["knn-cosine", "knn-bm25"])
def test_item_knn_one_row_sum_equals_the_sparse_product(name: str) -> None:
    """Serving's one-row path sums neighbour rows itself; it must score exactly as the batch product."""
    model = MODELS[name]().fit(TRAIN)
    weighted = TRAIN.multiply(np.arange(1, 13, dtype=np.float32)[:, None]).tocsr()
    batch = model.score(weighted)
    for user in range(weighted.shape[0]):
        one = model.score(weighted[user])
        assert one.shape == (1, 8) and one.dtype == np.float32
        np.testing.assert_allclose(one[0], batch[user], rtol=1e-6)


def test_ials_fold_in_solves_the_weighted_least_squares_system() -> None:
    """x = (YᵀY + λI + Σ (c−1) y yᵀ)⁻¹ Σ c y, written out densely for one reader and checked row by row
    against the batched fold-in."""
    model = MODELS["ials"]().fit(TRAIN)
    history = TRAIN[[0, 7]].multiply(np.array([[1.0], [3.0]])).tocsr()
    folded = model.user_factors(history)
    factors = model.item_factors
    for row in range(2):
        confidence = model.alpha * history[row].toarray()[0]
        extra = np.where(confidence > 0, confidence - 1.0, 0.0)  # unread items keep confidence 1
        system = factors.T @ (factors * extra[:, None])
        system += factors.T @ factors + model.regularization * np.eye(factors.shape[1])
        expected = np.linalg.solve(system, factors.T @ confidence)
        np.testing.assert_allclose(folded[row], expected, rtol=1e-8, atol=1e-10)
        # A served request folds in one reader alone, by Cholesky: the same solution.
        np.testing.assert_allclose(model.user_factors(history[row])[0], expected, rtol=1e-8, atol=1e-10)


def test_one_reader_fold_in_with_a_negative_event_still_solves_its_system() -> None:
    """An abandoned book weighs below zero, so its confidence is negative and the system may not be
    positive definite: Cholesky fails there and the general solve must answer instead."""
    model = MODELS["ials"]().fit(TRAIN)
    history = sp.csr_matrix(([2.0, -40.0], ([0, 0], [1, 3])), shape=(1, TRAIN.shape[1]))
    factors = model.item_factors
    confidence = model.alpha * history.toarray()[0]
    extra = np.where(confidence != 0, confidence - 1.0, 0.0)
    system = factors.T @ (factors * extra[:, None]) + model.gram
    expected = np.linalg.solve(system, factors.T @ confidence)
    np.testing.assert_allclose(model.user_factors(history)[0], expected, rtol=1e-8, atol=1e-10)


def test_ials_fits_the_same_factors_on_every_core_as_on_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Training uses every core for iALS; evaluation's seeds must still give the same model."""
    import nextread.engine.collaborative as collaborative

    rng = np.random.default_rng(4)
    interactions = sp.random(400, 120, density=0.05, format="csr", random_state=rng, dtype=np.float32)
    monkeypatch.setattr(collaborative, "CORES", 1)
    one = MODELS["ials"]().fit(interactions).item_factors
    monkeypatch.setattr(collaborative, "CORES", 2)
    two = MODELS["ials"]().fit(interactions).item_factors
    np.testing.assert_array_equal(one, two)
