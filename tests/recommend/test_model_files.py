"""Model folders: what is written is what loads, a changed or missing file is refused by name, and the
pickles of older releases are retired by ``nextread db upgrade`` without ever being read."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sqlalchemy import select
from typer.testing import CliRunner

from nextread.cli import app
from nextread.config import Settings, get_settings
from nextread.engine.collaborative import EASE
from nextread.engine.model_files import FORMAT_VERSION, ModelFileError
from nextread.engine.ranker import LearnedRanker
from nextread.services.registry import ModelRegistry
from nextread.services.training import Artifact, load_artifact, save_artifact
from nextread.store.db import session_scope
from nextread.store.models import ModelVersion
from nextread.store.tenants import ensure_tenant
from tests.conftest import Database


def _ranked_artifact() -> Artifact:
    """A learned ranker with trees over two reading circles, with embeddings and trending."""
    rng = np.random.default_rng(0)
    liked = np.zeros((300, 40), np.float32)
    for reader in range(300):
        liked[reader, 20 * (reader % 2) + rng.choice(20, 8, replace=False)] = 1.0
    cf = LearnedRanker(EASE(l2=10.0), seed=0).fit(sp.csr_matrix(liked))
    assert cf.booster is not None
    return Artifact(
        tenant_id=7,
        version=2,
        trained_at=1_800_000_000.25,
        item_pks=np.arange(1000, 1040, dtype=np.int64),
        type_weights={"checkout": 1.0, "rating": 1.5},
        half_life_days=45.0,
        cf=cf,
        popularity=liked.sum(axis=0).astype(np.float64),
        embeddings=rng.standard_normal((40, 8)).astype(np.float32),
        trending=rng.random(40),
        consumed_weight=0.25,
        params={"cf_model": "LearnedRanker", "seconds": {"cf": 1.5}},
    )


def _history() -> sp.csr_matrix:
    return sp.csr_matrix((np.ones(3, np.float32), ([0, 0, 0], [0, 1, 2])), shape=(1, 40))


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Artifact, Path]:
    artifact = _ranked_artifact()
    save_artifact(artifact, tmp_path / "v2")
    return artifact, tmp_path / "v2"


def test_a_loaded_artifact_scores_exactly_as_the_saved_one(saved: tuple[Artifact, Path]) -> None:
    artifact, folder = saved
    assert sorted(path.name for path in folder.iterdir()) == ["arrays.npz", "manifest.json", "model.txt"]
    loaded = load_artifact(folder)
    assert loaded.cf is not None and artifact.cf is not None
    assert loaded.cf._compiled is not None  # warmed up for serving
    np.testing.assert_array_equal(loaded.cf.score(_history()), artifact.cf.score(_history()))
    batch = sp.csr_matrix(np.eye(40, dtype=np.float32)[:12] + np.eye(40, dtype=np.float32)[5:17])
    np.testing.assert_array_equal(loaded.cf.score(batch), artifact.cf.score(batch))
    for name in ("item_pks", "popularity", "embeddings", "trending"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(artifact, name))
    for name in ("tenant_id", "version", "trained_at", "type_weights", "half_life_days", "consumed_weight"):
        assert getattr(loaded, name) == getattr(artifact, name)
    assert loaded.params == artifact.params
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["metadata"]["training"] == artifact.params
    assert set(manifest["files"]) == {"arrays.npz", "model.txt"}


def test_an_artifact_without_a_cf_model_round_trips(tmp_path: Path) -> None:
    artifact = Artifact(1, 1, 0.0, np.arange(3), {}, 45.0, None, np.ones(3))
    save_artifact(artifact, tmp_path / "v1")
    loaded = load_artifact(tmp_path / "v1")
    assert loaded.cf is None and loaded.embeddings is None and loaded.trending is None


def _edit_manifest(folder: Path, change) -> None:  # type: ignore[no-untyped-def]
    manifest = json.loads((folder / "manifest.json").read_text())
    change(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.update(format_version=FORMAT_VERSION + 1), "format version 2 is not one"),
        (lambda m: m.pop("format_version"), "format version None"),
        (lambda m: m["files"].update({"arrays.npz": "0" * 64}), "arrays.npz: checksum differs"),
        (lambda m: m["files"].update({"../secret.txt": "0" * 64}), "not a file of the folder"),
        (lambda m: m["files"].pop("model.txt"), "names data the files do not hold"),
        (lambda m: m["model"]["parts"]["cf"].update(kind="Pickled"), "unknown model kind 'Pickled'"),
        (lambda m: m.pop("metadata"), "'metadata' is missing"),
    ],
)
def test_a_tampered_manifest_is_refused(saved: tuple[Artifact, Path], change, message: str) -> None:  # type: ignore[no-untyped-def]
    _, folder = saved
    _edit_manifest(folder, change)
    with pytest.raises(ModelFileError, match=message):
        load_artifact(folder)


def test_a_manifest_that_is_not_json_is_refused(saved: tuple[Artifact, Path]) -> None:
    _, folder = saved
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(ModelFileError, match=r"manifest\.json: not valid JSON"):
        load_artifact(folder)


def test_a_tampered_array_file_is_refused(saved: tuple[Artifact, Path]) -> None:
    artifact, folder = saved
    arrays = dict(np.load(folder / "arrays.npz"))
    arrays["data/popularity"] = arrays["data/popularity"] + 1.0  # a valid file, other numbers
    np.savez(folder / "arrays.npz", **arrays)
    with pytest.raises(ModelFileError, match=r"arrays\.npz: checksum differs"):
        load_artifact(folder)


@pytest.mark.parametrize("change", ["edit", "delete"])
def test_a_tampered_or_missing_tree_model_is_refused(saved: tuple[Artifact, Path], change: str) -> None:
    _, folder = saved
    trees = folder / "model.txt"
    if change == "edit":
        trees.write_text(trees.read_text().replace("shrinkage=", "shrinkage=9", 1))
        expected = r"model\.txt: checksum differs"
    else:
        trees.unlink()
        expected = r"model\.txt: missing"
    with pytest.raises(ModelFileError, match=expected):
        load_artifact(folder)


def test_a_folder_without_a_manifest_is_refused(tmp_path: Path) -> None:
    (tmp_path / "v1").mkdir()
    with pytest.raises(ModelFileError, match=r"manifest\.json: missing"):
        load_artifact(tmp_path / "v1")


class _Booby:
    """Unpickling this creates ``marker``: proof that a pickle was read."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (open, (str(self.marker), "w"))


def test_db_upgrade_retires_old_pickles_without_reading_them(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir, marker = tmp_path / "data", tmp_path / "unpickled"
    pickled = data_dir / "models" / "school" / "v1.pkl"
    pickled.parent.mkdir(parents=True)
    pickled.write_bytes(pickle.dumps(_Booby(marker)))
    with session_scope(database.sessions) as session:
        tenant_id = ensure_tenant(session, "school").id
        session.add(ModelVersion(tenant_id=tenant_id, version=1, path="models/school/v1.pkl"))
    with pytest.raises(ModelFileError, match=r"v1\.pkl: a pickled model of an older nextread"):
        load_artifact(pickled)

    monkeypatch.setenv("NEXTREAD_DATABASE_URL", database.url)
    monkeypatch.setenv("NEXTREAD_DATA_DIR", str(data_dir))
    get_settings.cache_clear()
    try:
        upgraded = CliRunner().invoke(app, ["db", "upgrade"])
        again = CliRunner().invoke(app, ["db", "upgrade"])
    finally:
        get_settings.cache_clear()
    assert upgraded.exit_code == 0, upgraded.output
    assert "retired model version 1 of tenant" in upgraded.output
    assert again.exit_code == 0 and "retired" not in again.output  # once
    with session_scope(database.sessions) as session:
        assert session.scalar(select(ModelVersion.status)) == "retired"
    settings = Settings(data_dir=data_dir, database_url=database.url)
    assert ModelRegistry(database.sessions, settings).current(tenant_id) is None
    assert not marker.exists()
