"""Training pipeline: store → weighted user×item matrix → fitted models → versioned artifact + registry row.

The artifact is a model folder (:mod:`nextread.engine.model_files`: a checked manifest, arrays and
LightGBM's text model, nothing that runs code when read) at ``<data_dir>/models/<tenant>/v<N>``; the
registry row (table ``model_versions``) records its path relative to the data dir, parameters and
size, and the API serves the newest ``ready`` one. Until a tenant has one, :func:`provisional_artifact`
serves it from counts alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from nextread.config import Settings
from nextread.engine.hybrid import trending
from nextread.engine.model_files import ModelFileError, read_model_files, write_model_files
from nextread.engine.protocol import Recommender
from nextread.observability import get_logger
from nextread.store.db import session_scope
from nextread.store.models import Item, ModelVersion, Tenant
from nextread.store.reading_data import EventArrays, load_events, load_items
from nextread.store.tenants import interaction_weights

if TYPE_CHECKING:
    from nextread.embed.index import VectorIndex
    from nextread.embed.select import Embedder

log = get_logger("nextread.training")

SECONDS_PER_DAY = 86_400.0
PROVISIONAL_VERSION = 0
_INDEX_LOCK = threading.Lock()

TrainingProgress = Callable[[str, int, int], None]
"""Called with (stage, done, total) as a training moves on: ``load``, ``fit``, ``embed`` (done and total
count the books to embed), ``register``."""


def _no_progress(stage: str, done: int, total: int) -> None:
    """The progress callback of a training nobody watches."""


def read_without_liking(events: EventArrays) -> np.ndarray:
    """Ratings of 3 stars or less (a rating without stars counts as 3): the reader had the book."""
    return (events.type == "rating") & (np.nan_to_num(events.value, nan=3.0) <= 3.0)


def event_weights(
    events: EventArrays,
    type_weights: dict[str, float],
    half_life_days: float,
    now: float,
    consumed_weight: float = 0.0,
) -> np.ndarray:
    """Weight of each event: its type's weight (ratings scaled by (stars − 3) / 2), halved every
    ``half_life_days`` of age, so last month's checkout says more than last year's. With
    ``consumed_weight`` a rating of 3 stars or less counts that share of the type's weight instead:
    collaborative evidence that the reader had the book, not that they liked it."""
    base = np.array([type_weights.get(t, 0.0) for t in events.type], dtype=np.float64)
    is_rating = events.type == "rating"
    stars = np.nan_to_num(events.value, nan=3.0)
    scale = (stars - 3.0) / 2.0
    if consumed_weight > 0:
        scale = np.where(read_without_liking(events), consumed_weight, scale)
    base = np.where(is_rating, base * scale, base)
    age_days = np.maximum(now - events.timestamp, 0.0) / SECONDS_PER_DAY
    return base * np.power(0.5, age_days / half_life_days)


def weighted_matrix(
    rows: np.ndarray, columns: np.ndarray, weights: np.ndarray, shape: tuple[int, int]
) -> sp.csr_matrix:
    """Sum event weights per (user, item); cells whose evidence nets out negative are dropped
    (an abandoned book is not a positive signal however often it was checked out)."""
    matrix = sp.csr_matrix((weights, (rows, columns)), shape=shape, dtype=np.float64)
    matrix.sum_duplicates()
    matrix.data[matrix.data < 0] = 0.0
    matrix.eliminate_zeros()
    return matrix.astype(np.float32)


@dataclass
class Artifact:
    """Everything serving needs that is expensive to compute: index maps, the fitted CF model,
    item embeddings and popularity. Catalog attributes that librarians edit (copies, staff picks)
    are read fresh by the serving layer, not frozen here."""

    tenant_id: int
    version: int
    trained_at: float
    item_pks: np.ndarray
    type_weights: dict[str, float]
    half_life_days: float
    cf: Recommender | None
    popularity: np.ndarray
    embeddings: np.ndarray | None = None
    trending: np.ndarray | None = None
    consumed_weight: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)
    item_column: dict[int, int] = field(init=False)
    _index: VectorIndex | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.item_column = {int(pk): column for column, pk in enumerate(self.item_pks)}

    @property
    def provisional(self) -> bool:
        """Counts only, no trained model: see :func:`provisional_artifact`."""
        return self.version == PROVISIONAL_VERSION

    def index(self) -> VectorIndex | None:
        """Nearest-neighbour search over ``embeddings``, built on first use in each process (it is
        derived from them, so never stored)."""
        from nextread.embed.index import VectorIndex

        if self.embeddings is None or len(self.embeddings) == 0:
            return None
        index = self._index
        if index is None:
            with _INDEX_LOCK:
                index = self._index
                if index is None:
                    index = self._index = VectorIndex(self.embeddings)
        return index

    def history_matrix(
        self, events: EventArrays, now: float | None = None, liked_only: bool = False
    ) -> sp.csr_matrix:
        """A one-row matrix of a user's fresh events: the fold-in input of every model, weighted as in
        training, built with numpy alone (it runs on every request). ``liked_only`` leaves out the
        evidence of books read without liking them: what the reader enjoyed, as :meth:`users_matrix`."""
        consumed = 0.0 if liked_only else self.consumed_weight
        known, columns, weights = self._weighted_events(events, now, consumed)
        items, cell = np.unique(columns, return_inverse=True)
        totals = np.bincount(cell, weights=weights, minlength=len(items))
        kept = totals > 0  # evidence that nets out negative or zero is no cell, as in training
        indptr = np.array([0, int(kept.sum())], dtype=np.int64)
        return sp.csr_matrix(
            (totals[kept].astype(np.float32), items[kept], indptr), shape=(1, len(self.item_pks))
        )

    def users_matrix(
        self, events: EventArrays, rows: np.ndarray, n_rows: int, now: float | None = None
    ) -> sp.csr_matrix:
        """What each reader enjoyed (``rows[i]`` is event i's row), events weighted as in training without
        the evidence of books read without liking them; items unknown to this model version are ignored."""
        known, columns, weights = self._weighted_events(events, now, consumed_weight=0.0)
        return weighted_matrix(rows[known], columns, weights, (n_rows, len(self.item_pks)))

    def _weighted_events(
        self, events: EventArrays, now: float | None, consumed_weight: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Which events concern items of this model version, their item columns and their weights."""
        known = np.array([pk in self.item_column for pk in events.item.tolist()], dtype=bool)
        columns = np.array([self.item_column[pk] for pk in events.item[known].tolist()], dtype=np.int64)
        weights = event_weights(
            events.subset(known), self.type_weights, self.half_life_days, now or time.time(), consumed_weight
        )
        return known, columns, weights


def next_version(session: Session, tenant_id: int) -> int:
    current = session.scalar(
        select(func.max(ModelVersion.version)).where(ModelVersion.tenant_id == tenant_id)
    )
    return (current or 0) + 1


def item_texts(items: list[Item]) -> list[str]:
    """What the content model reads about a book: title, authors, tags, then the description."""
    return [
        ". ".join(
            part
            for part in (
                item.title,
                ", ".join(item.authors or []),
                ", ".join(item.tags or []),
                item.description,
            )
            if part
        )
        for item in items
    ]


@dataclass
class _Signals:
    """The store's evidence as arrays aligned with the catalog's columns."""

    item_pks: np.ndarray
    matrix: sp.csr_matrix
    user_rows: np.ndarray
    columns: np.ndarray
    weights: np.ndarray
    timestamps: np.ndarray
    now: float

    def trending(self, settings: Settings) -> np.ndarray:
        positive = self.weights > 0
        return trending(
            self.columns[positive],
            self.timestamps[positive],
            len(self.item_pks),
            settings.training.trending_half_life_days,
        )


def _signals(
    events: EventArrays, items: list[Item], type_weights: dict[str, float], settings: Settings
) -> _Signals:
    item_pks = np.array([item.id for item in items], dtype=np.int64)
    item_column = {int(pk): column for column, pk in enumerate(item_pks)}
    user_pks, user_rows = np.unique(events.user, return_inverse=True)
    columns = np.array([item_column[int(pk)] for pk in events.item], dtype=np.int64)
    now = time.time()
    weights = event_weights(events, type_weights, settings.training.half_life_days, now)
    matrix = weighted_matrix(user_rows, columns, weights, (len(user_pks), len(item_pks)))
    return _Signals(item_pks, matrix, user_rows, columns, weights, events.timestamp, now)


def _popularity(matrix: sp.csr_matrix) -> np.ndarray:
    """Readers per book with net positive evidence."""
    return np.asarray((matrix > 0).sum(axis=0)).ravel().astype(np.float64)


def provisional_artifact(sessions: sessionmaker[Session], tenant_id: int, settings: Settings) -> Artifact:
    """What serves a tenant while its first model trains: popularity and trending counted from the
    store, no collaborative model and no item embeddings. It costs one read of the catalog and the
    events, so requests answer at once (reading level, popularity, freshness, interests) instead of
    waiting minutes for the model and the embedding of every book."""
    with session_scope(sessions) as session:
        events = load_events(session, tenant_id)
        items = load_items(session, tenant_id)
        type_weights = {name: weight for name, (weight, _) in interaction_weights(session, tenant_id).items()}
    signals = _signals(events, items, type_weights, settings)
    return Artifact(
        tenant_id=tenant_id,
        version=PROVISIONAL_VERSION,
        trained_at=signals.now,
        item_pks=signals.item_pks,
        type_weights=type_weights,
        half_life_days=settings.training.half_life_days,
        cf=None,
        popularity=_popularity(signals.matrix),
        trending=signals.trending(settings),
        consumed_weight=settings.training.consumed_weight,
        params={"provisional": True},
    )


def train_tenant(
    sessions: sessionmaker[Session],
    tenant_id: int,
    settings: Settings,
    *,
    embedder: Embedder | None = None,
    progress: TrainingProgress = _no_progress,
) -> ModelVersion:
    """Fit and register a new model version for one tenant; the previous version keeps serving
    until this one is committed, so training never interrupts requests. ``embedder``: the settings'
    one unless given."""
    from nextread.embed.select import get_embedder
    from nextread.embed.stored import item_vectors
    from nextread.engine.models import build_cf_model
    from nextread.engine.ranker import LearnedRanker
    from nextread.services.level_estimates import estimate_missing_levels

    started = time.perf_counter()
    progress("load", 0, 1)
    with session_scope(sessions) as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            raise ValueError(f"tenant {tenant_id} does not exist")
        events = load_events(session, tenant_id)
        # Unlevelled books get a fresh estimate (new readers are evidence) before the catalog is read.
        estimate_missing_levels(session, tenant_id, events)
        items = load_items(session, tenant_id)
        type_weights = {name: weight for name, (weight, _) in interaction_weights(session, tenant_id).items()}
        slug = tenant.slug
    signals = _signals(events, items, type_weights, settings)
    matrix, item_pks = signals.matrix, signals.item_pks
    cf_input = matrix
    if settings.training.consumed_weight > 0:
        consumed = settings.training.consumed_weight
        cf_weights = event_weights(
            events, type_weights, settings.training.half_life_days, signals.now, consumed
        )
        cf_input = weighted_matrix(signals.user_rows, signals.columns, cf_weights, matrix.shape)
    progress("fit", 0, 1)
    cf_started = time.perf_counter()
    cf = build_cf_model(len(item_pks), settings.training.ease_max_items, settings.training.learned_ranker)
    cf.fit(cf_input, liked=matrix)
    timings = {"load": round(cf_started - started, 2), "cf": round(time.perf_counter() - cf_started, 2)}
    embeddings, re_embedded = None, 0
    if items:
        embed_started = time.perf_counter()
        progress("embed", 0, 0)
        embeddings, re_embedded = item_vectors(
            sessions,
            tenant_id,
            item_pks.tolist(),
            item_texts(items),
            embedder or get_embedder(settings),
            settings.embeddings.embedder,
            progress=lambda done, total: progress("embed", done, total),
        )
        timings["embeddings"] = round(time.perf_counter() - embed_started, 2)
    artifact = Artifact(
        tenant_id=tenant_id,
        version=0,
        trained_at=signals.now,
        item_pks=item_pks,
        type_weights=type_weights,
        half_life_days=settings.training.half_life_days,
        cf=cf,
        popularity=_popularity(matrix),
        trending=signals.trending(settings),
        embeddings=embeddings,
        consumed_weight=settings.training.consumed_weight,
        params={
            "cf_model": type(cf).__name__,
            "ranker_learned": isinstance(cf, LearnedRanker) and cf.booster is not None,
            "half_life_days": settings.training.half_life_days,
            "consumed_weight": settings.training.consumed_weight,
            "trending_half_life_days": settings.training.trending_half_life_days,
            "seconds": timings,
            "items_re_embedded": re_embedded,
        },
    )
    progress("register", 0, 1)
    return _register(sessions, artifact, slug, settings, matrix, time.perf_counter() - started)


def _register(
    sessions: sessionmaker[Session],
    artifact: Artifact,
    slug: str,
    settings: Settings,
    matrix: sp.csr_matrix,
    seconds: float,
) -> ModelVersion:
    with session_scope(sessions) as session:
        artifact.version = next_version(session, artifact.tenant_id)
        path = Path("models") / slug / f"v{artifact.version}"
        save_artifact(artifact, settings.store.data_dir / path)
        row = ModelVersion(
            tenant_id=artifact.tenant_id,
            version=artifact.version,
            path=path.as_posix(),
            status="ready",
            params=artifact.params,
            metrics={},
            n_users=matrix.shape[0],
            n_items=matrix.shape[1],
            n_interactions=int(matrix.nnz),
            training_seconds=round(seconds, 3),
        )
        session.add(row)
        session.flush()
        return row


def save_artifact(artifact: Artifact, folder: Path) -> None:
    """The artifact as a model folder: the training settings and scalars in the manifest, the index
    maps, counts and embeddings as arrays, the CF model as its saved parts."""
    metadata = {
        "tenant_id": artifact.tenant_id,
        "version": artifact.version,
        "trained_at": artifact.trained_at,
        "type_weights": artifact.type_weights,
        "half_life_days": artifact.half_life_days,
        "consumed_weight": artifact.consumed_weight,
        "training": artifact.params,
    }
    optional = {"embeddings": artifact.embeddings, "trending": artifact.trending}
    arrays = {"item_pks": artifact.item_pks, "popularity": artifact.popularity}
    arrays |= {name: values for name, values in optional.items() if values is not None}
    write_model_files(folder, metadata, arrays, None if artifact.cf is None else artifact.cf.save())


def artifact_file(data_dir: Path, stored: str) -> Path:
    """Where a registry row's artifact is for this process. Rows name it relative to the data dir, so
    every process with the same ``NEXTREAD_DATA_DIR`` finds it whatever its working directory (an MCP
    server started by a desktop app runs in another folder). Older rows hold the path the training
    process saw, absolute or relative to its own working directory: read where it still exists, else
    by its ``models/<tenant>/v<N>`` tail under the data dir."""
    path = Path(stored)
    candidates = [path] if path.is_absolute() else [data_dir / path, path]
    parts = path.parts
    if "models" in parts:
        tail = parts[len(parts) - 1 - parts[::-1].index("models") :]
        candidates.append(data_dir.joinpath(*tail))
    return next((candidate for candidate in candidates if candidate.exists()), candidates[0])


def load_artifact(folder: str | Path) -> Artifact:
    """An artifact ready to serve in this process (a learned ranker gets its compiled trees). Raises
    :class:`ModelFileError` naming the file when the folder is not a model this nextread wrote
    unchanged, a pickle of an older nextread among them (``nextread db upgrade`` retires those)."""
    from nextread.engine.models import restore_model

    folder = Path(folder)
    if folder.suffix == ".pkl":
        raise ModelFileError(f"{folder}: a pickled model of an older nextread; run `nextread db upgrade`")
    metadata, arrays, saved = read_model_files(folder)
    try:
        cf = None if saved is None else restore_model(saved)
        artifact = Artifact(
            tenant_id=int(metadata["tenant_id"]),
            version=int(metadata["version"]),
            trained_at=float(metadata["trained_at"]),
            item_pks=arrays["item_pks"],
            type_weights=dict(metadata["type_weights"]),
            half_life_days=float(metadata["half_life_days"]),
            cf=cf,
            popularity=arrays["popularity"],
            embeddings=arrays.get("embeddings"),
            trending=arrays.get("trending"),
            consumed_weight=float(metadata["consumed_weight"]),
            params=dict(metadata["training"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"{folder}: the manifest does not describe a model artifact ({error})") from None
    if artifact.cf is not None:
        artifact.cf.warm_up()
    return artifact


def retire_pickled_models(sessions: sessionmaker[Session]) -> list[ModelVersion]:
    """Retire every ready registry row whose artifact is a pickle (what nextread wrote before model
    folders), so no process loads it: reading a pickle runs whatever code it holds. They are not
    converted, because converting means reading them; each tenant left without a ready model is
    trained again in the background on its next request (or by ``nextread train``), and serves a
    provisional artifact meanwhile. Run once by ``nextread db upgrade``; later runs find nothing."""
    with session_scope(sessions) as session:
        pickled = session.scalars(
            select(ModelVersion).where(ModelVersion.status == "ready", ModelVersion.path.like("%.pkl"))
        ).all()
        for row in pickled:
            row.status = "retired"
            log.warning(
                "pickled_model_retired",
                tenant_id=row.tenant_id,
                version=row.version,
                path=row.path,
                reason="pickles can run code; retrained on the next request or by `nextread train`",
            )
        session.flush()
        session.expunge_all()
        return list(pickled)
