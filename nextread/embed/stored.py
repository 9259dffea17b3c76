"""Item vectors kept in the store (``item_embeddings``), keyed by the embedder and a hash of the text.

Training asks for every item's vector; only items whose text changed since they were last embedded,
new items, or all items after a change of embedder are sent to the model. On a 10k-book catalog that
turns a minutes-long re-embedding into a table read. Vectors are embedded and stored a chunk at a time,
so a long first embedding reports its progress and a training stopped half-way keeps what it embedded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from nextread.embed.select import Embedder
from nextread.store.db import session_scope
from nextread.store.models import Item, ItemEmbedding

WRITE_CHUNK = 2000
EMBED_CHUNK = 256
EmbedProgress = Callable[[int, int], None]
"""Called with (texts embedded so far, texts to embed) after each chunk."""


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def item_vectors(
    sessions: sessionmaker[Session],
    tenant_id: int,
    item_ids: Sequence[int],
    texts: Sequence[str],
    embedder: Embedder,
    embedder_key: str,
    progress: EmbedProgress | None = None,
) -> tuple[np.ndarray, int]:
    """Vectors aligned with ``item_ids`` and how many had to be (re-)embedded. The model runs outside
    any transaction, so a long embedding never holds the database."""
    hashes = [text_hash(text) for text in texts]
    with session_scope(sessions) as session:
        stored = _stored(session, tenant_id, embedder_key)
    stale = [
        i
        for i, (pk, digest) in enumerate(zip(item_ids, hashes, strict=True))
        if stored.get(pk, ("",))[0] != digest
    ]
    fresh = _embed_and_store(sessions, embedder, embedder_key, stale, item_ids, texts, hashes, progress)
    dimension = fresh.shape[1] if fresh is not None else len(next(iter(stored.values()))[1])
    vectors = np.empty((len(item_ids), dimension), dtype=np.float32)
    stale_set = set(stale)
    for i, pk in enumerate(item_ids):
        if i not in stale_set:
            vectors[i] = stored[pk][1]
    if fresh is not None:
        vectors[stale] = fresh
    return vectors, len(stale)


def _embed_and_store(
    sessions: sessionmaker[Session],
    embedder: Embedder,
    embedder_key: str,
    stale: list[int],
    item_ids: Sequence[int],
    texts: Sequence[str],
    hashes: list[str],
    progress: EmbedProgress | None,
) -> np.ndarray | None:
    """The stale items' vectors, embedded ``EMBED_CHUNK`` at a time, each chunk stored once embedded."""
    if not stale:
        return None
    chunks = []
    for start in range(0, len(stale), EMBED_CHUNK):
        rows = stale[start : start + EMBED_CHUNK]
        vectors = embedder.embed([texts[i] for i in rows])
        _save(sessions, [item_ids[i] for i in rows], [hashes[i] for i in rows], vectors, embedder_key)
        chunks.append(vectors)
        if progress is not None:
            progress(start + len(rows), len(stale))
    return np.concatenate(chunks)


def _stored(session: Session, tenant_id: int, embedder_key: str) -> dict[int, tuple[str, np.ndarray]]:
    rows = session.execute(
        select(ItemEmbedding.item_id, ItemEmbedding.text_hash, ItemEmbedding.vector)
        .join(Item, Item.id == ItemEmbedding.item_id)
        .where(Item.tenant_id == tenant_id, ItemEmbedding.embedder == embedder_key)
    )
    return {pk: (digest, np.frombuffer(vector, dtype=np.float32)) for pk, digest, vector in rows}


def _save(
    sessions: sessionmaker[Session], item_ids: list[int], hashes: list[str], vectors: np.ndarray, key: str
) -> None:
    for start in range(0, len(item_ids), WRITE_CHUNK):
        chunk = slice(start, start + WRITE_CHUNK)
        with session_scope(sessions) as session:
            session.execute(delete(ItemEmbedding).where(ItemEmbedding.item_id.in_(item_ids[chunk])))
            session.add_all(
                ItemEmbedding(
                    item_id=pk, embedder=key, text_hash=digest, vector=vector.astype(np.float32).tobytes()
                )
                for pk, digest, vector in zip(item_ids[chunk], hashes[chunk], vectors[chunk], strict=True)
            )
