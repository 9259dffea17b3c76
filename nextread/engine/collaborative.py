"""Collaborative models, each a small class implementing :class:`nextread.engine.protocol.Recommender`:
``fit(X)`` on a users×items matrix, ``score(history)`` for ARBITRARY history rows (a user unseen in
training is just a row: that is how held-out users are evaluated and how a live user's newest events
are folded in), ``similar_items``, and ``save`` / ``restore`` through plain arrays.

Item-kNN and iALS are implicit's own implementations (the field's reference library); only the fold-in
of new users is ours, and it is the exact iALS least-squares step. EASE is closed form in numpy.
"""

from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING, Self

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.nearest_neighbours import BM25Recommender, CosineRecommender, ItemItemRecommender
from implicit.utils import ParameterWarning
from scipy.linalg import lapack
from threadpoolctl import threadpool_limits

from nextread.engine.protocol import SavedModel

if TYPE_CHECKING:
    from nextread.engine.protocol import Recommender

# The cores this process may run on (the affinity mask where the OS has one, e.g. not on macOS).
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
EASE_MAX_ITEMS = 8000  # dense item×item inverse: 8000² float32 ≈ 256 MB, about 3 s on 2 cores


def spd_inverse(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive-definite matrix through its Cholesky factor (LAPACK potrf/potri):
    a third of the work of a general inverse, and float32 halves it again; the ridge λ keeps it well
    conditioned."""
    # One big BLAS call, so it scales with cores; the process keeps BLAS on one thread (implicit's
    # loops need that), so lift the limit just here: 12.9 s → 6.0 s at 10k items on 2 cores.
    with threadpool_limits(CORES, "blas"):
        factor, info = lapack.spotrf(matrix, lower=False, overwrite_a=True)
        if info != 0:
            raise np.linalg.LinAlgError(f"Gram matrix is not positive definite (potrf info {info}); raise λ")
        inverse, info = lapack.spotri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"Cholesky inverse failed (potri info {info})")
    # LAPACK hands back Fortran order; the transpose of a symmetric matrix is the same matrix in C
    # order, which serving needs: a fold-in sums rows.
    return np.ascontiguousarray(mirror_upper(inverse).T)


def mirror_upper(matrix: np.ndarray, block: int = 512) -> np.ndarray:
    """Copy the upper triangle onto the lower one in place (potri fills only the upper one), block by
    block so both sides stay in cache: 40x faster than ``triu + triu.T`` at 8000 items, no copies."""
    n = matrix.shape[0]
    for start in range(0, n, block):
        rows = slice(start, start + block)
        for left in range(0, start, block):
            matrix[rows, left : left + block] = matrix[left : left + block, rows].T
        diagonal = matrix[rows, rows]
        below = np.tril_indices(diagonal.shape[0], -1)
        diagonal[below] = diagonal.T[below]
    return matrix


class SimilarByHistory:
    """What the models share: items similar to one item are what a one-item history scores highest,
    and nothing to build per process before serving. Subclasses implement ``fit``, ``score``, ``save``
    and the class method ``restore`` (the inverse of ``save``, given the already restored parts)."""

    n_items: int

    def fit(self, interactions: sp.csr_matrix, liked: sp.csr_matrix | None = None) -> Self:
        raise NotImplementedError

    def score(self, history: sp.csr_matrix, liked: sp.csr_matrix | None = None) -> np.ndarray:
        raise NotImplementedError

    def save(self) -> SavedModel:
        raise NotImplementedError

    @classmethod
    def restore(cls, saved: SavedModel, parts: dict[str, Recommender]) -> Self:
        raise NotImplementedError

    def warm_up(self) -> None:
        """Nothing to build per process."""

    def similar_items(self, item_index: int, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        history = sp.csr_matrix(([1.0], ([0], [item_index])), shape=(1, self.n_items), dtype=np.float32)
        scores = np.asarray(self.score(history), dtype=np.float64)[0]
        scores[item_index] = -np.inf
        order = np.argsort(-scores, kind="stable")[:n]
        return order, scores[order]


class Popularity(SimilarByHistory):
    """Most-positives-first, the same list for everyone: the floor any personalised model must clear."""

    def fit(self, interactions: sp.csr_matrix, liked: sp.csr_matrix | None = None) -> Popularity:
        self.counts = np.asarray((interactions > 0).sum(axis=0), dtype=np.float64).ravel()
        self.n_items = interactions.shape[1]
        return self

    def score(self, history: sp.csr_matrix, liked: sp.csr_matrix | None = None) -> np.ndarray:
        return np.tile(self.counts, (history.shape[0], 1))

    def save(self) -> SavedModel:
        return SavedModel("Popularity", arrays={"counts": self.counts})

    @classmethod
    def restore(cls, saved: SavedModel, parts: dict[str, Recommender]) -> Popularity:
        model = cls()
        model.counts = saved.arrays["counts"]
        model.n_items = len(model.counts)
        return model


class ItemKNN(SimilarByHistory):
    """implicit's item-item neighbourhood model; scoring a history is ``history @ similarity``, which is
    what implicit's own ``recommend`` computes for a known user."""

    def __init__(self, similarity: str = "bm25", neighbours: int = 100, k1: float = 1.2, b: float = 0.75):
        self.params = {"similarity": similarity, "neighbours": neighbours, "k1": k1, "b": b}
        self.model: ItemItemRecommender
        if similarity == "bm25":
            self.model = BM25Recommender(K=neighbours, K1=k1, B=b, num_threads=1)
        elif similarity == "cosine":
            self.model = CosineRecommender(K=neighbours, num_threads=1)
        else:
            raise ValueError(f"unknown item-kNN similarity {similarity!r} (use bm25 or cosine)")

    def fit(self, interactions: sp.csr_matrix, liked: sp.csr_matrix | None = None) -> ItemKNN:
        with warnings.catch_warnings():
            # implicit re-weights BM25/cosine into a COO matrix internally and then warns about it.
            warnings.simplefilter("ignore", ParameterWarning)
            self.model.fit(interactions.tocsr().astype(np.float32), show_progress=False)
        self.similarity: sp.csr_matrix = self.model.similarity
        self.n_items = interactions.shape[1]
        return self

    def score(self, history: sp.csr_matrix, liked: sp.csr_matrix | None = None) -> np.ndarray:
        """``history @ similarity``; a one-row history (every served request) sums the neighbour rows
        of its items directly, a third of the time of scipy's sparse product and densifying."""
        history = history.tocsr()
        if history.shape[0] != 1:
            return np.asarray((history.astype(np.float32) @ self.similarity).todense())
        similarity = self.similarity
        starts, ends = similarity.indptr[history.indices], similarity.indptr[history.indices + 1]
        lengths = ends - starts
        entries = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
        weights = np.repeat(history.data.astype(np.float32), lengths) * similarity.data[entries]
        row = np.bincount(similarity.indices[entries], weights=weights, minlength=self.n_items)
        return row.astype(np.float32)[None, :]

    def save(self) -> SavedModel:
        return SavedModel("ItemKNN", dict(self.params), sparse_arrays("similarity", self.similarity))

    @classmethod
    def restore(cls, saved: SavedModel, parts: dict[str, Recommender]) -> ItemKNN:
        model = cls(**saved.params)
        model.similarity = sparse_from_arrays("similarity", saved.arrays)
        model.n_items = model.similarity.shape[1]
        return model


def sparse_arrays(name: str, matrix: sp.csr_matrix) -> dict[str, np.ndarray]:
    """A CSR matrix as the plain arrays :class:`SavedModel` holds, under ``name.*``."""
    matrix = matrix.tocsr()
    return {
        f"{name}.data": matrix.data,
        f"{name}.indices": matrix.indices,
        f"{name}.indptr": matrix.indptr,
        f"{name}.shape": np.asarray(matrix.shape, dtype=np.int64),
    }


def sparse_from_arrays(name: str, arrays: dict[str, np.ndarray]) -> sp.csr_matrix:
    shape = tuple(int(size) for size in arrays[f"{name}.shape"])
    return sp.csr_matrix(
        (arrays[f"{name}.data"], arrays[f"{name}.indices"], arrays[f"{name}.indptr"]), shape=shape
    )


def regularised_gram(item_factors: np.ndarray, regularization: float) -> np.ndarray:
    """YᵀY + λI, the part of every fold-in system that does not depend on the user."""
    return item_factors.T @ item_factors + regularization * np.eye(item_factors.shape[1])


def als_fold_in(
    item_factors: np.ndarray,
    history: sp.csr_matrix,
    regularization: float,
    alpha: float,
    gram: np.ndarray | None = None,
) -> np.ndarray:
    """User factors that minimise implicit's iALS loss with the items fixed (confidence = alpha × value,
    as in implicit 0.7): x = (YᵀY + λI + Σ (c−1) y yᵀ)⁻¹ Σ c y. Batched solves, one system per user.
    ``gram`` is :func:`regularised_gram`, precomputed by a fitted model: over 10k items it costs more
    than the rest of a one-user fold-in."""
    factors = item_factors.shape[1]
    gram = regularised_gram(item_factors, regularization) if gram is None else gram
    history = history.tocsr()
    if history.shape[0] == 1:
        return _solve_one(*_fold_in_system(item_factors, history, 0, alpha, gram))[None, :]
    users = np.zeros((history.shape[0], factors))
    for start in range(0, history.shape[0], 512):
        stop = min(start + 512, history.shape[0])
        systems = np.empty((stop - start, factors, factors))
        right = np.empty((stop - start, factors))
        for offset, row in enumerate(range(start, stop)):
            systems[offset], right[offset] = _fold_in_system(item_factors, history, row, alpha, gram)
        users[start:stop] = np.linalg.solve(systems, right[..., None])[..., 0]
    return users


def _fold_in_system(
    item_factors: np.ndarray, history: sp.csr_matrix, row: int, alpha: float, gram: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One reader's normal equations: YᵀY + λI + Σ (c−1) y yᵀ and Σ c y over the row's items."""
    entries = slice(history.indptr[row], history.indptr[row + 1])
    confidence = alpha * history.data[entries].astype(np.float64)
    block = item_factors[history.indices[entries]]
    return gram + (block * (confidence - 1.0)[:, None]).T @ block, confidence @ block


def _solve_one(system: np.ndarray, right: np.ndarray) -> np.ndarray:
    """A served request's fold-in: one system, solved by Cholesky (LAPACK posv; the system is the
    regularised Gram plus positive terms when confidences exceed 1), less than half the time of numpy's
    batched general solve (which was two thirds of the fold-in). Confidences below 1 (negative events)
    can break definiteness; then the general solve answers, as for a batch."""
    _, solution, info = lapack.dposv(system, right)
    return solution if info == 0 else np.linalg.solve(system, right)


class IALS(SimilarByHistory):
    """implicit's CPU iALS; held-out users are folded in with ``als_fold_in``. ``model`` (implicit's
    own, with the training users' factors) exists only in the process that fitted: nothing reads it
    but a benchmark's reference, so it is not saved."""

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.01,
        alpha: float = 1.0,
        iterations: int = 15,
        seed: int = 0,
    ):
        self.regularization, self.alpha = regularization, alpha
        self.settings = {"factors": factors, "iterations": iterations, "random_state": seed}

    def fit(self, interactions: sp.csr_matrix, liked: sp.csr_matrix | None = None) -> IALS:
        # implicit parallelises over users itself (each user's solve is independent, so the factors
        # are the same on any number of threads); BLAS threads underneath would fight it (and implicit
        # warns about them when the model is built), so both happen with BLAS on one thread.
        with threadpool_limits(1, "blas"):
            self.model = AlternatingLeastSquares(
                regularization=self.regularization, alpha=self.alpha, num_threads=CORES, **self.settings
            )
            self.model.fit(interactions.tocsr().astype(np.float32), show_progress=False)
        self.item_factors = np.asarray(self.model.item_factors, dtype=np.float64)
        self.gram = regularised_gram(self.item_factors, self.regularization)
        self.n_items = interactions.shape[1]
        return self

    def user_factors(self, history: sp.csr_matrix) -> np.ndarray:
        return als_fold_in(self.item_factors, history, self.regularization, self.alpha, self.gram)

    def score(self, history: sp.csr_matrix, liked: sp.csr_matrix | None = None) -> np.ndarray:
        return self.user_factors(history) @ self.item_factors.T

    def save(self) -> SavedModel:
        params = {
            "factors": self.settings["factors"],
            "regularization": self.regularization,
            "alpha": self.alpha,
            "iterations": self.settings["iterations"],
            "seed": self.settings["random_state"],
        }
        return SavedModel("IALS", params, {"item_factors": self.item_factors, "gram": self.gram})

    @classmethod
    def restore(cls, saved: SavedModel, parts: dict[str, Recommender]) -> IALS:
        model = cls(**saved.params)
        model.item_factors, model.gram = saved.arrays["item_factors"], saved.arrays["gram"]
        model.n_items = len(model.item_factors)
        return model

    def similar_items(self, item_index: int, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Cosine between item factors, as implicit does: a one-item fold-in is dominated by the
        regulariser and says little about the item itself."""
        norms = np.linalg.norm(self.item_factors, axis=1)
        scores = self.item_factors @ self.item_factors[item_index]
        scores = np.divide(scores, norms * norms[item_index], out=np.zeros_like(scores), where=norms > 0)
        scores[item_index] = -np.inf
        order = np.argsort(-scores, kind="stable")[:n]
        return order, scores[order]


class EASE(SimilarByHistory):
    """EASE (Steck 2019): B = I − P·diag(1/diag(P)), P = (XᵀX + Λ)⁻¹. It wins under strong
    generalisation because a held-out user is scored by ``history @ B`` with no per-user fitting.
    Λ = λI + p/(1−p)·diag(XᵀX) with ``dropout`` p > 0 is EDLAE's emphasis (Steck 2020, "Autoencoders
    that don't overfit towards the identity"): popular items get more shrinkage, which on MovieLens
    gains ~1% NDCG@10 over plain EASE at the same tuning budget.
    Only the ``max_items`` most popular items get a regression (the inverse is cubic in items); the
    rest of the catalog scores 0, i.e. below any item the history supports."""

    def __init__(self, l2: float = 200.0, max_items: int = EASE_MAX_ITEMS, dropout: float = 0.0):
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.l2, self.max_items, self.dropout = l2, max_items, dropout

    def fit(self, interactions: sp.csr_matrix, liked: sp.csr_matrix | None = None) -> EASE:
        binary = (interactions > 0).astype(np.float32).tocsc()
        counts = np.asarray(binary.sum(axis=0)).ravel()
        self.n_items = binary.shape[1]
        self.head = np.sort(np.argsort(-counts, kind="stable")[: self.max_items])
        gram = (binary[:, self.head].T @ binary[:, self.head]).toarray().astype(np.float32, copy=False)
        diagonal = np.diag_indices_from(gram)
        gram[diagonal] += self.l2 + self.dropout / (1.0 - self.dropout) * gram[diagonal]
        # In place throughout: at 8000 items each copy of the matrix is 256 MB and a second of work.
        self.weights = spd_inverse(gram)
        self.weights /= -np.diag(self.weights)
        np.fill_diagonal(self.weights, 0.0)
        return self

    def score(self, history: sp.csr_matrix, liked: sp.csr_matrix | None = None) -> np.ndarray:
        """``binary(history) @ B`` over the head items. The history's columns are mapped onto the head
        with a binary search rather than scipy's column indexing, which costs more than the product
        for the one-row histories of serving; one row is then just a sum of rows of B."""
        history = history.tocsr()
        position = np.minimum(np.searchsorted(self.head, history.indices), len(self.head) - 1)
        used = (history.data > 0) & (self.head[position] == history.indices)
        scores = np.zeros((history.shape[0], self.n_items), dtype=np.float32)
        if history.shape[0] == 1:
            scores[0, self.head] = self._sum_of_rows(position[used])
            return scores
        rows = np.repeat(np.arange(history.shape[0]), np.diff(history.indptr))[used]
        binary = sp.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, position[used])),
            shape=(history.shape[0], len(self.head)),
        )
        scores[:, self.head] = binary @ self.weights
        return scores

    def _sum_of_rows(self, rows: np.ndarray) -> np.ndarray:
        """Rows of B added one by one into one buffer: gathering them first copied a 20-book
        history's 800 KB of B before summing it (44 → 30 µs at 10k items, less cache evicted)."""
        total = np.zeros(self.weights.shape[1], dtype=np.float32)
        for row in rows.tolist():
            total += self.weights[row]
        return total

    def save(self) -> SavedModel:
        params = {
            "l2": self.l2,
            "max_items": self.max_items,
            "dropout": self.dropout,
            "n_items": self.n_items,
        }
        return SavedModel("EASE", params, {"head": self.head, "weights": self.weights})

    @classmethod
    def restore(cls, saved: SavedModel, parts: dict[str, Recommender]) -> EASE:
        params = dict(saved.params)
        n_items = int(params.pop("n_items"))
        model = cls(**params)
        model.n_items, model.head, model.weights = n_items, saved.arrays["head"], saved.arrays["weights"]
        return model
