"""Item vectors kept in the store (``item_embeddings``), keyed by the embedder and a hash of the text.

Training asks for every item's vector; only items whose text changed since they were last embedded,
new items, or all items after a change of embedder are sent to the model. On a 10k-book catalog that
turns a minutes-long re-embedding into a table read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from nextread.embed.select import Embedder
from nextread.store.db import session_scope
from nextread.store.models import Item, ItemEmbedding

WRITE_CHUNK = 2000


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def item_vectors(
    sessions: sessionmaker[Session],
    tenant_id: int,
    item_ids: Sequence[int],
    texts: Sequence[str],
    embedder: Embedder,
    embedder_key: str,
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
    fresh = embedder.embed([texts[i] for i in stale]) if stale else None
    dimension = fresh.shape[1] if fresh is not None else len(next(iter(stored.values()))[1])
    vectors = np.empty((len(item_ids), dimension), dtype=np.float32)
    stale_set = set(stale)
    for i, pk in enumerate(item_ids):
        if i not in stale_set:
            vectors[i] = stored[pk][1]
    if fresh is not None:
        vectors[stale] = fresh
        _save(sessions, [item_ids[i] for i in stale], [hashes[i] for i in stale], fresh, embedder_key)
    return vectors, len(stale)


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
