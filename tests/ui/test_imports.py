"""The Import page and its services: the dry-run preview (stores nothing), mapping suggestion, the
worker's progress and rejected-rows file, uploads streamed to disk and clean-up."""

from __future__ import annotations

import asyncio
import os
import time
import tracemalloc
from pathlib import Path
from typing import Any

import httpx
import pytest
from nicegui import ui
from nicegui.testing.user import User
from sqlalchemy import func, select
from starlette.requests import Request

from nextread.app import create_app
from nextread.services.imports import FileError, import_file, preview_file, suggested_mapping
from nextread.store.db import session_scope, upgrade
from nextread.store.models import Item
from nextread.store.models import User as StoredUser
from nextread.store.tenants import ensure_tenant
from nextread.ui.context import MOUNT_PATH
from nextread.ui.pages import imports
from nextread.ui.uploads import UPLOADS, FileInput, save_upload
from tests.conftest import SHARED_DATA, require_service
from tests.ui.conftest import LIBRARIAN, demo_settings
from tests.ui.test_pages import sign_in


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
    job = imports.Job(imports.Upload(source, "books.csv"), "items", "default", 1201)
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


def upload_scenario(data_dir: Path, scenario: Any, **overrides: object) -> None:
    app = create_app(demo_settings(data_dir, **overrides))

    async def main() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                user = User(client)
                await sign_in(user, LIBRARIAN[0], LIBRARIAN[1])
                await user.open("/ui/import")
                picker = next(iter(user.find(FileInput).elements))
                await scenario(user, app, MOUNT_PATH + picker.url)

    asyncio.run(main())


def test_an_uploaded_file_is_imported_then_deleted(school_copy: Path) -> None:
    content = b"id,title,lexile\nup-1,Uploaded One,500\nup-2,,400\nup-3,Uploaded Three,300\n"

    async def scenario(user: User, app: Any, url: str) -> None:
        body, headers = multipart("new books.csv", content)
        response = await user.http_client.post(url, content=body, headers=headers)
        assert response.status_code == 200, response.text
        await user.should_see("Preview of new books.csv", retries=100)
        with app.state.session_factory() as session:
            assert session.scalar(select(func.count()).where(Item.external_id.like("up-%"))) == 0
        user.find("Import 2 records").click()
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


def test_a_cancelled_preview_stores_nothing_and_deletes_the_upload(school_copy: Path) -> None:
    content = b"id,title\nup-1,Uploaded One\n"

    async def scenario(user: User, app: Any, url: str) -> None:
        before = items_snapshot(app)
        body, headers = multipart("one book.csv", content)
        assert (await user.http_client.post(url, content=body, headers=headers)).status_code == 200
        await user.should_see("Import 1 record", retries=100)
        await user.should_see("1 new")
        await user.should_see("id → id")
        user.find("Cancel").click()
        await user.should_see("Cancelled: nothing from one book.csv was stored.")
        await user.should_not_see("Import 1 record")
        assert items_snapshot(app) == before
        uploads = school_copy / UPLOADS
        assert not any(path.is_file() for path in uploads.rglob("*"))

    upload_scenario(school_copy, scenario)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("broken.parquet", b"PAR1 not really", "Could not read broken.parquet: not a readable Parquet file"),
        ("notes.docx", b"PK\x03\x04", "notes.docx was not read: its type (.docx) is not one nextread can"),
        (
            "notes.txt",
            b"Dear librarian\nplease add books\n",
            "Could not read notes.txt (line 1): a text file",
        ),
    ],
)
def test_an_unreadable_upload_says_why_naming_only_the_file(
    school_copy: Path, name: str, content: bytes, expected: str
) -> None:
    async def scenario(user: User, _app: Any, url: str) -> None:
        body, headers = multipart(name, content)
        assert (await user.http_client.post(url, content=body, headers=headers)).status_code == 200
        await user.should_see(expected, retries=100)
        shown = " ".join(label.text for label in user.find(ui.label).elements)
        assert str(school_copy) not in shown and "upload" + Path(name).suffix not in shown
        await user.should_not_see("records")  # no preview and no confirm for a file that cannot be read

    upload_scenario(school_copy, scenario)


def items_snapshot(app: Any) -> list[tuple[Any, ...]]:
    with app.state.session_factory() as session:
        rows = session.execute(select(Item.external_id, Item.title, Item.updated_at).order_by(Item.id)).all()
    return [tuple(row) for row in rows]


@pytest.fixture
def store(tmp_path: Path) -> Any:
    app = create_app(demo_settings(tmp_path / "data"))
    upgrade(app.state.engine)
    with session_scope(app.state.session_factory) as session:
        tenant_id = ensure_tenant(session, "default").id
    yield app, tenant_id
    app.state.engine.dispose()


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_preview_counts_new_updated_unchanged_and_rejected_and_writes_nothing(
    store: Any, tmp_path: Path
) -> None:
    app, tenant_id = store
    factory = app.state.session_factory
    import_file(factory, tenant_id, write(tmp_path / "first.csv", "id,title\nb1,One\nb2,Two\n"), "items")
    before = items_snapshot(app)
    later = write(tmp_path / "later.csv", "id,title,lexile\nb1,One,\nb2,Two again,\nb3,Three,500\nb4,,400\n")
    preview = preview_file(factory, tenant_id, later, "items", batch_size=2)
    report = preview.report
    assert (report.read, report.new, preview.updated, report.unchanged, report.rejected) == (4, 1, 1, 1, 1)
    assert preview.records == 3
    assert [(e.line, e.field) for e in report.errors] == [(5, "title")]
    assert preview.columns == [("id", "id"), ("title", "title"), ("lexile", "lexile")]
    assert preview.sample[0][0] == 2 and preview.sample[0][1]["title"] == "One"
    assert preview.suggested_mapping is None
    assert items_snapshot(app) == before


def test_an_interactions_preview_creates_no_users(store: Any, tmp_path: Path) -> None:
    app, tenant_id = store
    factory = app.state.session_factory
    import_file(factory, tenant_id, write(tmp_path / "books.csv", "id,title\nb1,One\n"), "items")
    events = write(tmp_path / "events.csv", "user_id,item_id,type\nnew-reader,b1,like\nnew-reader,zz,like\n")
    preview = preview_file(factory, tenant_id, events, "interactions")
    assert (preview.report.new, preview.report.rejected) == (1, 1)
    assert preview.report.errors[0].field == "item_id"
    with factory() as session:
        assert session.scalar(select(func.count(StoredUser.id))) == 0


GOODBOOKS = SHARED_DATA / "goodbooks-10k" / "books.csv"


def goodbooks_slice(target: Path, rows: int = 5) -> Path:
    if not GOODBOOKS.exists():
        require_service("goodbooks-10k", f"{GOODBOOKS} is missing (set NEXTREAD_SHARED_DATA)")
    with GOODBOOKS.open(encoding="utf-8") as handle:
        lines = [next(handle) for _ in range(rows + 1)]
    return write(target, "".join(lines))


def test_goodbooks_books_csv_is_offered_its_mapping_and_previews_mapped(store: Any, tmp_path: Path) -> None:
    app, tenant_id = store
    books = goodbooks_slice(tmp_path / "books.csv")
    with pytest.raises(FileError, match="missing required column"):
        preview_file(app.state.session_factory, tenant_id, books, "items")
    assert suggested_mapping(books, "items", "default") == "goodbooks"
    preview = preview_file(app.state.session_factory, tenant_id, books, "items", "goodbooks")
    assert (preview.report.read, preview.report.new, preview.records) == (5, 5, 5)
    assert ("book_id", "id") in preview.columns and ("work_id", "extra.work_id") in preview.columns
    line, first = preview.sample[0]
    assert line == 2 and first["id"] == "1" and first["series_name"] == "The Hunger Games"
    assert first["authors"] == ["Suzanne Collins"] and first["publication_year"] == 2008
    with app.state.session_factory() as session:
        assert session.scalar(select(func.count(Item.id))) == 0


def test_a_delimited_txt_file_previews_like_a_csv(store: Any, tmp_path: Path) -> None:
    app, tenant_id = store
    books = write(tmp_path / "list.txt", "id\ttitle\nb1\tOne\n")
    preview = preview_file(app.state.session_factory, tenant_id, books, "items")
    assert preview.records == 1
    prose = write(tmp_path / "prose.txt", "Some books we liked\nDragons\n")
    with pytest.raises(FileError, match="no comma, semicolon, tab"):
        preview_file(app.state.session_factory, tenant_id, prose, "items")
    assert imports.accepted_type("list.TXT") and not imports.accepted_type("notes.docx")
