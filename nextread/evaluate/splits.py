"""Train / validation / test splits for the offline protocol.

Strong generalisation holds out whole users: models never see a test user while training and must
recommend from a partial history given at scoring time, exactly as for a new student in production.
The time split instead asks "given everything before a date, what happens next?".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from nextread.engine.ranker import random_target_mask
from nextread.evaluate.data import InteractionData


@dataclass(frozen=True)
class HeldOut:
    """Rows of held-out users: ``fold_in`` is given to the model, ``target`` is what it should find.
    ``consumed`` holds what they had without liking it (known at scoring time, never a target)."""

    users: np.ndarray
    fold_in: sp.csr_matrix
    target: sp.csr_matrix
    consumed: sp.csr_matrix | None = None


@dataclass(frozen=True)
class Split:
    """Tuning fits on ``validation_train`` and scores ``validation``; the chosen configuration is
    then fitted on ``train`` and scores ``test``. Both matrices span every user row so that indices
    stay global; rows of held-out users are simply empty."""

    name: str
    train: sp.csr_matrix
    validation_train: sp.csr_matrix
    validation: HeldOut
    test: HeldOut
    train_consumed: sp.csr_matrix | None = None
    validation_train_consumed: sp.csr_matrix | None = None


def keep_rows(matrix: sp.csr_matrix, rows: np.ndarray) -> sp.csr_matrix:
    """Zero every row not listed while keeping the shape (and so the user indices)."""
    mask = np.zeros(matrix.shape[0], dtype=matrix.dtype)
    mask[rows] = 1
    kept = sp.diags(mask) @ matrix
    kept.eliminate_zeros()
    return kept.tocsr()


def split_entries(
    matrix: sp.csr_matrix, is_target: np.ndarray, users: np.ndarray, consumed: sp.csr_matrix | None = None
) -> HeldOut:
    """Partition the listed users' rows by a boolean over ``matrix.data``; their ``consumed`` rows go
    with the fold-in."""
    rows = matrix[users]
    target_mask = is_target.reshape(-1)
    coo = rows.tocoo()
    shape = rows.shape
    fold_in = sp.csr_matrix((coo.data[~target_mask], (coo.row[~target_mask], coo.col[~target_mask])), shape)
    target = sp.csr_matrix((coo.data[target_mask], (coo.row[target_mask], coo.col[target_mask])), shape)
    return HeldOut(users, fold_in, target, None if consumed is None else consumed[users])


def heldout_size(n_users: int, heldout_fraction: float, min_heldout: int) -> int:
    """Enough held-out users for stable means, but never more than a quarter of users per set."""
    return int(min(max(round(heldout_fraction * n_users), min_heldout), n_users // 4))


def strong_generalization_split(
    data: InteractionData,
    seed: int,
    heldout_fraction: float = 0.1,
    min_heldout: int = 100,
    target_fraction: float = 0.2,
) -> Split:
    """Disjoint train / validation / test users; each held-out user's positives split 80/20 at random.
    Test users are never in any training matrix; validation users only in the final refit."""
    rng = np.random.default_rng(seed)
    n_heldout = heldout_size(data.n_users, heldout_fraction, min_heldout)
    if n_heldout < 1:
        raise ValueError(
            f"{data.name}: {data.n_users} users are too few to hold out validation and test users"
        )
    users = rng.permutation(data.n_users)
    test_users, validation_users = np.sort(users[:n_heldout]), np.sort(users[n_heldout : 2 * n_heldout])
    train_users = np.sort(users[2 * n_heldout :])
    consumed = data.consumed
    held = [
        split_entries(
            data.matrix, random_target_mask(data.matrix[group], target_fraction, rng), group, consumed
        )
        for group in (validation_users, test_users)
    ]
    # Tuning fits on the training users; the chosen configuration is refitted on them and the validation
    # users' whole histories, as the time split's test model learns from the validation period too.
    final_users = np.union1d(train_users, validation_users)
    validation_train = keep_rows(data.matrix, train_users)
    train = keep_rows(data.matrix, final_users)
    return Split(
        "strong generalization",
        train,
        validation_train,
        held[0],
        held[1],
        None if consumed is None else keep_rows(consumed, final_users),
        None if consumed is None else keep_rows(consumed, train_users),
    )


def before_cutoff(matrix: sp.csr_matrix, timestamps: np.ndarray, cutoff: float) -> sp.csr_matrix:
    """The entries whose time (aligned with ``matrix.data``) is before the cutoff."""
    before = matrix.copy()
    before.data = np.where(timestamps >= cutoff, 0, before.data).astype(matrix.dtype)
    before.eliminate_zeros()
    return before.tocsr()


def time_cutoff_held_out(
    matrix: sp.csr_matrix, timestamps: np.ndarray, cutoff: float, consumed: sp.csr_matrix | None = None
) -> tuple[sp.csr_matrix, HeldOut]:
    """Everything before the cutoff trains; users with events on both sides are evaluated on the rest.
    ``consumed`` must already be cut (nothing after the cutoff is known at scoring time)."""
    after = timestamps >= cutoff
    row_of_entry = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    n_after = np.bincount(row_of_entry, weights=after, minlength=matrix.shape[0])
    n_before = np.diff(matrix.indptr) - n_after
    users = np.flatnonzero((n_after > 0) & (n_before > 0))
    user_entries = np.isin(row_of_entry, users)
    return before_cutoff(matrix, timestamps, cutoff), split_entries(
        matrix, after[user_entries], users, consumed
    )


def time_cutoff_split(data: InteractionData, quantile: float = 0.8) -> Split:
    """Global cutoff at a quantile of event times. Validation repeats the same cut inside the training
    period, so tuning never looks past the test cutoff."""
    if data.timestamps is None:
        raise ValueError(f"{data.name}: the time split needs a timestamp column")
    cutoff = float(np.quantile(data.timestamps, quantile))
    before = data.timestamps < cutoff
    validation_cutoff = float(np.quantile(data.timestamps[before], quantile))
    consumed = validation_consumed = None
    if data.consumed is not None and data.consumed_times is not None:
        consumed = before_cutoff(data.consumed, data.consumed_times, cutoff)
        validation_consumed = before_cutoff(data.consumed, data.consumed_times, validation_cutoff)
    train, test = time_cutoff_held_out(data.matrix, data.timestamps, cutoff, consumed)
    validation_train, validation = time_cutoff_held_out(
        train, data.timestamps[before], validation_cutoff, validation_consumed
    )
    if len(test.users) == 0 or len(validation.users) == 0:
        raise ValueError(f"{data.name}: no user is active on both sides of the time cutoff")
    return Split("time cutoff", train, validation_train, validation, test, consumed, validation_consumed)
