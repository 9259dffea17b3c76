"""Which trained model each tenant is served by, in one API process.

A request reads ``registry.current(tenant_id)`` once and uses that artifact to the end, while a newer
version is loaded beside it and swapped in by a single reference assignment: requests in flight are
never dropped and never see half of two models. One thread loads while the others keep serving the
old version (or, before the first load, wait for it): a burst of requests on a fresh process must
not load the same large artifact once per thread.

A tenant with items and no model yet is never made to wait for one: :meth:`ModelRegistry.ensure` starts
its first training in the background (one at a time per tenant, across processes through the job
lease) and serves a provisional artifact meanwhile (popularity, trending, reading level; no
collaborative model, no item embeddings).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from nextread.config import Settings
from nextread.engine.model_files import ModelFileError
from nextread.freshness import Freshness
from nextread.jobs.runner import process_owner, report_progress, run_job
from nextread.observability import get_logger
from nextread.services.scheduler import RETRAIN
from nextread.services.training import (
    Artifact,
    TrainingProgress,
    artifact_file,
    load_artifact,
    provisional_artifact,
    train_tenant,
)
from nextread.store.db import session_scope
from nextread.store.models import Item, ModelVersion

log = get_logger("nextread.registry")

RETRY_AFTER_FAILURE_SECONDS = 60.0
"""A first training that failed is tried again after this long, not on every request meanwhile."""
PROGRESS_EVERY_SECONDS = 1.0
"""Progress is written to ``job_runs`` at most this often (and at every change of stage)."""

Trainer = Callable[[int, TrainingProgress], ModelVersion]
"""Trains one tenant, reporting progress: :func:`train_tenant` unless a caller injects another."""


class ModelRegistry:
    def __init__(self, sessions: sessionmaker[Session], settings: Settings, trainer: Trainer | None = None):
        self.sessions = sessions
        self.settings = settings
        self.trainer = trainer or self._train_tenant
        self.owner = process_owner()
        self._artifacts: dict[int, Artifact] = {}
        self.checks: Freshness[int, None] = Freshness(self._refresh_seconds)
        self._provisional: Freshness[int, Artifact] = Freshness(self._refresh_seconds)
        self._training: dict[int, threading.Thread] = {}
        self._failed_at: dict[int, float] = {}
        self._lock = threading.Lock()
        self._loading = threading.Lock()
        self._counting = threading.Lock()

    def current(self, tenant_id: int, recheck: bool = False) -> Artifact | None:
        """The newest ready artifact, re-checked at most every ``model_refresh_seconds`` (at once with
        ``recheck``)."""
        if recheck or self.checks.fresh(tenant_id) is None:
            self.checks.check(tenant_id, partial(self._refresh, tenant_id))
        return self._artifacts.get(tenant_id)

    def fresh(self, tenant_id: int) -> Artifact | None:
        """What :meth:`current` would return without touching the database, or None when the registry
        is due for a check (or nothing is loaded)."""
        if self.checks.fresh(tenant_id) is None:
            return None
        return self._artifacts.get(tenant_id)

    def _refresh_seconds(self) -> float:
        return self.settings.serving.model_refresh_seconds

    def ensure(self, tenant_id: int) -> Artifact | None:
        """Serve something from the first request on, without waiting for a training: the trained model
        when there is one, else a provisional artifact while the first model trains in the background
        (None for a tenant without items)."""
        artifact = self.current(tenant_id)
        if artifact is not None:
            self._provisional.forget(tenant_id)
            return artifact
        if not self.settings.training.train_in_background:
            return self._train_and_wait(tenant_id)
        with self._counting:  # a burst of requests counts once
            counted = self._provisional.fresh(tenant_id)
            if counted is not None:
                return counted.value
            if not self._has_items(tenant_id):
                return None
            self.train_in_background(tenant_id)
            return self._provisional.check(
                tenant_id, partial(provisional_artifact, self.sessions, tenant_id, self.settings)
            )

    def _train_and_wait(self, tenant_id: int) -> Artifact | None:
        """``NEXTREAD_TRAIN_IN_BACKGROUND=false``: one thread trains, the others wait for its model."""
        with self._lock:
            self._refresh(tenant_id)
            if tenant_id not in self._artifacts and self._has_items(tenant_id):
                self.train(tenant_id)
        return self._artifacts.get(tenant_id)

    def train(self, tenant_id: int) -> ModelVersion:
        """Train now and serve the new version from this process at once (``POST /v1/models/train``)."""
        version = self.trainer(tenant_id, _log_progress(tenant_id))
        self._refresh(tenant_id)
        return version

    def train_in_background(self, tenant_id: int) -> bool:
        """Start the tenant's first training on a thread of this process unless one is running here or
        one failed lately; another process holding the job's lease makes it a no-op. True if started."""
        with self._lock:
            running = self._training.get(tenant_id)
            failed_at = self._failed_at.get(tenant_id, -1e9)
            if running is not None and running.is_alive():
                return False
            if time.monotonic() - failed_at < RETRY_AFTER_FAILURE_SECONDS:
                return False
            thread = threading.Thread(
                target=self._train_first_model, args=(tenant_id,), name=f"train-{tenant_id}", daemon=True
            )
            self._training[tenant_id] = thread
        thread.start()
        return True

    def wait_for_training(self, tenant_id: int, timeout: float | None = None) -> bool:
        """Wait for this process's background training of the tenant; True once none is running."""
        thread = self._training.get(tenant_id)
        if thread is not None:
            thread.join(timeout)
        return thread is None or not thread.is_alive()

    def _train_first_model(self, tenant_id: int) -> None:
        reporter = _JobProgress(self.sessions, tenant_id)
        run = run_job(
            self.sessions,
            RETRAIN,
            tenant_id,
            lambda: self.trainer(tenant_id, reporter),
            "first request",
            self.owner,
            self.settings.jobs.job_lease_seconds,
            still_due=lambda: not self._has_ready_model(tenant_id),
            on_start=reporter.start,
        )
        if run is not None and run.status != "succeeded":
            self._failed_at[tenant_id] = time.monotonic()
            return
        self.current(tenant_id, recheck=True)

    def _train_tenant(self, tenant_id: int, progress: TrainingProgress) -> ModelVersion:
        return train_tenant(self.sessions, tenant_id, self.settings, progress=progress)

    def _has_items(self, tenant_id: int) -> bool:
        with session_scope(self.sessions) as session:
            return session.scalar(select(Item.id).where(Item.tenant_id == tenant_id).limit(1)) is not None

    def _has_ready_model(self, tenant_id: int) -> bool:
        with session_scope(self.sessions) as session:
            ready = select(ModelVersion.id).where(
                ModelVersion.tenant_id == tenant_id, ModelVersion.status == "ready"
            )
            return session.scalar(ready.limit(1)) is not None

    def _refresh(self, tenant_id: int) -> None:
        with session_scope(self.sessions) as session:
            newest = session.execute(
                select(ModelVersion.version, ModelVersion.path)
                .where(ModelVersion.tenant_id == tenant_id, ModelVersion.status == "ready")
                .order_by(ModelVersion.version.desc())
                .limit(1)
            ).first()
        if newest is None or self._is_current(tenant_id, newest.version):
            return
        # With a model already served, a thread that finds a load in progress goes on with the old one.
        if not self._loading.acquire(blocking=tenant_id not in self._artifacts):
            return
        try:
            if not self._is_current(tenant_id, newest.version):
                self._load(tenant_id, newest.version, newest.path)
        finally:
            self._loading.release()

    def _is_current(self, tenant_id: int, version: int) -> bool:
        loaded = self._artifacts.get(tenant_id)
        return loaded is not None and loaded.version >= version

    def _load(self, tenant_id: int, version: int, path: str) -> None:
        try:
            artifact = load_artifact(artifact_file(self.settings.store.data_dir, path))
        except (OSError, ModelFileError) as exc:
            log.error("model_load_failed", tenant_id=tenant_id, version=version, error=str(exc))
            return
        self._artifacts[tenant_id] = artifact
        log.info("model_loaded", tenant_id=tenant_id, version=artifact.version)


class _JobProgress:
    """A training's progress, logged and written to its ``job_runs`` row (throttled) for every process."""

    def __init__(self, sessions: sessionmaker[Session], tenant_id: int) -> None:
        self.sessions = sessions
        self.log = _log_progress(tenant_id)
        self.run_id: int | None = None
        self.stage = ""
        self.written_at = -1e9

    def start(self, run_id: int) -> None:
        self.run_id = run_id

    def __call__(self, stage: str, done: int, total: int) -> None:
        self.log(stage, done, total)
        now = time.monotonic()
        if self.run_id is None or (stage == self.stage and now - self.written_at < PROGRESS_EVERY_SECONDS):
            return
        self.stage, self.written_at = stage, now
        report_progress(self.sessions, self.run_id, {"stage": stage, "done": done, "total": total})


def _log_progress(tenant_id: int) -> TrainingProgress:
    def log_progress(stage: str, done: int, total: int) -> None:
        log.info("training_progress", tenant_id=tenant_id, stage=stage, done=done, total=total)

    return log_progress
