"""End to end on synthetic taste clusters: a model that learns co-occurrence must beat popularity and
random scores, and the output must carry every protocol metric as mean ± std over seeds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import typer
from typer.testing import CliRunner

from nextread.cli.evaluate import evaluate_command
from nextread.engine.collaborative import Popularity
from nextread.evaluate.data import InteractionData, from_arrays, with_consumed
from nextread.evaluate.models import DEFAULT_MODEL, select
from nextread.evaluate.runner import configurations, evaluate, fit, format_markdown, recommend, to_json
from nextread.evaluate.splits import strong_generalization_split


class RandomScores:
    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)

    def fit(self, interactions: sp.csr_matrix) -> RandomScores:
        return self

    def score(self, history: sp.csr_matrix) -> np.ndarray:
        return self.rng.random(history.shape)


class CoOccurrence:
    """Items liked together; ``shrink`` only exists to give the tuner something to choose."""

    def __init__(self, shrink: float = 0.0):
        self.shrink = shrink

    def fit(self, interactions: sp.csr_matrix) -> CoOccurrence:
        self.similarity = (interactions.T @ interactions).toarray() / (1.0 + self.shrink)
        np.fill_diagonal(self.similarity, 0.0)
        return self

    def score(self, history: sp.csr_matrix) -> np.ndarray:
        return np.asarray(history @ self.similarity)


def clustered_interactions(n_users: int = 500, n_items: int = 80, seed: int = 0) -> InteractionData:
    """Four taste clusters of 20 items each, plus a little popular noise, with timestamps."""
    rng = np.random.default_rng(seed)
    users, items = [], []
    for user in range(n_users):
        cluster = rng.integers(4)
        liked = rng.choice(np.arange(20) + 20 * cluster, size=rng.integers(6, 14), replace=False)
        noise = rng.choice(n_items, size=2, replace=False)
        for item in np.union1d(liked, noise):
            users.append(f"u{user}")
            items.append(f"i{item}")
    times = rng.uniform(0, 1e6, len(users))
    return from_arrays(np.array(users), np.array(items), times, name="clusters")


@pytest.fixture(scope="module")
def results() -> dict:
    data = clustered_interactions()
    models = {"random": RandomScores, "popularity": Popularity, "co-occurrence": CoOccurrence}
    grids = {"co-occurrence": {"shrink": [0.0, 1.0, 2.0]}}
    return evaluate(data, models, grids, seeds=(0, 1), budget=2)


def test_signal_beats_popularity_and_random(results: dict) -> None:
    for split in ("strong generalization", "time cutoff"):
        by_model = results["splits"][split]
        ndcg = {name: summary["metrics"]["NDCG@10"]["mean"] for name, summary in by_model.items()}
        assert ndcg["co-occurrence"] > ndcg["popularity"] > ndcg["random"]
        assert ndcg["co-occurrence"] > 0.4


def test_same_budget_for_every_model(results: dict) -> None:
    summary = results["splits"]["strong generalization"]["co-occurrence"]
    assert len(summary["params"]) == 2 and all(len(params) == 1 for params in summary["params"])
    assert summary["metrics"]["Recall@20"]["values"] and len(summary["metrics"]["Recall@20"]["values"]) == 2


def test_outputs_markdown_and_json(results: dict) -> None:
    markdown = format_markdown(results)
    assert "| co-occurrence |" in markdown and "±" in markdown and "**time cutoff**" in markdown
    assert json.loads(to_json(results))["splits"]["strong generalization"]["random"]["metrics"]["HR@10"]


def test_configurations_respect_budget() -> None:
    rng = np.random.default_rng(0)
    grid = {"a": [1, 2, 3], "b": [10, 20]}
    assert len(configurations(grid, 10, rng)) == 6
    sampled = configurations(grid, 4, rng)
    assert len(sampled) == 4 and len({tuple(c.items()) for c in sampled}) == 4
    assert configurations({}, 5, rng) == [{}]


def test_default_model_runs_through_the_command(tmp_path: Path) -> None:
    data = clustered_interactions(n_users=420, seed=1)
    factories, _ = select(data)
    assert DEFAULT_MODEL in factories
    app = typer.Typer()
    app.command("evaluate")(evaluate_command)
    app.command("noop")(lambda: None)
    rows = ["user_id,item_id,rating,timestamp"]
    matrix = data.matrix.tocoo()
    rows += [
        f"{data.user_ids[u]},{data.item_ids[i]},5,{t}"
        for u, i, t in zip(matrix.row, matrix.col, data.timestamps, strict=True)
    ]
    csv = tmp_path / "interactions.csv"
    csv.write_text("\n".join(rows))
    arguments = [
        "evaluate",
        "--data",
        str(csv),
        "--seeds",
        "1",
        "--budget",
        "2",
        "--out",
        str(tmp_path / "out"),
    ]
    result = CliRunner().invoke(app, [*arguments, "--models", f"popularity,{DEFAULT_MODEL}"])
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    ours = saved["splits"]["strong generalization"][DEFAULT_MODEL]["metrics"]["NDCG@10"]["mean"]
    assert ours > saved["splits"]["strong generalization"]["popularity"]["metrics"]["NDCG@10"]["mean"]
    assert f"| {DEFAULT_MODEL} |" in (tmp_path / "out" / "results.md").read_text()
    blank = CliRunner().invoke(app, [*arguments, "--positive-types", " , "])
    assert blank.exit_code == 2 and "--positive-types" in blank.output
    typed = CliRunner().invoke(app, [*arguments, "--type-column", "rating", "--positive-types", "7"])
    assert typed.exit_code == 2 and "no user has 5" in typed.output  # no event has type "7"
    missing = CliRunner().invoke(app, [*arguments, "--users", str(tmp_path / "nobody.csv")])
    assert missing.exit_code == 2 and "file not found" in missing.output and "--users" in missing.output


class ReadsProfiles(CoOccurrence):
    """Records which users the runner says the scored rows are."""

    reads_profiles = True

    def score(self, history: sp.csr_matrix, users: np.ndarray | None = None) -> np.ndarray:
        self.scored_users = [*getattr(self, "scored_users", []), *users.tolist()]
        return super().score(history)


def test_models_that_read_profiles_are_told_which_users_they_score() -> None:
    data = clustered_interactions(n_users=300, seed=2)
    split = strong_generalization_split(data, seed=0)
    model = ReadsProfiles().fit(split.train)
    recommend(model, split.test)
    assert model.scored_users == split.test.users.tolist()


class ReadsConsumed(CoOccurrence):
    """Records what the runner hands a model that asks for consumed-but-not-liked events."""

    reads_consumed = True

    def fit(self, interactions: sp.csr_matrix, consumed: sp.csr_matrix | None = None) -> ReadsConsumed:
        self.fitted_with = consumed
        return super().fit(interactions)

    def score(self, history: sp.csr_matrix, consumed: sp.csr_matrix | None = None) -> np.ndarray:
        self.scored_with = consumed
        return super().score(history)


def test_consumed_items_are_never_recommended_and_reach_only_models_that_read_them() -> None:
    data = clustered_interactions(n_users=420, seed=2)
    popular = np.argsort(-np.asarray(data.matrix.sum(axis=0)).ravel())[:3]
    users = np.repeat(data.user_ids, len(popular))
    items = np.tile(data.item_ids[popular], data.n_users)
    data = with_consumed(data, users, items, None)
    split = strong_generalization_split(data, seed=0)
    consumed = split.test.consumed
    assert consumed is not None and consumed.nnz > 0
    for model in (Popularity().fit(split.train), ReadsConsumed().fit(split.train, split.train_consumed)):
        lists = recommend(model, split.test, n=10)
        rows, columns = consumed.nonzero()
        assert all(columns[k] not in lists[rows[k]] for k in range(len(rows)))
    model = ReadsConsumed()
    fit(model, split.train, split.train_consumed)
    recommend(model, split.test)
    assert model.fitted_with is split.train_consumed
    assert model.scored_with is not None and (model.scored_with != consumed).nnz == 0
