"""The Import page's worker: progress from the importer's batches, the rejected-rows file, clean-up."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from nextread.api.app import create_app
from nextread.store.db import session_scope, upgrade
from nextread.store.models import Item
from nextread.store.tenants import ensure_tenant
from nextread.ui.pages import imports
from tests.ui.conftest import demo_settings


def test_count_rows_for_each_format(tmp_path: Path) -> None:
    csv = tmp_path / "a.csv"
    csv.write_text("id,title\n1,a\n2,b\n3,c\n", encoding="utf-8")
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text('{"id": "1"}\n{"id": "2"}\n', encoding="utf-8")
    parquet = tmp_path / "a.parquet"
    pq.write_table(pa.table({"id": ["1", "2", "3", "4"]}), parquet)
    assert [imports.count_rows(p) for p in (csv, jsonl, parquet)] == [3, 2, 4]


def test_import_job_reports_progress_bad_rows_and_keeps_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(demo_settings(tmp_path / "data"))
    upgrade(app.state.engine)
    with session_scope(app.state.session_factory) as session:
        tenant_id = ensure_tenant(session, "default").id
    rows = ["id,title,lexile"] + [f"b{i},Book {i},{400 + i}" for i in range(1200)] + ["bad,,x"]
    source = tmp_path / "books.csv"
    source.write_text("\n".join(rows) + "\n", encoding="utf-8")
    seen: list[int] = []
    real_import = imports.import_file

    def watched(*args: Any, **kwargs: Any) -> Any:
        forward = kwargs["on_batch"]
        kwargs["on_batch"] = lambda report: (seen.append(report.read), forward(report))
        return real_import(*args, **kwargs)

    monkeypatch.setattr(imports, "import_file", watched)
    job = imports.Job(source, "items", "default", imports.count_rows(source))
    imports.run_import(job, tenant_id)
    assert job.done and job.error is None and job.fraction == 1.0
    assert (job.report.written, job.report.rejected) == (1200, 1)
    assert seen == sorted(seen) and len(seen) >= 3 and job.read == seen[-1]
    assert {error.field for error in job.report.errors} >= {"title"}
    assert "bad" in job.rejected_path.read_text(encoding="utf-8")
    with app.state.session_factory() as session:
        assert session.scalar(select(func.count(Item.id))) == 1200
    app.state.engine.dispose()


def test_old_uploads_are_forgotten(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    (old / "x.csv").write_text("x", encoding="utf-8")
    past = time.time() - imports.KEEP_UPLOADS_SECONDS - 60
    os.utime(old, (past, past))
    imports.forget_old_uploads(tmp_path)
    assert not old.exists() and new.exists()
