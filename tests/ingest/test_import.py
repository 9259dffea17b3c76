"""Imports on SQLite and PostgreSQL: every kind and format, bad rows, idempotency, safety of stored data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nextread.config import Settings
from nextread.ingest.readers import FileError
from nextread.services.exports import export
from nextread.services.imports import ImportReport, import_file
from nextread.store.models import Group, GroupMember, Interaction, Item, User
from nextread.store.tenants import ensure_tenant
from nextread.store.writes import COPY_MIN_ROWS
from tests.conftest import Database
from tests.ingest.conftest import FORMATS, GOODBOOKS, WriteRows

ITEMS = [
    {
        "id": "b1",
        "title": "Frog and Toad",
        "authors": ["Arnold Lobel"],
        "lexile": 400,
        "tags": ["friendship"],
    },
    {
        "id": "b2",
        "title": "Charlotte's Web",
        "authors": ["E. B. White"],
        "grade_min": 3,
        "average_rating": 4.2,
    },
    {"id": "b3", "title": "Holes", "authors": ["Louis Sachar"], "publication_year": 1998},
]
USERS = [
    {"id": "st-1", "display_name": "Ada", "grade": 2},
    {"id": "st-2", "display_name": "Ben", "grade": 3, "lexile": 550},
]
GROUPS = [
    {"id": "class-2a", "name": "Class 2A", "grade": 2, "teacher": "Ms. Rivera", "members": ["st-1", "st-2"]}
]
INTERACTIONS = [
    {"user_id": "st-1", "item_id": "b1", "type": "checkout", "timestamp": "2024-09-02T10:00:00+00:00"},
    {
        "user_id": "st-1",
        "item_id": "b2",
        "type": "rating",
        "value": 5,
        "timestamp": "2024-09-03T10:00:00+00:00",
    },
    {"user_id": "st-2", "item_id": "b3", "type": "view", "timestamp": "2024-09-04T10:00:00+00:00"},
]


def run(
    database: Database, settings: Settings, tenant_id: int, path: Path, kind: str, **kw: Any
) -> ImportReport:
    return import_file(database.sessions, tenant_id, path, kind, settings=settings, **kw)


def count(database: Database, model: type) -> int:
    with Session(database.engine) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def snapshot(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Everything a re-import could disturb, including timestamps of the last change."""
    with Session(database.engine) as session:
        return {
            "items": session.execute(
                select(Item.external_id, Item.title, Item.updated_at).order_by(Item.id)
            ).all(),
            "users": session.execute(select(User.external_id, User.updated_at).order_by(User.id)).all(),
            "groups": session.execute(select(Group.external_id, Group.updated_at).order_by(Group.id)).all(),
            "members": session.execute(select(GroupMember.group_id, GroupMember.user_id)).all(),
            "events": session.execute(
                select(Interaction.event_id, Interaction.occurred_at, Interaction.value).order_by(
                    Interaction.id
                )
            ).all(),
        }


def load_all(database: Database, settings: Settings, tenant_id: int, rows_file: WriteRows, fmt: str) -> None:
    for kind, rows in (
        ("items", ITEMS),
        ("users", USERS),
        ("groups", GROUPS),
        ("interactions", INTERACTIONS),
    ):
        report = run(database, settings, tenant_id, rows_file(f"{kind}.{fmt}", rows), kind)
        assert (report.read, report.written, report.rejected) == (len(rows), len(rows), 0), report.errors


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_kind_imports_from_every_format(
    database: Database, settings: Settings, tenant_id: int, rows_file: WriteRows, fmt: str
) -> None:
    load_all(database, settings, tenant_id, rows_file, fmt)
    with Session(database.engine) as session:
        frog = session.scalar(select(Item).where(Item.external_id == "b1"))
        assert frog is not None and frog.authors == ["Arnold Lobel"] and frog.lexile == 400
        assert frog.tags == ["friendship"]
        group = session.scalar(select(Group).where(Group.external_id == "class-2a"))
        assert group is not None and len(group.members) == 2
        rating = session.scalar(select(Interaction).where(Interaction.type == "rating"))
        assert rating is not None and rating.value == 5.0 and rating.occurred_at.day == 3


@pytest.mark.parametrize("fmt", FORMATS)
def test_reimporting_the_same_files_changes_nothing(
    database: Database, settings: Settings, tenant_id: int, rows_file: WriteRows, fmt: str
) -> None:
    load_all(database, settings, tenant_id, rows_file, fmt)
    before = snapshot(database)
    for kind, rows in (
        ("items", ITEMS),
        ("users", USERS),
        ("groups", GROUPS),
        ("interactions", INTERACTIONS),
    ):
        report = run(database, settings, tenant_id, rows_file(f"{kind}.{fmt}", rows), kind)
        assert (report.written, report.unchanged, report.rejected) == (0, len(rows), 0)
    assert snapshot(database) == before


def test_bad_rows_are_reported_by_line_and_field_while_good_rows_land(
    database: Database, settings: Settings, tenant_id: int, tmp_path: Path
) -> None:
    path = tmp_path / "items.csv"
    path.write_text(
        "id,title,lexile,grade_min,publication_year\n"
        "ok-1,Good Book,500,2,2001\n"
        "bad-1,,500,2,2001\n"  # line 3: no title
        "bad-2,Too Hard,9999,2,2001\n"  # line 4: lexile out of range
        'ok-2,"A title, with a comma",,,\n'
        "bad 3,Spaces In Id,,,\n"  # line 6: id with a space
        "bad-4,Year,,,twenty\n",  # line 7: not a number
        encoding="utf-8",
    )
    report = run(database, settings, tenant_id, path, "items")
    assert (report.read, report.written, report.rejected) == (6, 2, 4)
    assert [(e.line, e.field) for e in report.errors] == [
        (3, "title"),
        (4, "lexile"),
        (6, "id"),
        (7, "publication_year"),
    ]
    assert all(e.file == str(path) and e.reason for e in report.errors)
    with Session(database.engine) as session:
        assert set(session.scalars(select(Item.external_id))) == {"ok-1", "ok-2"}


def test_error_report_and_rejected_rows_files(
    database: Database, settings: Settings, tenant_id: int, tmp_path: Path
) -> None:
    path = tmp_path / "users.csv"
    path.write_text("id,grade\nst-1,2\nst-2,purple\nst-3,13\n", encoding="utf-8")
    errors, rejected = tmp_path / "errors.csv", tmp_path / "rejected.csv"
    report = run(database, settings, tenant_id, path, "users", errors_path=errors, rejected_path=rejected)
    assert report.rejected == 2
    lines = errors.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "file,line,field,reason"
    assert [line.split(",")[1:3] for line in lines[1:]] == [["3", "grade"], ["4", "grade"]]
    assert rejected.read_text(encoding="utf-8").splitlines() == ["id,grade", "st-2,purple", "st-3,13"]
    again = tmp_path / "again.csv"
    report.write_errors_csv(again)
    assert again.read_text(encoding="utf-8") == errors.read_text(encoding="utf-8")


def test_unknown_item_ids_in_interactions_are_reported_per_line(
    database: Database, settings: Settings, tenant_id: int, rows_file: WriteRows, tmp_path: Path
) -> None:
    run(database, settings, tenant_id, rows_file("items.csv", ITEMS), "items")
    path = tmp_path / "events.csv"
    path.write_text(
        "user_id,item_id,type,value\n"
        "st-1,b1,checkout,\n"
        "st-1,nope,checkout,\n"  # line 3
        "st-2,b2,rating,4\n"
        "st-2,b2,rating,7\n"  # line 5: rating out of range
        "st-3,also-missing,like,\n",  # line 6
        encoding="utf-8",
    )
    report = run(database, settings, tenant_id, path, "interactions", batch_size=2)
    assert (report.written, report.rejected) == (2, 3)
    assert [(e.line, e.field) for e in report.errors] == [(3, "item_id"), (5, "value"), (6, "item_id")]
    assert report.errors[0].reason == "unknown item 'nope'"  # the REST API's and MCP's wording
    assert count(database, Interaction) == 2


def test_unknown_users_are_named_as_the_api_names_them(
    database: Database, settings: Settings, tenant_id: int, rows_file: WriteRows, tmp_path: Path
) -> None:
    run(database, settings, tenant_id, rows_file("items.csv", ITEMS), "items")
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,type\nghost,b1,checkout\n", encoding="utf-8")
    strict = settings.model_copy(update={"auto_create_users": False})
    report = run(database, strict, tenant_id, path, "interactions")
    assert [(e.line, e.field, e.reason) for e in report.errors] == [(2, "user_id", "unknown user 'ghost'")]


def test_groups_with_unknown_members_are_rejected_whole(
    database: Database, settings: Settings, tenant_id: int, rows_file: WriteRows, tmp_path: Path
) -> None:
    run(database, settings, tenant_id, rows_file("users.csv", USERS), "users")
    path = tmp_path / "groups.csv"
    path.write_text("id,name,members\nc1,Class 1,st-1|st-2\nc2,Class 2,st-1|ghost\n", encoding="utf-8")
    report = run(database, settings, tenant_id, path, "groups")
    assert (report.written, report.rejected) == (1, 1)
    assert (report.errors[0].line, report.errors[0].field) == (3, "members")
    assert "ghost" in report.errors[0].reason


def test_a_huge_field_is_rejected_naming_the_field(
    database: Database, settings: Settings, tenant_id: int, tmp_path: Path
) -> None:
    path = tmp_path / "items.csv"
    huge = "x" * (settings.intake.max_field_chars + 1)
    path.write_text(f"id,title,description\nb1,Fine,short\nb2,Huge,{huge}\nb3,Also fine,\n", encoding="utf-8")
    report = run(database, settings, tenant_id, path, "items")
    assert (report.written, report.rejected) == (2, 1)
    assert (report.errors[0].line, report.errors[0].field) == (3, "description")
    assert str(settings.intake.max_field_chars) in report.errors[0].reason


def test_latin1_bytes_are_reported_with_their_line(
    database: Database, settings: Settings, tenant_id: int, tmp_path: Path
) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes("id,title\nb1,Plain\nb2,Le Petit Prince à Paris\nb3,Also plain\n".encode("latin-1"))
    report = run(database, settings, tenant_id, path, "items")
    assert (report.written, report.rejected) == (2, 1)
    error = report.errors[0]
    assert (error.line, error.field) == (3, "(encoding)")
    assert "UTF-8" in error.reason


def test_a_utf8_bom_is_accepted(
    database: Database, settings: Settings, tenant_id: int, tmp_path: Path
) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes("\ufeffid,title\nb1,Émile\n".encode())
    report = run(database, settings, tenant_id, path, "items")
    assert (report.written, report.rejected) == (1, 0)


def test_missing_required_columns_fail_before_anything_is_written(
    database: Database, settings: Settings, tenant_id: int, tmp_path: Path
) -> None:
    path = tmp_path / "items.csv"
    path.write_text("book,name\n1,Holes\n", encoding="utf-8")
    with pytest.raises(FileError) as failure:
        run(database, settings, tenant_id, path, "items")
    message = str(failure.value)
    assert str(path) in message and "'id'" in message and "'title'" in message and "book, name" in message
    assert count(database, Item) == 0


def test_a_later_file_of_only_bad_rows_leaves_stored_rows_untouched(
    database: Database, settings: Settings, tenant_id: int, rows_file: WriteRows, tmp_path: Path
) -> None:
    load_all(database, settings, tenant_id, rows_file, "csv")
    before = snapshot(database)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,title,lexile\nb1,,\nb2,Charlotte,99999\nb3,Holes,abc\n", encoding="utf-8")
    report = run(database, settings, tenant_id, bad, "items")
    assert (report.written, report.rejected) == (0, 3)
    events = tmp_path / "bad-events.jsonl"
    events.write_text(
        '{"user_id": "st-1", "item_id": "b1"}\nnot json\n'
        '{"user_id": "st-1", "item_id": "zz", "type": "view"}\n'
    )
    report = run(database, settings, tenant_id, events, "interactions")
    assert [(e.line, e.field) for e in report.errors] == [(1, "type"), (2, "(json)"), (3, "item_id")]
    assert snapshot(database) == before


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_then_import_round_trips(
    database: Database, settings: Settings, tenant_id: int, rows_file: WriteRows, tmp_path: Path, fmt: str
) -> None:
    load_all(database, settings, tenant_id, rows_file, "jsonl")
    with database.sessions() as session:
        other = ensure_tenant(session, "copy").id
        session.commit()
    exported: dict[str, list[dict[str, Any]]] = {}
    for kind in ("items", "users", "groups", "interactions"):
        path = tmp_path / f"export-{kind}.{fmt}"
        with database.sessions() as session:
            assert export(session, tenant_id, kind, path) > 0
        again = run(database, settings, tenant_id, path, kind)
        assert (again.written, again.rejected) == (0, 0), again.errors
        copied = run(database, settings, other, path, kind)
        assert copied.rejected == 0 and copied.written == copied.read, copied.errors
        exported[kind] = _exported(database, tenant_id, kind, tmp_path, fmt)
        assert _exported(database, other, kind, tmp_path, fmt) == exported[kind]


def _exported(
    database: Database, tenant_id: int, kind: str, tmp_path: Path, fmt: str
) -> list[dict[str, Any]]:
    """Both tenants' exports read back as plain rows (created_at/updated_at are not exported)."""
    from nextread.ingest.readers import open_rows

    path = tmp_path / f"check-{tenant_id}-{kind}.{fmt}"
    with database.sessions() as session:
        export(session, tenant_id, kind, path)
    with open_rows(path) as source:
        return sorted((dict(values) for _, values in source), key=repr)  # type: ignore[arg-type]


def test_goodbooks_books_import_all_ten_thousand(
    database: Database, settings: Settings, tenant_id: int
) -> None:
    if not GOODBOOKS.is_file():
        pytest.fail(f"goodbooks-10k is missing at {GOODBOOKS}")
    report = run(database, settings, tenant_id, GOODBOOKS, "items", mapping="goodbooks")
    assert (report.read, report.written, report.rejected) == (10_000, 10_000, 0), report.errors[:5]
    with Session(database.engine) as session:
        hunger = session.scalar(select(Item).where(Item.external_id == "1"))
        assert hunger is not None
        assert hunger.isbn == "0439023483" and hunger.publication_year == 2008
        assert hunger.authors == ["Suzanne Collins"] and hunger.language == "eng"
        assert hunger.series_name == "The Hunger Games" and hunger.series_position == 1.0
        assert hunger.extra["goodreads_book_id"] == 2767052 and hunger.cover_url.startswith("https://")
        potter = session.scalar(select(Item).where(Item.external_id == "2"))
        assert potter is not None and potter.authors == ["J.K. Rowling", "Mary GrandPré"]
    again = run(database, settings, tenant_id, GOODBOOKS, "items", mapping="goodbooks")
    assert (again.written, again.unchanged) == (0, 10_000)


def test_large_interaction_batches_take_the_bulk_path_idempotently(
    database: Database, settings: Settings, tenant_id: int, rows_file: WriteRows, tmp_path: Path
) -> None:
    run(database, settings, tenant_id, rows_file("items.csv", ITEMS), "items")
    total = COPY_MIN_ROWS * 3
    path = tmp_path / "events.csv"
    lines = ["user_id,item_id,type,value,timestamp"]
    lines += [f"u{i % 97},b{i % 3 + 1},rating,{i % 5 + 1},{1_700_000_000 + i}" for i in range(total)]
    lines.append("u1,missing,view,,1700000000")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = run(database, settings, tenant_id, path, "interactions", batch_size=total)
    assert (report.written, report.rejected) == (total, 1)
    assert report.errors[0].line == total + 2
    assert count(database, User) == 97
    again = run(database, settings, tenant_id, path, "interactions", batch_size=total // 2)
    assert (again.written, again.unchanged) == (0, total)
    assert count(database, Interaction) == total
