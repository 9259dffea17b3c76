"""Strict reading: a broken row is reported with its line and reason and never takes other rows (or the
whole file) with it; lines are bounded so one huge line cannot exhaust memory."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from nextread.config import Settings
from nextread.ingest.readers import FileError, RowProblem, open_rows
from nextread.services.imports import import_file
from nextread.store.models import Interaction, Item
from tests.conftest import Database
from tests.ingest.test_commands import app as cli_app
from tests.ingest.test_commands import cli  # noqa: F401 - fixture

SEVEN_BOOKS = "".join(f"b{i},Book {i},{300 + i}\n" for i in range(3, 8))


def stored_ids(database: Database) -> list[str]:
    with Session(database.engine) as session:
        return sorted(session.scalars(select(Item.external_id)))


def test_an_unclosed_quote_rejects_its_row_and_the_rows_after_it_land(
    database: Database, settings: Settings, tenant_id: int, tmp_path: Path
) -> None:
    path = tmp_path / "items.csv"
    path.write_text('id,title,lexile\nb1,Fine,400\nb2,"Broken title,500\n' + SEVEN_BOOKS, encoding="utf-8")
    report = import_file(database.sessions, tenant_id, path, "items", settings=settings)
    assert (report.read, report.written, report.rejected) == (7, 6, 1), report.errors
    error = report.errors[0]
    assert (error.line, error.field) == (3, "(row)")
    assert "quote" in error.reason
    assert stored_ids(database) == ["b1", "b3", "b4", "b5", "b6", "b7"]


def test_a_quote_closed_rows_later_does_not_swallow_them(
    database: Database, settings: Settings, tenant_id: int, tmp_path: Path
) -> None:
    path = tmp_path / "items.csv"
    path.write_text(
        'id,title,lexile\nb2,"Broken title,500\n' + SEVEN_BOOKS + 'b8,"Quoted, title",200\n',
        encoding="utf-8",
    )
    report = import_file(database.sessions, tenant_id, path, "items", settings=settings)
    assert [(e.line, e.field) for e in report.errors] == [(2, "(row)")]
    assert stored_ids(database) == ["b3", "b4", "b5", "b6", "b7", "b8"]
    with Session(database.engine) as session:
        assert session.scalar(select(Item.title).where(Item.external_id == "b8")) == "Quoted, title"


def test_rows_with_too_few_or_too_many_cells_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text("id,title,lexile\nb1,One\nb2,Two,300\nb3,Three,300,extra\n", encoding="utf-8")
    with open_rows(path) as source:
        rows = list(source)
    assert [line for line, _ in rows] == [2, 3, 4]
    short, good, long = (values for _, values in rows)
    assert isinstance(short, RowProblem) and "2 values but the header has 3 columns" in short.reason
    assert good == {"id": "b2", "title": "Two", "lexile": "300"}
    assert isinstance(long, RowProblem) and "4 values" in long.reason


def test_legitimate_multiline_and_quoted_cells_still_read(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text('id,description\n1,"two\nlines, ""quoted"""\n2,plain\n', encoding="utf-8")
    with open_rows(path) as source:
        assert list(source) == [
            (2, {"id": "1", "description": 'two\nlines, "quoted"'}),
            (4, {"id": "2", "description": "plain"}),
        ]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_line_over_the_limit_is_rejected_and_the_rest_land(
    database: Database, settings: Settings, tenant_id: int, tmp_path: Path, suffix: str
) -> None:
    limited = settings.model_copy(update={"max_line_bytes": 4096})
    huge = "x" * 10_000
    path = tmp_path / f"items{suffix}"
    if suffix == ".csv":
        path.write_text(f"id,title\nb1,One\nb2,{huge}\nb3,Three\n", encoding="utf-8")
    else:
        rows = [{"id": "b1", "title": "One"}, {"id": "b2", "title": huge}, {"id": "b3", "title": "Three"}]
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    report = import_file(database.sessions, tenant_id, path, "items", settings=limited)
    assert (report.read, report.written, report.rejected) == (3, 2, 1), report.errors
    error = report.errors[0]
    assert (error.line, error.field) == (3 if suffix == ".csv" else 2, "(line)")
    assert "4096" in error.reason and "NEXTREAD_MAX_LINE_BYTES" in error.reason
    assert stored_ids(database) == ["b1", "b3"]


def test_a_csv_row_spanning_lines_is_bounded_too(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    lines = "".join(f"line {i} of a very long quoted cell\n" for i in range(400))
    path.write_text(f'id,title\nb1,"{lines}"\nb2,Two\n', encoding="utf-8")
    with open_rows(path, max_line_bytes=4096) as source:
        rows = list(source)
    assert isinstance(rows[0][1], RowProblem) and rows[0][0] == 2 and "4096" in rows[0][1].reason
    assert rows[-1][1] == {"id": "b2", "title": "Two"}


def test_a_single_huge_line_is_read_in_bounded_memory_and_named(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        handle.write('{"id": "b1", "title": "')
        for _ in range(48):
            handle.write("x" * (1 << 20))
        handle.write('"}\n')
    tracemalloc.start()
    try:
        with pytest.raises(FileError) as failure:
            open_rows(path, max_line_bytes=1 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20
    message = str(failure.value)
    assert f"{path}:1:" in message and "longer than" in message and "NEXTREAD_MAX_LINE_BYTES" in message


def test_the_cli_names_the_file_and_line_of_a_huge_single_line(
    cli: CliRunner,  # noqa: F811 - fixture
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEXTREAD_MAX_LINE_BYTES", "1000")
    path = tmp_path / "items.jsonl"
    path.write_text(json.dumps({"id": "b1", "title": "x" * 5000}) + "\n", encoding="utf-8")
    result = cli.invoke(cli_app, ["import", str(path), "--kind", "items"])
    assert result.exit_code == 1
    assert f"error: {path}:1: line is longer than the limit of 1000 bytes" in result.output


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_one_bad_timestamp_rejects_only_its_row(
    database: Database, settings: Settings, tenant_id: int, tmp_path: Path, suffix: str
) -> None:
    books = tmp_path / "items.csv"
    books.write_text("id,title\nb1,One\n", encoding="utf-8")
    import_file(database.sessions, tenant_id, books, "items", settings=settings)
    stamps = [
        "2024-09-02T10:00:00+00:00",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59Z",
        "1969-12-31T23:59:59Z",
        "yesterday-ish",
        "2024-09-03T10:00:00+00:00",
    ]
    rows = [{"user_id": "st-1", "item_id": "b1", "type": "view", "timestamp": stamp} for stamp in stamps]
    path = tmp_path / f"events{suffix}"
    if suffix == ".csv":
        path.write_text(
            "user_id,item_id,type,timestamp\n" + "".join(f"st-1,b1,view,{stamp}\n" for stamp in stamps),
            encoding="utf-8",
        )
    else:
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    report = import_file(database.sessions, tenant_id, path, "interactions", settings=settings)
    first = 2 if suffix == ".csv" else 1
    assert (report.written, report.rejected) == (2, 4), report.errors
    assert [(e.line, e.field) for e in report.errors] == [(first + n, "timestamp") for n in (1, 2, 3, 4)]
    with Session(database.engine) as session:
        assert session.scalar(select(Interaction.id).limit(1)) is not None
        years = sorted(stamp.year for stamp in session.scalars(select(Interaction.occurred_at)))
    assert years == [2024, 2024]


def test_a_damaged_parquet_row_group_is_reported_and_the_other_groups_land(
    database: Database, settings: Settings, tenant_id: int, tmp_path: Path
) -> None:
    path = tmp_path / "items.parquet"
    rows = [{"id": f"b{i}", "title": f"Book number {i}"} for i in range(300)]
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=100)
    damaged = bytearray(path.read_bytes())
    offset = pq.ParquetFile(path).metadata.row_group(1).column(1).data_page_offset
    damaged[offset : offset + 64] = bytes(byte ^ 0x5A for byte in damaged[offset : offset + 64])
    path.write_bytes(bytes(damaged))
    report = import_file(database.sessions, tenant_id, path, "items", settings=settings)
    assert (report.read, report.written, report.rejected) == (300, 200, 100)
    assert report.errors[0].line == 101 and "row group 2" in report.errors[0].reason
    assert len(stored_ids(database)) == 200


def test_a_truncated_parquet_file_is_a_clear_file_error(tmp_path: Path) -> None:
    path = tmp_path / "items.parquet"
    pq.write_table(pa.Table.from_pylist([{"id": "b1", "title": "One"}]), path)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(FileError, match=r"items.parquet: not a readable Parquet file"):
        open_rows(path)


def test_a_jsonl_timestamp_too_large_for_a_date_rejects_only_its_row(
    database: Database, settings: Settings, tenant_id: int, tmp_path: Path
) -> None:
    books = tmp_path / "items.csv"
    books.write_text("id,title\nb1,One\n", encoding="utf-8")
    import_file(database.sessions, tenant_id, books, "items", settings=settings)
    rows = [
        {"user_id": "st-1", "item_id": "b1", "type": "view", "timestamp": stamp} for stamp in (1e20, 1.7e9)
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    report = import_file(database.sessions, tenant_id, path, "interactions", settings=settings)
    assert (report.written, report.rejected) == (1, 1)
    assert report.errors[0].line == 1 and "out of range" in report.errors[0].reason
