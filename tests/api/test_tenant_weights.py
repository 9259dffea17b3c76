"""A school's saved scoring weights (dashboard Settings) drive the API's answers, cached ones included."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from nextread.engine.hybrid import Weights
from nextread.store.db import session_scope
from nextread.store.models import Tenant
from nextread.store.tenant_settings import TenantSettings, save_tenant_settings
from tests.api.test_recommendations import _library

RECS = "/v1/users/new-dragon-fan/recommendations"
ONLY_LEVEL_FIT = Weights(
    cf=0, semantic=0, reading_match=1, rating=0, social=0, recency=0, staff_pick=0, series=0, popularity=0
)


def test_saved_weights_change_the_answer_even_when_it_was_cached(client: TestClient) -> None:
    _library(client)
    before = client.get(RECS, params={"n": 6}).json()["data"]
    assert client.get(RECS, params={"n": 6}).json()["data"] == before  # now served from the cache
    state = client.app.state
    with session_scope(state.session_factory) as session:
        tenant_id = session.scalar(
            select(Tenant.id).where(Tenant.slug == state.settings.store.default_tenant)
        )
        save_tenant_settings(session, tenant_id, TenantSettings(weights=ONLY_LEVEL_FIT))
    state.recommendations.forget_tenant_settings(tenant_id)  # what the Settings page does after saving
    after = client.get(RECS, params={"n": 6}).json()["data"]
    assert [row["score"] for row in after] != [row["score"] for row in before]
    for row in after:
        assert abs(row["score"] - row["components"]["reading_match"]) < 1e-3
    overridden = client.get(RECS, params={"n": 6, "weights": "cf:1"}).json()["data"]
    assert any(abs(row["score"] - row["components"]["reading_match"]) > 1e-3 for row in overridden)
