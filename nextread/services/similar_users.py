"""Readers like this one, inside one tenant: co-reading first, reading level second.

:func:`similar_rows` is plain numpy/scipy over a user×item matrix; :func:`find_similar_users` reads a
single tenant's users and events (never another tenant's) and names the neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from nextread.levels import level_from
from nextread.services.training import event_weights, weighted_matrix
from nextread.store.models import User
from nextread.store.reading_data import NOT_CONSUMED, load_events
from nextread.store.tenants import interaction_weights

# Share of the similarity that comes from reading level when both levels are known: readers a grade
# apart with the same books are closer than readers at one level who share nothing.
LEVEL_WEIGHT = 0.25
# Level gap (grade units) at which level similarity reaches 0.
LEVEL_SPAN = 2.0


@dataclass(frozen=True)
class Neighbours:
    rows: np.ndarray
    similarity: np.ndarray
    shared: np.ndarray


def similar_rows(
    taste: sp.csr_matrix,
    consumed: sp.csr_matrix,
    levels: np.ndarray,
    target: int,
    n: int,
    level_weight: float = LEVEL_WEIGHT,
) -> Neighbours:
    """Rows most similar to ``target``: cosine of their weighted taste rows, blended with level
    closeness ``max(0, 1 − |Δlevel| / LEVEL_SPAN)`` by ``level_weight`` where both levels are known
    (NaN = unknown). ``consumed`` is the binary read matrix the shared-book counts come from. Rows
    with no similarity at all are left out: "similar" must mean something."""
    taste = sp.csr_matrix(taste, dtype=np.float64)
    norms = np.sqrt(np.asarray(taste.multiply(taste).sum(axis=1)).ravel())
    dots = np.asarray((taste @ taste[target].T).todense()).ravel()
    denominator = norms * norms[target]
    cosine = np.divide(dots, denominator, out=np.zeros(len(dots)), where=denominator > 0)
    gap = np.abs(np.asarray(levels, dtype=np.float64) - levels[target])
    known = np.isfinite(gap)
    closeness = np.where(known, np.maximum(0.0, 1.0 - np.nan_to_num(gap) / LEVEL_SPAN), 0.0)
    similarity = np.where(known, (1 - level_weight) * cosine + level_weight * closeness, cosine)
    similarity[target] = 0.0
    order = np.lexsort((np.arange(len(similarity)), -similarity))
    order = order[similarity[order] > 0][:n]
    binary = sp.csr_matrix(consumed, dtype=np.float64)
    binary.data[:] = 1.0
    shared = np.asarray((binary[order] @ binary[target].T).todense()).ravel().astype(np.int64)
    return Neighbours(order, similarity[order], shared)


class SimilarUser(BaseModel):
    id: str
    display_name: str | None
    similarity: float = Field(description="0–1: co-reading cosine blended with reading-level closeness.")
    shared_books: int = Field(description="Books both have read.")


def find_similar_users(session: Session, tenant_id: int, user: User, n: int = 10) -> list[SimilarUser]:
    """The ``n`` readers of ``user``'s tenant most like them. Only this tenant's users and events are
    read, so no other school's children can ever appear."""
    users = list(session.scalars(select(User).where(User.tenant_id == tenant_id).order_by(User.id)))
    row_of = {candidate.id: row for row, candidate in enumerate(users)}
    events = load_events(session, tenant_id)
    rows = np.array([row_of[pk] for pk in events.user.tolist()], dtype=np.int64)
    items, columns = np.unique(events.item, return_inverse=True)
    shape = (len(users), len(items))
    type_weights = {name: weight for name, (weight, _) in interaction_weights(session, tenant_id).items()}
    # No time decay: having read the same books is a fact whenever it happened.
    weights = event_weights(events, type_weights, half_life_days=np.inf, now=0.0)
    taste = weighted_matrix(rows, columns, weights, shape)
    read = np.array([kind not in NOT_CONSUMED for kind in events.type], dtype=bool)
    consumed = sp.csr_matrix((np.ones(read.sum()), (rows[read], columns[read])), shape=shape)
    levels = np.array(
        [
            np.nan if (level := level_from(u.lexile, u.guided_reading_level, u.grade)) is None else level
            for u in users
        ]
    )
    found = similar_rows(taste, consumed, levels, row_of[user.id], n)
    return [
        SimilarUser(
            id=users[row].external_id,
            display_name=users[row].display_name,
            similarity=round(float(score), 4),
            shared_books=int(shared),
        )
        for row, score, shared in zip(found.rows.tolist(), found.similarity, found.shared, strict=True)
    ]
