"""Splits: disjoint users, 80/20 per held-out user, nothing from before the cutoff in a time target."""

from __future__ import annotations

import numpy as np
import pytest

from nextread.evaluate.data import InteractionData, from_arrays, with_consumed
from nextread.evaluate.splits import strong_generalization_split, time_cutoff_split


@pytest.fixture
def data() -> InteractionData:
    rng = np.random.default_rng(7)
    users, items, times = [], [], []
    for user in range(400):
        chosen = rng.choice(60, size=rng.integers(5, 30), replace=False)
        users += [f"u{user}"] * len(chosen)
        items += [f"i{item}" for item in chosen]
        times += list(rng.uniform(0, 1000, len(chosen)))
    return from_arrays(np.array(users), np.array(items), np.array(times))


def test_strong_generalization_users_are_disjoint(data: InteractionData) -> None:
    split = strong_generalization_split(data, seed=1)
    train_users = set(np.flatnonzero(np.diff(split.validation_train.indptr) > 0))
    validation, test = set(split.validation.users), set(split.test.users)
    assert len(test) == len(validation) == 100  # 10% of 400 is below the minimum of 100
    assert not (train_users & validation) and not (train_users & test) and not (validation & test)
    assert len(train_users) + len(validation) + len(test) == data.n_users
    # the chosen configuration is refitted on the training and validation users, never the test users
    final_users = set(np.flatnonzero(np.diff(split.train.indptr) > 0))
    assert final_users == train_users | validation
    assert (split.train[split.validation.users] != data.matrix[split.validation.users]).nnz == 0


def test_strong_generalization_holds_out_a_fifth_of_each_history(data: InteractionData) -> None:
    split = strong_generalization_split(data, seed=1)
    sizes = np.diff(data.matrix.indptr)[split.test.users]
    n_target = np.diff(split.test.target.indptr)
    n_fold_in = np.diff(split.test.fold_in.indptr)
    assert (n_target + n_fold_in == sizes).all()
    assert (n_target == np.maximum(np.round(sizes * 0.2), 1)).all()
    recombined = split.test.fold_in + split.test.target
    assert (recombined != data.matrix[split.test.users]).nnz == 0
    assert split.test.fold_in.multiply(split.test.target).nnz == 0


def test_strong_generalization_depends_on_seed_only(data: InteractionData) -> None:
    first, again = strong_generalization_split(data, seed=3), strong_generalization_split(data, seed=3)
    other = strong_generalization_split(data, seed=4)
    assert (first.test.users == again.test.users).all()
    assert (first.test.target != again.test.target).nnz == 0
    assert not np.array_equal(first.test.users, other.test.users)


def test_time_split_targets_only_after_cutoff(data: InteractionData) -> None:
    split = time_cutoff_split(data, quantile=0.8)
    cutoff = np.quantile(data.timestamps, 0.8)
    times = data.matrix.copy()
    times.data = data.timestamps
    test_times = times[split.test.users]
    assert (test_times.multiply(split.test.target > 0).data >= cutoff).all()
    assert (test_times.multiply(split.test.fold_in > 0).data < cutoff).all()
    assert (times.multiply(split.train > 0).data < cutoff).all()
    assert (np.diff(split.test.target.indptr) > 0).all() and (np.diff(split.test.fold_in.indptr) > 0).all()


def test_time_split_validation_never_sees_the_test_period(data: InteractionData) -> None:
    split = time_cutoff_split(data, quantile=0.8)
    validation_rows = split.train[split.validation.users]
    assert (split.validation_train - split.validation_train.multiply(split.train)).nnz == 0
    assert (split.validation.target - split.validation.target.multiply(validation_rows)).nnz == 0
    assert split.validation_train[split.validation.users].multiply(split.validation.target).nnz == 0


def with_consumed_pairs(data: InteractionData) -> InteractionData:
    """Every user also had the item after their last liked one, consumed at a random time."""
    rng = np.random.default_rng(3)
    last = np.array([row.indices.max() for row in data.matrix])
    items = np.array([f"i{item}" for item in (last + 1) % data.n_items])
    return with_consumed(data, data.user_ids, items, rng.uniform(0, 1000, data.n_users))


def test_consumed_pairs_follow_their_users(data: InteractionData) -> None:
    data = with_consumed_pairs(data)
    split = strong_generalization_split(data, seed=1)
    assert split.train_consumed is not None and split.test.consumed is not None
    consumed_users = set(np.flatnonzero(np.diff(split.train_consumed.indptr) > 0))
    assert consumed_users <= set(np.flatnonzero(np.diff(split.train.indptr) > 0))
    assert (split.test.consumed != data.consumed[split.test.users]).nnz == 0
    assert split.test.consumed.multiply(split.test.target).nnz == 0


def test_time_split_knows_only_consumption_before_its_cutoff(data: InteractionData) -> None:
    data = with_consumed_pairs(data)
    split = time_cutoff_split(data)
    assert data.consumed_times is not None and data.timestamps is not None
    cutoff = np.quantile(data.timestamps, 0.8)
    early = int((data.consumed_times < cutoff).sum())
    assert split.train_consumed is not None and split.train_consumed.nnz == early
    assert split.validation_train_consumed is not None
    assert 0 < split.validation_train_consumed.nnz < early
    assert split.test.consumed is not None
    assert (split.test.consumed != split.train_consumed[split.test.users]).nnz == 0
