"""Which trained model each tenant is served by, in one API process.

A request reads ``registry.current(tenant_id)`` once and uses that artifact to the end, while a newer
version is loaded beside it and swapped in by a single reference assignment: requests in flight are
never dropped and never see half of two models. One thread loads while the others keep serving the
old version (or, before the first load, wait for it): a burst of requests on a fresh process must
not load the same large artifact once per thread.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from nextread.config import Settings
from nextread.observability import get_logger
from nextread.recommend.training import Artifact, load_artifact, train_tenant
from nextread.store.db import session_scope
from nextread.store.models import Item, ModelVersion

log = get_logger("nextread.registry")


class ModelRegistry:
    def __init__(self, sessions: sessionmaker[Session], settings: Settings):
        self.sessions = sessions
        self.settings = settings
        self._artifacts: dict[int, Artifact] = {}
        self._checked_at: dict[int, float] = {}
        self._lock = threading.Lock()
        self._loading = threading.Lock()

    def current(self, tenant_id: int, recheck: bool = False) -> Artifact | None:
        """The newest ready artifact, re-checked at most every ``model_refresh_seconds`` (at once with
        ``recheck``)."""
        now = time.monotonic()
        if recheck or now - self.checked_at(tenant_id) >= self.settings.model_refresh_seconds:
            self._refresh(tenant_id)
            self._checked_at[tenant_id] = now
        return self._artifacts.get(tenant_id)

    def fresh(self, tenant_id: int) -> Artifact | None:
        """What :meth:`current` would return without touching the database, or None when the registry
        is due for a check (or nothing is loaded)."""
        if time.monotonic() - self.checked_at(tenant_id) >= self.settings.model_refresh_seconds:
            return None
        return self._artifacts.get(tenant_id)

    def checked_at(self, tenant_id: int) -> float:
        """When this process last asked the database for the tenant's newest version (monotonic)."""
        return self._checked_at.get(tenant_id, -1e9)

    def ensure(self, tenant_id: int) -> Artifact | None:
        """Serve something from the first request on: a tenant with items but no model yet gets one
        trained now (seconds on a school catalog); large deployments train ahead with ``nextread train``."""
        artifact = self.current(tenant_id)
        if artifact is not None:
            return artifact
        with self._lock:
            self._refresh(tenant_id)
            if tenant_id not in self._artifacts and self._has_items(tenant_id):
                self.train(tenant_id)
        return self._artifacts.get(tenant_id)

    def train(self, tenant_id: int) -> ModelVersion:
        version = train_tenant(self.sessions, tenant_id, self.settings)
        self._refresh(tenant_id)
        return version

    def _has_items(self, tenant_id: int) -> bool:
        with session_scope(self.sessions) as session:
            return session.scalar(select(Item.id).where(Item.tenant_id == tenant_id).limit(1)) is not None

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
            artifact = load_artifact(path)
        except (OSError, EOFError) as exc:
            log.error("model_load_failed", tenant_id=tenant_id, version=version, error=str(exc))
            return
        self._artifacts[tenant_id] = artifact
        log.info("model_loaded", tenant_id=tenant_id, version=artifact.version)
