"""The Import page's worker: progress from the importer's batches, the rejected-rows file, clean-up."""

from __future__ import annotations

import asyncio
import os
import time
import tracemalloc
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from nicegui import ui
from nicegui.testing.user import User
from sqlalchemy import func, select
from starlette.requests import Request

from nextread.app import create_app
from nextread.store.db import session_scope, upgrade
from nextread.store.models import Item
from nextread.store.tenants import ensure_tenant
from nextread.ui.context import MOUNT_PATH
from nextread.ui.pages import imports
from nextread.ui.uploads import UPLOADS, save_upload
from tests.ui.conftest import LIBRARIAN, demo_settings
from tests.ui.test_pages import sign_in


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


def multipart(name: str, content: bytes, boundary: str = "nextread-test") -> tuple[bytes, dict[str, str]]:
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\n'.encode()
        + b"n" * 200_000
        + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: text/csv\r\n\r\n".encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, {"content-type": f"multipart/form-data; boundary={boundary}"}


def test_an_upload_streams_to_disk_in_bounded_memory(tmp_path: Path) -> None:
    """24 MB arrive in 64 KiB chunks; at no time is more than a few chunks in memory."""
    row = b"b1,A book title that fills the line nicely,500\n"
    content = b"id,title,lexile\n" + row * (24 * 1024 * 1024 // len(row))
    body, headers = multipart("C:\\Users\\libby\\books.CSV", content)
    chunks = [body[start : start + 65536] for start in range(0, len(body), 65536)]

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": chunks.pop(0) if chunks else b"", "more_body": bool(chunks)}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/upload",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "query_string": b"",
    }
    tracemalloc.start()
    try:
        path, name = asyncio.run(save_upload(Request(scope, receive), tmp_path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024
    assert name == "books.CSV" and path.parent == tmp_path and path.suffix == ".csv"
    assert path.read_bytes() == content


def test_a_damaged_parquet_upload_counts_no_rows_instead_of_failing(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 not really")
    assert imports.count_rows(path) == 0


def upload_scenario(data_dir: Path, scenario: Any, **overrides: object) -> None:
    app = create_app(demo_settings(data_dir, **overrides))

    async def main() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                user = User(client)
                await sign_in(user, LIBRARIAN[0], LIBRARIAN[1])
                await user.open("/ui/import")
                upload = next(iter(user.find(ui.upload).elements))
                await scenario(user, app, MOUNT_PATH + upload.props["url"])

    asyncio.run(main())


def test_an_uploaded_file_is_imported_then_deleted(school_copy: Path) -> None:
    content = b"id,title,lexile\nup-1,Uploaded One,500\nup-2,,400\nup-3,Uploaded Three,300\n"

    async def scenario(user: User, app: Any, url: str) -> None:
        body, headers = multipart("new books.csv", content)
        response = await user.http_client.post(url, content=body, headers=headers)
        assert response.status_code == 200, response.text
        await user.should_see("imported 2", retries=100)
        await user.should_see("rejected 1")
        uploads = school_copy / UPLOADS
        left = sorted(path.name for path in uploads.rglob("*") if path.is_file())
        assert left == ["rejected-new books.csv"]
        with app.state.session_factory() as session:
            stored = session.scalars(select(Item.external_id).where(Item.external_id.like("up-%"))).all()
        assert sorted(stored) == ["up-1", "up-3"]

    upload_scenario(school_copy, scenario)


def test_an_upload_over_the_limit_is_413_and_leaves_nothing(school_copy: Path) -> None:
    content = b"id,title\n" + b"b1,A book\n" * 10_000

    async def scenario(user: User, _app: Any, url: str) -> None:
        body, headers = multipart("books.csv", content)
        response = await user.http_client.post(url, content=body, headers=headers)
        assert response.status_code == 413
        assert "50000" in response.text and "NEXTREAD_MAX_UPLOAD_BYTES" in response.text
        await user.should_see("Could not upload the file")
        uploads = school_copy / UPLOADS
        assert not uploads.exists() or not any(path.is_file() for path in uploads.rglob("*"))

    upload_scenario(school_copy, scenario, max_upload_bytes=50_000)
