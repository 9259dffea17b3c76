"""The one interface every recommender implements, so training, serving and the offline evaluation
drive any of them (ours and the peers alike) without asking which one it is.

A fitted model's state leaves the process as a :class:`SavedModel`: JSON parameters, plain numpy
arrays and text (LightGBM's own model format), never code. :mod:`nextread.engine.model_files` writes
it to disk and checks it on the way back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Self

import numpy as np
import scipy.sparse as sp


@dataclass
class SavedModel:
    """A fitted model as data: its class's ``kind``, JSON-able ``params``, numeric ``arrays``, ``texts``
    and nested models (``parts``, e.g. a learned ranker's candidate generators). One part may appear
    under several names (the same fitted object twice); it is stored once per name and restored as
    separate objects unless the owner's ``restore`` ties them together again."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    parts: dict[str, SavedModel] = field(default_factory=dict)


class Recommender(Protocol):
    """``fit`` on a users × items matrix; ``score`` any history rows (a reader unseen in training is
    just a row: that is how held-out readers are evaluated and how a live reader's newest events are
    folded in). ``liked``, always by keyword, marks which of the cells the reader liked when the input
    also carries weaker evidence (books read without liking them); ``None`` means all, and models that
    do not use the distinction ignore it. ``warm_up`` builds what a model needs per process before it
    serves (a learned ranker's compiled trees) so no request waits for it."""

    n_items: int

    def fit(self, interactions: sp.csr_matrix, *, liked: sp.csr_matrix | None = None) -> Self: ...

    def score(self, history: sp.csr_matrix, *, liked: sp.csr_matrix | None = None) -> np.ndarray: ...

    def similar_items(self, item_index: int, n: int = 10) -> tuple[np.ndarray, np.ndarray]: ...

    def save(self) -> SavedModel: ...

    def warm_up(self) -> None: ...
