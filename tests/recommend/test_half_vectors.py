import threading

import numpy as np

from nextread.engine import half_vectors
from nextread.engine.pipeline import Catalog


def _vectors(n: int = 500, dimension: int = 384) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, dimension)).astype(np.float32)


def test_rows_become_unit_length_float16_and_zero_rows_stay_zero():
    vectors = _vectors(10)
    vectors[3] = 0.0
    half = half_vectors.from_vectors(vectors * 7.0)
    assert half.dtype == np.float16
    norms = np.linalg.norm(half.astype(np.float32), axis=1)
    assert np.allclose(np.delete(norms, 3), 1.0, atol=1e-3)
    assert not half[3].any()


def test_the_half_precision_product_is_within_a_thousandth_of_float32():
    vectors = _vectors()
    half = half_vectors.from_vectors(vectors)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    query = unit[:7].mean(axis=0)
    scores = half_vectors.dot(half, query)
    assert scores.dtype == np.float64 and scores.shape == (len(vectors),)
    assert np.abs(scores - unit @ query).max() < 1e-3
    assert np.argmax(scores) == np.argmax(unit @ query)
    # any other dtype is plain numpy, with the vector cast to the rows' precision
    assert np.allclose(half_vectors.dot(unit, query), unit @ query, atol=1e-6)


def test_picked_rows_come_back_as_float32_copies():
    half = half_vectors.from_vectors(_vectors(20))
    picked = half_vectors.rows_float32(half, np.array([4, 2]))
    assert picked.dtype == np.float32
    assert np.array_equal(picked, half[[4, 2]].astype(np.float32))
    picked[0] = 0.0  # a copy: the catalog's rows are untouched
    assert half[4].any()


def test_a_catalog_keeps_its_embeddings_as_unit_float16_rows():
    rows = [{"title": f"Book {i}"} for i in range(3)]
    catalog = Catalog.from_items(rows, embeddings=np.array([[3.0, 4.0], [0.0, 0.0], [0.0, 2.0]]))
    assert catalog.embeddings is not None and catalog.embeddings.dtype == np.float16
    assert np.allclose(catalog.embeddings.astype(np.float32), [[0.6, 0.8], [0.0, 0.0], [0.0, 1.0]], atol=1e-3)


def test_products_keep_torch_to_the_calling_thread_and_leave_other_threads_alone():
    import torch

    half = half_vectors.from_vectors(_vectors())
    seen: list[tuple[str, int]] = []

    def request_thread() -> None:
        half_vectors.dot(half, np.ones(384, dtype=np.float32))
        seen.append(("request", torch.get_num_threads()))

    def other_thread() -> None:
        seen.append(("other", torch.get_num_threads()))

    for target in (other_thread, request_thread, other_thread):
        thread = threading.Thread(target=target)
        thread.start()
        thread.join()
    (_, before), request, (_, after) = seen
    assert request == ("request", 1)
    assert after == before  # torch's own default (one per core) for every other thread
