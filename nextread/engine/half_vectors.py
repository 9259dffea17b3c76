"""The served catalog's embeddings: unit rows in float16, and the products requests need from them.

Every request scores the whole catalog against the reader's profile (10k × 384 for a school district's
catalog). That product is bound by memory, not arithmetic, so half the bytes make it about twice as fast
(out of cache on this project's 2-core machine: 1.3 → 0.6 ms), and the catalog takes half the memory in
every API process. numpy has no fast half-precision product or conversion (its float16 → float32 cast
of a 200-row MMR pool took 165 µs, torch's 17 µs); torch, already a dependency for the local embedder,
has both and accumulates in float32, so cosines stay within 1e-4 of float32's.

torch's products run on the calling thread only. Its default, a team of one thread per core, made two
``nextread precompute`` processes 2.7× slower (187 → 511 s for 50k readers): each product's helper
thread spun on the core the other process needed. The limit is OpenMP's per-thread setting, so other
threads, such as one embedding a batch of books for training, keep every core.
"""

from __future__ import annotations

from functools import cache
from types import ModuleType

import numpy as np
from threadpoolctl import threadpool_limits


def from_vectors(vectors: np.ndarray) -> np.ndarray:
    """Unit-length float16 rows (zero rows stay zero); also imports torch now, while a catalog is
    built, rather than in the first request."""
    unit = unit_rows(np.asarray(vectors, dtype=np.float32), dtype=np.float32)
    _import_torch()
    return unit.astype(np.float16)


def unit_rows(matrix: np.ndarray, dtype: type[np.floating] = np.float64) -> np.ndarray:
    """Each row scaled to unit length, as ``dtype``; a zero row (no embedding) stays zero, not NaN."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros(matrix.shape, dtype=dtype), where=norms > 0)


def dot(rows: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """``rows @ vector`` in float64, for float16 ``rows`` (any other dtype goes through numpy)."""
    if rows.dtype != np.float16:
        return np.asarray(rows @ np.asarray(vector, dtype=rows.dtype), dtype=np.float64)
    torch = _torch()
    product = torch.mv(torch.from_numpy(rows), torch.from_numpy(np.asarray(vector, dtype=np.float16)))
    return product.numpy().astype(np.float64)


def rows_float32(rows: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``rows[index]`` as float32, the precision a few hundred cosines need."""
    picked = rows[index]
    if picked.dtype != np.float16:
        return np.asarray(picked, dtype=np.float32)
    return _torch().from_numpy(picked).float().numpy()


def _torch() -> ModuleType:
    torch = _import_torch()
    if torch.get_num_threads() != 1:  # this thread's OpenMP team (0.1 µs to ask; anything may reset it)
        threadpool_limits(1, user_api="openmp")
    return torch


@cache
def _import_torch() -> ModuleType:
    import torch

    return torch
