"""VectorIndex against numpy brute force: exact below the threshold, high recall above it, never saved."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

from nextread.embed.index import VectorIndex
from nextread.services.training import Artifact, load_artifact, save_artifact


def _unit_vectors(rows: int, dimension: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((rows, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _brute_force(vectors: np.ndarray, row: int, k: int) -> np.ndarray:
    scores = vectors @ vectors[row]
    scores[row] = -np.inf
    return np.argsort(-scores, kind="stable")[:k]


def test_exact_search_returns_the_true_neighbours_without_the_query_item() -> None:
    vectors = _unit_vectors(2_000, 48)
    index = VectorIndex(vectors)
    assert isinstance(index.build(), faiss.IndexFlatIP)
    for row in range(0, 2_000, 97):
        found, scores = index.search(vectors[row], 10, exclude=row)
        assert row not in found
        np.testing.assert_array_equal(found, _brute_force(vectors, row, 10))
        np.testing.assert_allclose(scores, vectors[found] @ vectors[row], rtol=1e-5, atol=1e-6)
        assert np.all(np.diff(scores) <= 1e-6)


def test_without_exclude_the_query_item_is_its_own_nearest_neighbour() -> None:
    vectors = _unit_vectors(300, 16)
    found, scores = VectorIndex(vectors).search(vectors[42], 5)
    assert found[0] == 42
    assert scores[0] == np.float32(1.0) or abs(scores[0] - 1.0) < 1e-5


def test_k_larger_than_the_catalog_returns_every_other_row() -> None:
    vectors = _unit_vectors(7, 8)
    found, _ = VectorIndex(vectors).search(vectors[3], 50, exclude=3)
    assert sorted(found.tolist()) == [0, 1, 2, 4, 5, 6]
    empty, _ = VectorIndex(vectors).search(vectors[3], 0)
    assert len(empty) == 0


def test_hnsw_above_the_threshold_has_high_recall() -> None:
    vectors = _unit_vectors(5_000, 64, seed=1)
    exact = VectorIndex(vectors)
    approximate = VectorIndex(vectors, exact_max_rows=1_000)
    assert isinstance(approximate.build(), faiss.IndexHNSWFlat)
    assert not approximate.exact
    recalls = []
    for row in range(0, 5_000, 25):
        truth, _ = exact.search(vectors[row], 10, exclude=row)
        found, _ = approximate.search(vectors[row], 10, exclude=row)
        assert row not in found and len(found) == 10
        recalls.append(len(set(truth.tolist()) & set(found.tolist())) / 10)
    assert np.mean(recalls) >= 0.9, np.mean(recalls)


def test_hnsw_answers_exactly_while_the_graph_is_still_being_built() -> None:
    vectors = _unit_vectors(3_000, 32, seed=2)
    index = VectorIndex(vectors, exact_max_rows=100)
    found, _ = index.search(vectors[5], 10, exclude=5)  # first query: exact scan, graph built aside
    np.testing.assert_array_equal(found, _brute_force(vectors, 5, 10))
    assert isinstance(index.build(), faiss.IndexHNSWFlat)


def test_an_artifact_with_a_built_index_saves_without_it(tmp_path: Path) -> None:
    vectors = _unit_vectors(200, 16)
    artifact = Artifact(
        tenant_id=1,
        version=3,
        trained_at=0.0,
        item_pks=np.arange(100, 300, dtype=np.int64),
        type_weights={"finished": 1.0},
        half_life_days=45.0,
        cf=None,
        popularity=np.zeros(200),
        embeddings=vectors,
    )
    before, _ = artifact.index().search(vectors[7], 5, exclude=7)
    save_artifact(artifact, tmp_path / "v3")
    assert (tmp_path / "v3" / "arrays.npz").stat().st_size < 2 * vectors.nbytes  # the embeddings once
    restored = load_artifact(tmp_path / "v3")
    assert restored._index is None
    after, _ = restored.index().search(vectors[7], 5, exclude=7)
    np.testing.assert_array_equal(before, after)
    assert restored.index() is restored.index()
    assert restored.item_column[100] == 0


def test_an_artifact_without_embeddings_has_no_index() -> None:
    assert Artifact(1, 1, 0.0, np.arange(0), {}, 45.0, None, np.zeros(0)).index() is None
