"""A learned ranking stage: boosted trees (LightGBM) re-order the head of a collaborative model's list.

One CF model sees the data one way. EASE is the best single model we have, but an item-kNN
neighbourhood, iALS's factors, how many readers an item has and how many of them liked it each know
something EASE's list gets wrong. Instead of guessing how to mix them, the ranker learns it from the
data itself (Gorse's ranking stage does the same over its recall lists, with factorisation machines):

1. For a sample of readers, 20% of what they liked is hidden, and the candidate generators (the CF model,
   an item-kNN, a small iALS and the CF model's liked-only twin) are fitted on the rest.
2. Each such reader's top ``head`` candidates become training rows, features below; the hidden books
   are the relevant ones. LightGBM learns the chance that a candidate is one of them (logistic loss:
   on MovieLens it ranked as well as lambdarank's NDCG objective or slightly better, NDCG@10 +0.002
   over four booster seeds, and fits faster).
3. The generators are fitted again on everything unless the hidden share was negligible, and at
   scoring time the ranker orders each reader's head, which stays above the rest of the catalog
   with the CF model's own score values (only their order inside the head changes).

Under the offline protocol this lifts NDCG@10 on MovieLens 100K by 4–5% over EASE alone, and the
liked-only twin another ~2% (docs/evaluation.md). With fewer than ``MIN_EXAMPLE_READERS`` readers or
no hidden book among the candidates there is too little to learn from, and the stage passes the CF
scores through unchanged.
"""

from __future__ import annotations

import copy
import hashlib
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import scipy.sparse as sp

from nextread.engine.collaborative import EASE, IALS, ItemKNN, SimilarByHistory
from nextread.engine.protocol import Recommender, SavedModel

HEAD = 100  # candidates per reader the ranker orders: NDCG@10 and Recall@20 live well inside it
HIDDEN_SHARE = 0.2  # as the offline protocol's targets
MIN_LIKED = 5  # a reader needs a fold-in left after hiding
# Below a few hundred readers there is too little to learn from: on MovieLens 100K under the offline
# protocol, a ranker taught by 150 readers scores under EASE alone (NDCG@10 0.420 vs 0.425), by 300
# readers above it (0.430), by all 740 well above (0.443); on the 150-student demo school it lost.
MIN_EXAMPLE_READERS = 300
# The liked-only twin's EASE regresses the most-liked items only: its inverse is cubic in them, and at a
# 10k-item catalog a full twin doubled the ranker's fit (20 → 32 s); a head candidate outside it scores 0.
LIKED_TWIN_MAX_ITEMS = 5000
REFIT_ABOVE = 0.02  # hidden share of all liked pairs above which the generators are refitted on everything
RECENT_FITS_KEPT = 4  # generator fits kept for reuse: two inputs per ranker fit (the examples', the refit)
FEATURES = (
    "cf score",
    "cf score / reader's best",
    "cf rank",
    "item-kNN score",
    "item-kNN rank",
    "iALS score",
    "iALS rank",
    "item readers (log share)",
    "item likers (log share)",
    "item liked share",
    "reader history size",
    "liked-only CF score",
    "liked-only CF rank",
    "reader liked share",
)
Fitted = TypeVar("Fitted")
_recent_fits: OrderedDict[tuple[str, bytes], Any] | None = None  # see reusing_generator_fits
_COMPILING = threading.Lock()  # one compile per booster, however many requests ask at once
TREES = 200
LIGHTGBM_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.03,
    "num_leaves": 15,
    "min_data_in_leaf": 50,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "feature_fraction": 0.8,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 2,
    "verbose": -1,
}


def random_target_mask(rows: sp.csr_matrix, target_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """For each row, mark round(fraction × length) entries (at least one, never all) as target. Shared
    by the offline protocol's held-out users and the ranker's training readers, so both hide alike."""
    lengths = np.diff(rows.indptr)
    row_of_entry = np.repeat(np.arange(rows.shape[0]), lengths)
    order = np.lexsort((rng.random(rows.nnz), row_of_entry))
    rank = np.empty(rows.nnz, dtype=np.int64)
    rank[order] = np.arange(rows.nnz) - np.repeat(rows.indptr[:-1], lengths)
    n_target = np.clip(np.round(lengths * target_fraction), 1, np.maximum(lengths - 1, 1))
    return rank < n_target[row_of_entry]


@dataclass
class Generators:
    """The fitted candidate generators and the item statistics the features read. ``liked_cf`` is the
    CF model fitted on liked cells only (the CF model itself when every input cell is liked)."""

    cf: Recommender
    knn: ItemKNN
    als: IALS
    readers: np.ndarray
    likers: np.ndarray
    liked_cf: Recommender

    def features(
        self, history: sp.csr_matrix, liked: sp.csr_matrix | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Each row's head candidates, their features (rows × head × features), the CF scores of the
        whole catalog, and which candidates are real: in a catalog barely larger than the head, a
        row's head can reach items of its own history, which are no candidates. ``liked`` holds the
        cells of ``history`` the reader liked (any values); ``None`` means all of them."""
        history = history.tocsr()
        cf = np.asarray(self.cf.score(history), dtype=np.float64)
        knn = np.asarray(self.knn.score(history), dtype=np.float64)
        masked = cf.copy()
        masked[np.repeat(np.arange(history.shape[0]), np.diff(history.indptr)), history.indices] = -np.inf
        head = min(HEAD, cf.shape[1])
        candidates = np.argpartition(-masked, head - 1, axis=1)[:, :head]
        order = np.argsort(-np.take_along_axis(masked, candidates, axis=1), axis=1, kind="stable")
        candidates = np.take_along_axis(candidates, order, axis=1)
        cf_head = np.take_along_axis(cf, candidates, axis=1)
        knn_head = np.take_along_axis(knn, candidates, axis=1)
        best = np.maximum(np.abs(cf_head[:, :1]), 1e-9)
        ranks = np.broadcast_to(np.arange(head, dtype=np.float64), cf_head.shape)
        # iALS is needed for the head only: a fold-in and 100 dot products, not the whole catalog.
        als_head = np.einsum("rf,rcf->rc", self.als.user_factors(history), self.als.item_factors[candidates])
        share = (self.likers + 1.0) / (self.readers + 2.0)
        size = np.broadcast_to(np.diff(history.indptr)[:, None].astype(np.float64), cf_head.shape)
        columns_of = [
            cf_head,
            cf_head / best,
            ranks,
            knn_head,
            _ranks(knn_head),
            als_head,
            _ranks(als_head),
            self._log_counts(self.readers, candidates),
            self._log_counts(self.likers, candidates),
            share[candidates],
            size,
            *self._liked_columns(history, liked, candidates, cf),
        ]
        valid = np.isfinite(np.take_along_axis(masked, candidates, axis=1))
        return candidates, np.stack(columns_of, axis=2), cf, valid

    def _log_counts(self, counts: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """The candidates' log counts as shares of all counts. The examples' generators are fitted with
        a fifth of the example readers' liked books hidden, and serving's on everything, so raw counts
        are higher at serving than the trees saw (by a quarter on MovieLens, where every training reader
        is an example); shares move far less. On MovieLens NDCG@10 +0.0025, Recall@20 +0.006
        (docs/evaluation.md)."""
        return np.log1p(counts[candidates]) - np.log(counts.sum() + 1.0)

    def _liked_columns(
        self, history: sp.csr_matrix, liked: sp.csr_matrix | None, candidates: np.ndarray, cf: np.ndarray
    ) -> list[np.ndarray]:
        """What the reader's liked books alone predict, and how much of what they had they liked.
        A rating below 4 stars says the reader had the book, so the CF input counts it, but a list is
        judged by what the reader will like; the liked-only twin scores that directly. On MovieLens it
        lifts NDCG@10 by ~0.007 (docs/evaluation.md). When the twin is the CF model and every cell was
        liked, its scores are ``cf``, already computed."""
        liked = history if liked is None else liked.tocsr()
        if self.liked_cf is self.cf and liked is history:
            scores = cf
        else:
            scores = np.asarray(self.liked_cf.score(liked), dtype=np.float64)
        head = np.take_along_axis(scores, candidates, axis=1)
        liked_share = (np.diff(liked.indptr) + 1.0) / (np.diff(history.indptr) + 2.0)
        return [head, _ranks(head), np.broadcast_to(liked_share[:, None], head.shape)]


def _ranks(scores: np.ndarray) -> np.ndarray:
    """Each candidate's rank among its row's candidates by another model's score."""
    return np.argsort(np.argsort(-scores, axis=1, kind="stable"), axis=1).astype(np.float64)


def fit_generators(cf: Recommender, interactions: sp.csr_matrix, liked: sp.csr_matrix) -> Generators:
    liked_cf = _liked_twin(cf, interactions, liked)
    cf.fit(interactions)
    if liked_cf is not None:
        liked_cf.fit(liked)
    return Generators(
        cf=cf,
        knn=_fitted("item-kNN", interactions, lambda: ItemKNN("cosine", neighbours=100).fit(interactions)),
        als=_fitted(
            "iALS", liked, lambda: IALS(factors=64, regularization=10.0, alpha=10.0, iterations=10).fit(liked)
        ),
        readers=np.asarray((interactions > 0).sum(axis=0), dtype=np.float64).ravel(),
        likers=np.asarray((liked > 0).sum(axis=0), dtype=np.float64).ravel(),
        liked_cf=cf if liked_cf is None else liked_cf,
    )


@contextmanager
def reusing_generator_fits() -> Iterator[None]:
    """Inside, an item-kNN or iALS generator fitted on the same input as a recent one is reused: they
    depend on their input alone, not on the CF model's settings, and tuning tries a dozen settings on
    one training matrix (at MovieLens 1M's size these two fits were 2.5 of a ranker fit's 9.4 s). Both
    are seeded, so a reused fit equals a new one. Only the offline runner asks for it; a training
    process keeps nothing between fits."""
    global _recent_fits
    _recent_fits = OrderedDict()
    try:
        yield
    finally:
        _recent_fits = None


def _fitted(kind: str, matrix: sp.csr_matrix, fit: Callable[[], Fitted]) -> Fitted:
    if _recent_fits is None:
        return fit()
    matrix = matrix.tocsr()
    digest = hashlib.blake2b(digest_size=16)
    for part in (np.asarray(matrix.shape), matrix.indptr, matrix.indices, matrix.data):
        digest.update(np.ascontiguousarray(part).tobytes())
    key = (kind, digest.digest())
    if key in _recent_fits:
        _recent_fits.move_to_end(key)
    else:
        _recent_fits[key] = fit()
        while len(_recent_fits) > RECENT_FITS_KEPT:
            _recent_fits.popitem(last=False)
    return _recent_fits[key]  # type: ignore[no-any-return]


def _liked_twin(cf: Recommender, interactions: sp.csr_matrix, liked: sp.csr_matrix) -> Recommender | None:
    """An unfitted CF model like ``cf`` for the liked cells alone; ``None`` when every input cell is
    liked (the CF model itself is then that model). A shallow copy suffices: ``fit`` assigns fresh
    arrays. EASE's λ shrinks with the liked share of the cells, so the ridge weighs as much against
    the sparser Gram matrix (on MovieLens better than the same λ at every λ tried), and it covers at
    most ``LIKED_TWIN_MAX_ITEMS`` items."""
    liked_cells, input_cells = (liked > 0).nnz, (interactions > 0).nnz
    if liked_cells >= input_cells:
        return None
    twin = copy.copy(cf)
    if isinstance(twin, EASE):
        twin.l2 = cf.l2 * liked_cells / input_cells  # type: ignore[attr-defined]
        twin.max_items = min(cf.max_items, LIKED_TWIN_MAX_ITEMS)  # type: ignore[attr-defined]
    return twin


class LearnedRanker(SimilarByHistory):
    """A CF model (``cf``) whose head is re-ordered by a learned ranker; same ``fit`` / ``score`` /
    ``similar_items`` as any CF model, so serving and the offline runner use it unchanged. ``fit`` takes
    ``liked``, the positives the ranker learns to find (the CF input may also carry weaker evidence
    such as books read without liking them); by default every non-zero cell of the input. At most
    ``example_readers`` readers teach it: 1,000 readers × 100 candidates are 100k rows, plenty for a
    dozen features, and keep LightGBM's fit to seconds on a million interactions."""

    def __init__(self, cf: Recommender, example_readers: int = 1000, seed: int = 0):
        self.cf, self.example_readers, self.seed = cf, example_readers, seed
        self.booster: Any = None
        self._compiled: Any = None

    def fit(self, interactions: sp.csr_matrix, liked: sp.csr_matrix | None = None) -> LearnedRanker:
        interactions = interactions.tocsr()
        liked = (interactions if liked is None else liked).tocsr()
        self.n_items = interactions.shape[1]
        rng = np.random.default_rng(self.seed)
        eligible = np.flatnonzero(np.diff((liked > 0).astype(np.int8).tocsr().indptr) >= MIN_LIKED)
        readers = np.sort(rng.choice(eligible, size=min(len(eligible), self.example_readers), replace=False))
        if len(readers) < MIN_EXAMPLE_READERS:  # nothing to learn: the CF model alone, no other generators
            self.cf.fit(interactions)
            return self
        hidden = _hidden_pairs(liked, readers, rng)
        masked_input, masked_liked = _without(interactions, hidden), _without(liked, hidden)
        generators = fit_generators(self.cf, masked_input, masked_liked)
        features, labels = _examples(
            generators, masked_input[readers], masked_liked[readers], hidden[readers].tocsr()
        )
        self.booster = _fit_booster(features, labels, self.seed)
        if hidden.nnz > REFIT_ABOVE * liked.nnz:
            generators = fit_generators(self.cf, interactions, liked)
        self.generators = generators
        return self

    def score(self, history: sp.csr_matrix, liked: sp.csr_matrix | None = None) -> np.ndarray:
        """The CF scores with each row's head re-ordered by the ranker: the head's own CF values are
        handed out again in the ranker's order (its first pick gets the highest). The scores keep
        EASE's scale and shape, so the hybrid's other signals weigh against them as they were tuned
        to; only the order inside the head changes. ``liked`` marks which cells of ``history`` the
        reader liked (``None``: all of them)."""
        if self.booster is None:
            return np.asarray(self.cf.score(history), dtype=np.float64)
        candidates, features, cf, valid = self.generators.features(history, liked)
        ranked = self._predict(features.reshape(-1, features.shape[-1]), one_reader=history.shape[0] == 1)
        ranked = np.where(valid, ranked.reshape(candidates.shape), -np.inf)
        order = np.argsort(-ranked, axis=1, kind="stable")
        values = np.take_along_axis(cf, candidates, axis=1)  # descending: the head comes sorted
        np.put_along_axis(cf, np.take_along_axis(candidates, order, axis=1), values, axis=1)
        return cf

    def _predict(self, rows: np.ndarray, one_reader: bool) -> np.ndarray:
        """One reader's head (every served request) goes through the trees compiled to machine code
        by lleaves, same output: LightGBM's own predict took 0.5–0.65 ms of a 3.5–5 ms request for
        its 100 rows, the compiled trees 0.15 ms. Batches of readers (the offline runner's) stay with
        LightGBM, whose call overhead they amortise, and need no compiling."""
        if not one_reader:
            return np.asarray(self.booster.predict(rows, num_threads=1))
        return np.asarray(self.compiled_trees().predict(rows, n_jobs=1))

    def compiled_trees(self) -> Any:
        """The booster compiled (about 2 s for 200 trees), once per process: the model loader asks for
        it before the model serves (:meth:`warm_up`), so no request waits. Machine code for this CPU,
        so never saved."""
        if self._compiled is None:
            with _COMPILING:
                if self._compiled is None:
                    self._compiled = _compile(self.booster)
        return self._compiled

    def warm_up(self) -> None:
        """The compiled trees, when there are trees."""
        if self.booster is not None:
            self.compiled_trees()

    def save(self) -> SavedModel:
        """The CF model, and with trees the other generators, the item counts and the booster in
        LightGBM's own text format. The liked-only twin is stored only when it is not the CF model."""
        saved = SavedModel(
            "LearnedRanker",
            {"example_readers": self.example_readers, "seed": self.seed, "n_items": self.n_items},
        )
        saved.parts["cf"] = self.cf.save()
        if self.booster is None:
            return saved
        generators = self.generators
        saved.texts["model"] = self.booster.model_to_string(num_iteration=-1)
        saved.arrays |= {"readers": generators.readers, "likers": generators.likers}
        saved.parts |= {"knn": generators.knn.save(), "als": generators.als.save()}
        if generators.liked_cf is not generators.cf:
            saved.parts["liked_cf"] = generators.liked_cf.save()
        return saved

    @classmethod
    def restore(cls, saved: SavedModel, parts: dict[str, Recommender]) -> LearnedRanker:
        model = cls(parts["cf"], saved.params["example_readers"], saved.params["seed"])
        model.n_items = int(saved.params["n_items"])
        if "model" not in saved.texts:
            return model
        import lightgbm

        model.booster = lightgbm.Booster(model_str=saved.texts["model"])
        model.generators = Generators(
            cf=model.cf,
            knn=parts["knn"],  # type: ignore[arg-type]
            als=parts["als"],  # type: ignore[arg-type]
            readers=saved.arrays["readers"],
            likers=saved.arrays["likers"],
            liked_cf=parts.get("liked_cf", model.cf),
        )
        return model


def _compile(booster: Any) -> Any:
    import lleaves

    with tempfile.TemporaryDirectory() as directory:
        model_file = Path(directory) / "booster.txt"
        booster.save_model(model_file)
        trees = lleaves.Model(model_file=str(model_file))
        trees.compile()
    return trees


def _hidden_pairs(liked: sp.csr_matrix, readers: np.ndarray, rng: np.random.Generator) -> sp.csr_matrix:
    """A 0/1 matrix of the liked pairs hidden from the generators: a share of each sampled reader's."""
    picked = liked[readers].tocsr()
    rows, hide = picked.tocoo(), random_target_mask(picked, HIDDEN_SHARE, rng)
    return sp.csr_matrix(
        (np.ones(int(hide.sum()), dtype=np.float32), (readers[rows.row[hide]], rows.col[hide])),
        shape=liked.shape,
    )


def _examples(
    generators: Generators,
    histories: sp.csr_matrix,
    liked: sp.csr_matrix,
    hidden: sp.csr_matrix,
    batch: int = 500,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Features of each training reader's head and which of those books were hidden (the labels);
    in batches, as each holds dense catalog-wide score rows."""
    features, labels = [], []
    for start in range(0, histories.shape[0], batch):
        rows = slice(start, start + batch)
        candidates, batch_features, _, valid = generators.features(histories[rows], liked[rows])
        for row, items in enumerate(candidates):
            found = hidden.indices[hidden.indptr[start + row] : hidden.indptr[start + row + 1]]
            features.append(batch_features[row][valid[row]])
            labels.append(np.isin(items[valid[row]], found).astype(np.int8))
    return features, labels


def _without(matrix: sp.csr_matrix, hidden: sp.csr_matrix) -> sp.csr_matrix:
    kept = matrix - matrix.multiply(hidden > 0)
    kept = sp.csr_matrix(kept)
    kept.eliminate_zeros()
    return kept


def _fit_booster(features: list[np.ndarray], labels: list[np.ndarray], seed: int) -> Any:
    """Boosted trees over every example reader's head; ``None`` when no hidden book made a head."""
    kept = [index for index, reader in enumerate(labels) if len(reader)]
    if not any(labels[index].any() for index in kept):
        return None
    features, labels = [features[index] for index in kept], [labels[index] for index in kept]
    import lightgbm

    examples = lightgbm.Dataset(np.concatenate(features), np.concatenate(labels))
    return lightgbm.train({**LIGHTGBM_PARAMS, "seed": seed}, examples, num_boost_round=TREES)
