"""Export a tenant's items, users, groups or interactions in our own field names.

The output is exactly what the ``default`` import mapping reads, so an export imported into an empty
tenant reproduces the same data (and imported into the same tenant changes nothing). Rows are streamed
from the database (``yield_per``) and written in chunks, so exporting millions of interactions takes
little memory. In CSV, lists and the ``extra`` object are JSON text (a comma inside an author's name
survives the round trip); in Parquet, lists are list columns and ``extra`` is JSON text.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Boolean, Float, Integer, Select, select
from sqlalchemy.orm import Session, aliased

from nextread.ingest.mapping import KINDS, LIST_FIELDS
from nextread.ingest.readers import detect_format
from nextread.store.models import Group, GroupMember, Interaction, Item, User

CHUNK = 5_000
INTERACTION_COLUMNS = ("user_id", "item_id", "type", "value", "timestamp", "event_id")


def export(session: Session, tenant_id: int, kind: str, path: Path | str, format: str | None = None) -> int:
    """Returns the number of rows written."""
    path = Path(path)
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    fmt = detect_format(path, format)
    columns = export_columns(kind)
    sink = {"csv": CsvSink, "jsonl": JsonlSink, "parquet": ParquetSink}[fmt](path, kind, columns)
    count = 0
    try:
        for chunk in _chunks(_rows(session, tenant_id, kind)):
            sink.write(chunk)
            count += len(chunk)
    finally:
        sink.close()
    return count


def export_columns(kind: str) -> list[str]:
    """``id`` first, then the model's fields in declaration order."""
    if kind == "interactions":
        return list(INTERACTION_COLUMNS)
    names = [name for name in KINDS[kind].model_fields if name != "id"]
    return ["id", *names]


def _rows(session: Session, tenant_id: int, kind: str) -> Iterator[dict[str, Any]]:
    if kind == "interactions":
        yield from _interaction_rows(session, tenant_id)
    elif kind == "groups":
        yield from _group_rows(session, tenant_id)
    else:
        model = Item if kind == "items" else User
        yield from _stream(session, _entity_select(model, kind, tenant_id))


def _entity_select(model: Any, kind: str, tenant_id: int) -> Select[Any]:
    table = model.__table__
    columns = [
        table.c.external_id.label("id") if name == "id" else table.c[name]
        for name in export_columns(kind)
        if name != "members"
    ]
    return select(*columns).where(table.c.tenant_id == tenant_id).order_by(table.c.id)


def _stream(session: Session, statement: Select[Any]) -> Iterator[dict[str, Any]]:
    result = session.execute(statement.execution_options(yield_per=CHUNK))
    for row in result.mappings():
        yield dict(row)


def _group_rows(session: Session, tenant_id: int) -> Iterator[dict[str, Any]]:
    """Members are fetched per chunk of groups, so a district with thousands of classes streams too."""
    statement = _entity_select(Group, "groups", tenant_id).add_columns(Group.id.label("_pk"))
    result = session.execute(statement.execution_options(yield_per=1000))
    for partition in result.mappings().partitions():
        rows = [dict(row) for row in partition]
        members = _members(session, [row["_pk"] for row in rows])
        for row in rows:
            row["members"] = members.get(row.pop("_pk"), [])
            yield row


def _members(session: Session, group_ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    statement = (
        select(GroupMember.group_id, User.external_id)
        .join(User, User.id == GroupMember.user_id)
        .where(GroupMember.group_id.in_(group_ids))
        .order_by(GroupMember.group_id, User.external_id)
    )
    for group_id, user_id in session.execute(statement):
        found.setdefault(group_id, []).append(user_id)
    return found


def _interaction_rows(session: Session, tenant_id: int) -> Iterator[dict[str, Any]]:
    user, item = aliased(User), aliased(Item)
    statement = (
        select(
            user.external_id.label("user_id"),
            item.external_id.label("item_id"),
            Interaction.type,
            Interaction.value,
            Interaction.occurred_at.label("timestamp"),
            Interaction.event_id,
        )
        .join(user, user.id == Interaction.user_id)
        .join(item, item.id == Interaction.item_id)
        .where(Interaction.tenant_id == tenant_id)
        .order_by(Interaction.id)
    )
    yield from _stream(session, statement)


def _chunks(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


class CsvSink:
    def __init__(self, path: Path, kind: str, columns: list[str]) -> None:
        self._handle = path.open("w", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._handle, fieldnames=columns)
        self._writer.writeheader()

    def write(self, rows: list[dict[str, Any]]) -> None:
        self._writer.writerows({k: _text(v) for k, v in row.items()} for row in rows)

    def close(self) -> None:
        self._handle.close()


class JsonlSink:
    def __init__(self, path: Path, kind: str, columns: list[str]) -> None:
        self._handle = path.open("w", encoding="utf-8")

    def write(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self._handle.write(json.dumps(row, default=_text, ensure_ascii=False) + "\n")

    def close(self) -> None:
        self._handle.close()


class ParquetSink:
    """An explicit schema, so a column that happens to be all null in the first chunk keeps its type."""

    def __init__(self, path: Path, kind: str, columns: list[str]) -> None:
        self._schema = parquet_schema(kind, columns)
        self._writer = pq.ParquetWriter(path, self._schema)

    def write(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            if "extra" in row:
                row["extra"] = json.dumps(row["extra"] or {}, ensure_ascii=False)
        self._writer.write_table(pa.Table.from_pylist(rows, schema=self._schema))

    def close(self) -> None:
        self._writer.close()


def parquet_schema(kind: str, columns: list[str]) -> pa.Schema:
    table = {"items": Item, "users": User, "groups": Group, "interactions": Interaction}[kind].__table__
    fields = []
    for name in columns:
        if name in LIST_FIELDS:
            arrow_type: pa.DataType = pa.list_(pa.string())
        elif name == "id" or name.endswith("_id"):
            arrow_type = pa.string()
        elif name == "timestamp":
            arrow_type = pa.timestamp("us", tz="UTC")
        elif name in table.c and isinstance(table.c[name].type, Boolean):
            arrow_type = pa.bool_()
        elif name in table.c and isinstance(table.c[name].type, Float):
            arrow_type = pa.float64()
        elif name in table.c and isinstance(table.c[name].type, Integer):
            arrow_type = pa.int64()
        else:
            arrow_type = pa.string()
        fields.append(pa.field(name, arrow_type))
    return pa.schema(fields)
