"""search_catalog called directly (as the MCP tool does): no model at all, a custom parser, filters."""

from __future__ import annotations

import pytest

from nextread.search.query import ParsedQuery
from nextread.services.search import SearchFilters, search_catalog
from nextread.store.models import Item
from nextread.store.tenants import ensure_tenant
from tests.conftest import Database


@pytest.fixture
def tenant_id(database: Database) -> int:
    with database.sessions() as session:
        tenant = ensure_tenant(session, "default")
        session.add_all(
            [
                Item(tenant_id=tenant.id, external_id="easy", title="Dragon Day", lexile=300),
                Item(tenant_id=tenant.id, external_id="hard", title="Dragon Lore", lexile=1100),
                Item(tenant_id=tenant.id, external_id="est", title="Baby Dragon", estimated_level=0.8),
                Item(tenant_id=tenant.id, external_id="cats", title="Cat Nap", grade_min=2, grade_max=2),
            ]
        )
        session.commit()
        return tenant.id


def test_full_text_only_without_a_model(database: Database, tenant_id: int) -> None:
    with database.sessions() as session:
        results = search_catalog(session, tenant_id, "dragon for a 2nd grader")
        assert [hit.id for hit in results.data] == ["easy"]
        assert results.data[0].matched_by == "text" and results.data[0].semantic_rank is None
        estimated = search_catalog(session, tenant_id, "dragon", SearchFilters(level_max=1.0)).data
        assert [(hit.id, hit.level_estimated) for hit in estimated] == [("est", True)]
        browse = search_catalog(session, tenant_id, "books for a 2nd grader", scale="lexile").data
        assert {hit.id for hit in browse} == {"easy", "cats"}
        assert all(hit.matched_by == "filters" and hit.level_shown.scale == "lexile" for hit in browse)


def test_a_custom_parser_and_explicit_filters_winning(database: Database, tenant_id: int) -> None:
    def parser(text: str) -> ParsedQuery:
        return ParsedQuery(text="dragon", level_min=5.0, understood=[f"custom: {text}"])

    with database.sessions() as session:
        parsed = search_catalog(session, tenant_id, "anything", parser=parser)
        assert [hit.id for hit in parsed.data] == ["hard"] and parsed.understood == ["custom: anything"]
        explicit = search_catalog(session, tenant_id, "anything", SearchFilters(level_min=0.0), parser=parser)
        assert {hit.id for hit in explicit.data} == {"easy", "hard", "est"}


def test_other_tenants_rows_are_invisible(database: Database, tenant_id: int) -> None:
    with database.sessions() as session:
        other = ensure_tenant(session, "other").id
        session.commit()
        assert search_catalog(session, other, "dragon").data == []
        assert search_catalog(session, other, "for a 2nd grader").data == []


def test_filters_validate() -> None:
    with pytest.raises(ValueError, match="level_min"):
        SearchFilters(level_min=4, level_max=2)
    with pytest.raises(ValueError, match="grade"):
        SearchFilters(grade=40)
