"""similar_items on a catalog larger than its candidate depth: the index and CF candidates are blended."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from nextread.services.recommend import RecommendationService, ServedCatalog
from nextread.services.training import Artifact

ITEMS = 1_000


class OneFriendCF:
    """CF that knows one thing: readers of book 0 love book 999, a content stranger."""

    def score(self, history: Any) -> np.ndarray:
        scores = np.zeros((1, ITEMS))
        if history[0, 0]:
            scores[0, 999] = 10.0
        return scores


def _service(present: np.ndarray) -> tuple[RecommendationService, Artifact]:
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((ITEMS, 32)).astype(np.float32)
    vectors[:300] += 4.0 * rng.standard_normal(32).astype(np.float32)  # a 300-book cluster around book 0
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    artifact = Artifact(
        1, 1, 0.0, np.arange(ITEMS), {}, 45.0, OneFriendCF(), np.zeros(ITEMS), embeddings=vectors
    )
    registry = SimpleNamespace(ensure=lambda tenant_id: artifact)
    service = RecommendationService(registry)  # type: ignore[arg-type]
    served = ServedCatalog(1, 0.0, None, None, [], present, [])  # type: ignore[arg-type]
    service.catalog = lambda session, tenant_id, artifact: served  # type: ignore[method-assign]
    return service, artifact


def test_content_neighbours_and_a_cf_favourite_outside_them_are_both_found() -> None:
    present = np.ones(ITEMS, dtype=bool)
    present[[1, 2]] = False  # withdrawn from the catalog since training
    service, artifact = _service(present)
    picks = service.similar_items(None, 1, SimpleNamespace(id=0, title="The First Book"), 10).results  # type: ignore[arg-type]
    columns = [pick.item_index for pick in picks]
    scores = [pick.score for pick in picks]
    assert len(columns) == 10 and 0 not in columns and not {1, 2} & set(columns)
    assert scores == sorted(scores, reverse=True)
    assert 999 in columns  # not among the 200 content neighbours, but CF's favourite
    content = artifact.embeddings[:300] @ artifact.embeddings[0]
    content_top = set(np.argsort(-content)[1:60].tolist())
    assert len(set(columns) - {999} - content_top) == 0, columns
