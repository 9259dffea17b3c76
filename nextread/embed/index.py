"""Nearest-neighbour search over unit item embeddings, so "similar books" does not scan the catalog.

A school catalog (a few thousand books) is searched exactly: a flat scan is already sub-millisecond and
exact answers are easier to trust. Past ``exact_max_rows`` an HNSW graph keeps a query at a fraction of a
millisecond at the price of occasionally missing a true neighbour. Building that graph takes about a
minute per 100k rows on one core, so it is built in the background while the first queries are answered
by an exact scan (tens of milliseconds), never inside a request.
"""

from __future__ import annotations

import threading

import faiss
import numpy as np

EXACT_MAX_ROWS = 100_000
HNSW_NEIGHBOURS = 32
HNSW_EF_SEARCH = 64


class VectorIndex:
    """Inner-product search over L2-normalised rows (inner product = cosine).

    The faiss index is built on first search, not in the constructor, and never stored: a model
    artifact keeps the embeddings alone. ``build()`` builds it now, for callers that want it warm (a
    model loader, a test).
    """

    def __init__(self, vectors: np.ndarray, exact_max_rows: int = EXACT_MAX_ROWS) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] == 0:
            raise ValueError(f"vectors must be a non-empty 2-D array, got shape {vectors.shape}")
        self.vectors = vectors
        self.exact_max_rows = exact_max_rows
        self._index: faiss.Index | None = None
        self._build_lock = threading.Lock()
        self._builder_lock = threading.Lock()
        self._builder: threading.Thread | None = None

    @property
    def exact(self) -> bool:
        return len(self.vectors) <= self.exact_max_rows

    @property
    def dimension(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.vectors)

    def search(self, query: np.ndarray, k: int, exclude: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Row numbers of the ``k`` rows most similar to ``query`` and their inner products, best first.
        ``exclude`` (the query's own row, for "more like this") is never returned."""
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        if query.shape[1] != self.dimension:
            raise ValueError(f"query has dimension {query.shape[1]}, the index has {self.dimension}")
        wanted = min(k + (exclude is not None), len(self.vectors))
        if k <= 0 or wanted <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        index = self._index
        if index is None and self.exact:
            index = self.build()
        if index is None:
            self._build_in_background()
            rows, scores = self._scan(query[0], wanted)
        else:
            # The OpenMP thread count is per calling thread and requests run on worker threads: set it here.
            faiss.omp_set_num_threads(1)
            found_scores, found_rows = index.search(query, wanted)
            rows, scores = found_rows[0], found_scores[0]
        keep = rows >= 0
        if exclude is not None:
            keep &= rows != exclude
        return rows[keep][:k].astype(np.int64), scores[keep][:k].astype(np.float32)

    def build(self) -> faiss.Index:
        """Two callers may ask before the index exists; only one of them builds it."""
        with self._build_lock:
            if self._index is None:
                faiss.omp_set_num_threads(1)
                self._index = self._new_index()
            return self._index

    def _build_in_background(self) -> None:
        with self._builder_lock:
            if self._builder is None:
                self._builder = threading.Thread(target=self.build, name="vector-index-build", daemon=True)
                self._builder.start()

    def _scan(self, query: np.ndarray, wanted: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact answers while the graph is being built: slower than HNSW, never wrong."""
        scores = self.vectors @ query
        top = (
            np.argpartition(-scores, wanted - 1)[:wanted] if wanted < len(scores) else np.arange(len(scores))
        )
        top = top[np.argsort(-scores[top], kind="stable")]
        return top, scores[top]

    def _new_index(self) -> faiss.Index:
        if self.exact:
            index = faiss.IndexFlatIP(self.dimension)
        else:
            index = faiss.IndexHNSWFlat(self.dimension, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efSearch = HNSW_EF_SEARCH
        index.add(self.vectors)
        return index
