"""Import rows share the API's schemas: a bad value rejects its row (with its line), never the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from nextread.config import Settings
from nextread.services.imports import import_file
from nextread.store.models import Interaction
from tests.conftest import Database
from tests.ingest.conftest import WriteRows


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_bad_timestamp_or_a_rating_without_stars_rejects_only_its_row(
    database: Database, settings: Settings, tenant_id: int, rows_file: WriteRows, fmt: str, tmp_path: Path
) -> None:
    items = rows_file(f"items.{fmt}", [{"id": "b1", "title": "Frog and Toad"}])
    assert import_file(database.sessions, tenant_id, items, "items", settings=settings).written == 1
    good = {"user_id": "st-1", "item_id": "b1", "type": "checkout", "timestamp": "2024-09-02T10:00:00+00:00"}
    rows = [
        good,
        {**good, "timestamp": "0001-01-01T00:00:00+14:00"},
        {**good, "timestamp": "9999-12-31T23:59:59Z"},
        {**good, "type": "rating", "timestamp": "2024-09-03T10:00:00+00:00"},
        {**good, "type": "view", "timestamp": "2024-09-04T10:00:00+00:00"},
    ]
    path = rows_file(f"events.{fmt}", rows)
    report = import_file(database.sessions, tenant_id, path, "interactions", settings=settings)
    assert (report.written, report.rejected) == (2, 3), report.errors
    first_row = 2 if fmt == "csv" else 1  # a CSV file starts with its header
    assert [(error.line - first_row, error.field) for error in report.errors] == [
        (1, "timestamp"),
        (2, "timestamp"),
        (3, "value"),
    ]
    with Session(database.engine) as session:
        assert sorted(session.scalars(select(Interaction.type))) == ["checkout", "view"]
