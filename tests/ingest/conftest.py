"""Fixtures for import/export tests: a tenant in the parametrised database and file writers per format."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nextread.store.db import session_scope
from nextread.store.tenants import ensure_tenant
from tests.conftest import SHARED_DATA, Database

GOODBOOKS = SHARED_DATA / "goodbooks-10k" / "books.csv"
FORMATS = ("csv", "jsonl", "parquet")

WriteRows = Callable[[str, list[dict[str, Any]]], Path]


@pytest.fixture
def tenant_id(database: Database) -> int:
    with session_scope(database.sessions) as session:
        return ensure_tenant(session, "school").id


def write_rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    """CSV cells hold lists as "a|b" (how people write them); JSONL and Parquet keep real types."""
    if path.suffix == ".csv":
        columns = list(dict.fromkeys(key for row in rows for key in row))
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: "|".join(v) if isinstance(v, list) else v for k, v in row.items()})
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    else:
        columns = list(dict.fromkeys(key for row in rows for key in row))
        pq.write_table(pa.Table.from_pylist([{c: row.get(c) for c in columns} for row in rows]), path)
    return path


@pytest.fixture
def rows_file(tmp_path: Path) -> WriteRows:
    def make(name: str, rows: list[dict[str, Any]]) -> Path:
        return write_rows(tmp_path / name, rows)

    return make
