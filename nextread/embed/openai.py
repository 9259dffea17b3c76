"""Text embeddings from any OpenAI-compatible ``POST {base_url}/embeddings`` endpoint.

Operators who already run an embedding service (OpenAI, Azure, vLLM, Ollama, LiteLLM, text-embeddings-
inference) can point nextread at it instead of the bundled model. Vectors are L2-normalised here so every
embedder hands the rest of the system the same thing: unit float32 rows where dot product is cosine.
"""

from __future__ import annotations

import httpx
import numpy as np


class EmbedderError(RuntimeError):
    """The configured embedding service failed; the message names the URL and what went wrong (never
    the API key), so an operator can tell a wrong address from a wrong key from a broken server."""


class OpenAIEmbedder:
    """One pooled HTTP client per process; texts go out in batches because providers cap the inputs
    per request (OpenAI: 2,048) and one huge request is one huge timeout."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str,
        timeout: float = 10.0,
        batch_size: int = 256,
        dimensions: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.url = base_url.rstrip("/") + "/embeddings"
        self.model = model
        self.batch_size = batch_size
        self.dimensions = dimensions
        self._dimension = dimensions
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout, headers=headers)

    @property
    def dimension(self) -> int | None:
        """Known up front when the spec asks for ``dimensions``, otherwise after the first answer:
        the model decides, and asking it costs a request that start-up should not make."""
        return self._dimension

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dimension or 0), dtype=np.float32)
        batches = [
            self._embed_batch(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)
        ]
        return np.concatenate(batches)

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        body: dict[str, object] = {"model": self.model, "input": texts}
        if self.dimensions is not None:
            body["dimensions"] = self.dimensions
        try:
            response = self._client.post(self.url, json=body)
        except httpx.TimeoutException as error:
            raise EmbedderError(f"embedder {self.url}: no answer within the timeout ({error})") from error
        except httpx.HTTPError as error:
            raise EmbedderError(f"embedder {self.url}: request failed ({error})") from error
        if response.status_code >= 400:
            raise EmbedderError(
                f"embedder {self.url}: HTTP {response.status_code}: {response.text[:300].strip()}"
            )
        vectors = self._parse(response, len(texts))
        return _unit_rows(vectors)

    def _parse(self, response: httpx.Response, expected: int) -> np.ndarray:
        """Rows in input order: the API may answer in any order and says where each row belongs."""
        try:
            data = response.json()["data"]
            ordered = sorted(data, key=lambda row: int(row["index"]))
            vectors = np.array([row["embedding"] for row in ordered], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as error:
            raise EmbedderError(f"embedder {self.url}: malformed response ({error!r})") from error
        indices = [int(row["index"]) for row in ordered]
        if indices != list(range(expected)) or vectors.ndim != 2 or vectors.shape[1] == 0:
            raise EmbedderError(
                f"embedder {self.url}: malformed response: expected {expected} vectors indexed "
                f"0..{expected - 1}, got shape {vectors.shape} with indices {indices[:10]}"
            )
        if not np.isfinite(vectors).all():
            raise EmbedderError(f"embedder {self.url}: malformed response: non-finite values")
        if self._dimension is None:
            self._dimension = int(vectors.shape[1])
        elif vectors.shape[1] != self._dimension:
            raise EmbedderError(
                f"embedder {self.url}: vectors of dimension {vectors.shape[1]}, expected {self._dimension}"
            )
        return vectors


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Not every compatible server normalises; a zero row stays zero rather than becoming NaN."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)
