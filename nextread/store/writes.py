"""Bulk, idempotent writes used by both the API and the importers.

Upserts compare every column with the stored row and touch only rows that really change, so
re-importing a file is a no-op; interactions are keyed by ``event_id`` and inserted with
"on conflict do nothing", so a replayed event is never counted twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from sqlalchemy import Connection, Table, bindparam, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from nextread.schemas import GroupIn, InteractionIn, ItemIn, UserIn
from nextread.store.models import Group, GroupMember, Interaction, Item, User, utcnow
from nextread.store.outbox import StoredEvent, add_to_outbox
from nextread.store.unknown import unknown, unknown_many


@dataclass
class WriteResult:
    written: int = 0
    unchanged: int = 0
    errors: dict[int, tuple[str, str]] = field(default_factory=dict)
    """Row index in the input → (field, reason)."""


def _insert(session: Session, table: Table) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def _upsert(session: Session, model: type, tenant_id: int, records: list[dict[str, Any]]) -> set[int]:
    """Insert or update by (tenant_id, external_id); returns the ids of rows inserted or changed.

    One cached statement executed with many parameter sets: SQLAlchemy's "insertmanyvalues" batches
    them into multi-row VALUES at the driver level, which is ~10x faster than compiling a fresh
    multi-row ``.values([...])`` statement per chunk (compilation dominated large imports).
    """
    if not records:
        return set()
    table = model.__table__
    now = utcnow()
    stmt = _insert(session, table)
    columns = [name for name in records[0] if name != "external_id"]
    differs = or_(*(table.c[name].is_distinct_from(stmt.excluded[name]) for name in columns))
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant_id", "external_id"],
        set_={**{name: stmt.excluded[name] for name in columns}, "updated_at": now},
        where=differs,
    ).returning(table.c.id)
    params = [{**record, "tenant_id": tenant_id, "created_at": now, "updated_at": now} for record in records]
    return {row.id for row in session.connection().execute(stmt, params)}


def _dedupe_last(rows: Sequence[Any]) -> list[tuple[int, Any]]:
    """Keep the last occurrence of each id, as a sequential replay of the rows would."""
    latest: dict[str, tuple[int, Any]] = {}
    for index, row in enumerate(rows):
        latest[row.id] = (index, row)
    return sorted(latest.values(), key=lambda pair: pair[0])


def upsert_items(session: Session, tenant_id: int, items: Sequence[ItemIn]) -> WriteResult:
    kept = _dedupe_last(items)
    records = [{"external_id": item.id, **item.model_dump(exclude={"id"})} for _, item in kept]
    written = len(_upsert(session, Item, tenant_id, records))
    return WriteResult(written=written, unchanged=len(items) - written)


def upsert_users(session: Session, tenant_id: int, users: Sequence[UserIn]) -> WriteResult:
    kept = _dedupe_last(users)
    records = [{"external_id": user.id, **user.model_dump(exclude={"id"})} for _, user in kept]
    written = len(_upsert(session, User, tenant_id, records))
    return WriteResult(written=written, unchanged=len(users) - written)


def resolve_ids(session: Session, model: type, tenant_id: int, external_ids: set[str]) -> dict[str, int]:
    """Map external ids to internal ids for one tenant (unknown ids are simply absent).

    The ids travel as one parameter (a PostgreSQL array, a JSON array on SQLite) rather than an IN list
    of thousands of parameters: the statement is then compiled once and cached, which matters when an
    import resolves a few thousand ids per batch.
    """
    if not external_ids:
        return {}
    ids = sorted(external_ids)
    if session.get_bind().dialect.name == "postgresql":
        return _resolve_ids_postgresql(session, model, tenant_id, ids)
    listed = select(func.json_each(bindparam("ids", json.dumps(ids))).table_valued("value").c.value)
    wanted = model.external_id.in_(listed)
    rows = session.execute(select(model.external_id, model.id).where(model.tenant_id == tenant_id, wanted))
    return {row.external_id: row.id for row in rows}


@contextmanager
def driver_errors(sql: str) -> Iterator[None]:
    """Raise driver errors of a raw psycopg cursor as SQLAlchemy's (OperationalError, IntegrityError…),
    so the API's 503 handler and the workers' outage detection see them like any other."""
    try:
        yield
    except psycopg.Error as exc:
        raise DBAPIError.instance(sql, None, exc, psycopg.Error) from exc


def _resolve_ids_postgresql(session: Session, model: type, tenant_id: int, ids: list[str]) -> dict[str, int]:
    """``external_id = ANY(array)``, never a server-side prepared statement: psycopg prepares a statement
    after a few runs, and PostgreSQL's generic plan for it neither hashes the array nor trusts the index
    on a freshly grown (not yet analysed) users table: sustained ingestion spent 0.4-1 s per 1,000 ids
    comparing every stored user with every wanted id. Planned with the actual array it takes ~5 ms."""
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    sql = f"SELECT external_id, id FROM {model.__tablename__} WHERE tenant_id = %s AND external_id = ANY(%s)"
    with driver_errors(sql):
        cursor.execute(sql, (tenant_id, ids), prepare=False)
        return dict(cursor.fetchall())


def upsert_groups(session: Session, tenant_id: int, groups: Sequence[GroupIn]) -> WriteResult:
    """Groups whose members include an unknown user are rejected whole, so a class is never half-set."""
    result = WriteResult()
    member_ids = {member for group in groups for member in (group.members or [])}
    known_users = resolve_ids(session, User, tenant_id, member_ids)
    accepted: list[GroupIn] = []
    for index, group in enumerate(groups):
        missing = [m for m in (group.members or []) if m not in known_users]
        if missing:
            result.errors[index] = ("members", unknown_many("user", missing, shown=5))
        else:
            accepted.append(group)
    kept = _dedupe_last(accepted)
    records = [{"external_id": g.id, **g.model_dump(exclude={"id", "members"})} for _, g in kept]
    changed = _upsert(session, Group, tenant_id, records)
    group_ids = resolve_ids(session, Group, tenant_id, {g.id for _, g in kept})
    for _, group in kept:
        members = {known_users[m] for m in group.members or []}
        if group.members is not None and _replace_members(session, group_ids[group.id], members):
            changed.add(group_ids[group.id])
    result.written = len(changed)
    result.unchanged = len(accepted) - result.written
    return result


def _replace_members(session: Session, group_id: int, user_ids: set[int]) -> bool:
    """True when the membership changed, False when it already matched."""
    current = set(session.scalars(select(GroupMember.user_id).where(GroupMember.group_id == group_id)))
    if current == user_ids:
        return False
    removed = current - user_ids
    if removed:
        session.execute(
            delete(GroupMember).where(GroupMember.group_id == group_id, GroupMember.user_id.in_(removed))
        )
    added = user_ids - current
    if added:
        session.execute(
            _insert(session, GroupMember.__table__).values(
                [{"group_id": group_id, "user_id": uid, "role": "student"} for uid in added]
            )
        )
    return True


def derive_event_id(row: InteractionIn, occurred_at: datetime) -> str:
    """A content hash, so the same row imported twice maps to the same event."""
    key = f"{row.user_id}\x1f{row.item_id}\x1f{row.type}\x1f{row.value}\x1f{occurred_at.isoformat()}"
    return "h:" + hashlib.sha1(key.encode()).hexdigest()


@dataclass
class IdCache:
    """External → internal ids remembered across the batches of one import, so each batch only asks the
    database about ids it has not seen yet. Discard it when a transaction rolls back: it may then hold
    ids of users created by that transaction."""

    items: dict[str, int] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)

    def resolve(
        self, session: Session, model: type, tenant_id: int, external_ids: set[str]
    ) -> dict[str, int]:
        """Returns a mapping that covers every known id of ``external_ids`` (and possibly more)."""
        known = self.items if model is Item else self.users
        missing = external_ids - known.keys()
        if missing:
            known.update(resolve_ids(session, model, tenant_id, missing))
        return known


def write_interactions(
    session: Session,
    tenant_id: int,
    rows: Sequence[InteractionIn],
    auto_create_users: bool = True,
    id_cache: IdCache | None = None,
    emit_events: bool = True,
) -> WriteResult:
    """Insert events, skipping ones already stored (same event_id). Unknown items are rejected;
    unknown users are created when ``auto_create_users`` is on (product teams rarely pre-register users).

    The newly stored rows (never the duplicates) also go to the event outbox in the same transaction,
    so the workers see every stored interaction exactly once whatever fails in between."""
    result = WriteResult()
    lookup = id_cache.resolve if id_cache is not None else resolve_ids
    items = lookup(session, Item, tenant_id, {row.item_id for row in rows})
    user_external = {row.user_id for row in rows}
    users = lookup(session, User, tenant_id, user_external)
    unknown_users = user_external - users.keys()
    if auto_create_users and unknown_users:
        # Sorted: concurrent batches creating the same new users lock them in one order (no deadlock).
        _insert_users_if_absent(session, tenant_id, [UserIn(id=uid) for uid in sorted(unknown_users)])
        users = lookup(session, User, tenant_id, user_external)
    now = datetime.now(UTC)
    to_db = _datetime_to_db(session)
    created_at = to_db(now)
    records: list[tuple[Any, ...]] = []
    for index, row in enumerate(rows):
        if row.item_id not in items:
            result.errors[index] = ("item_id", unknown("item", row.item_id))
            continue
        if row.user_id not in users:
            result.errors[index] = ("user_id", unknown("user", row.user_id))
            continue
        occurred_at = row.timestamp or now
        event_id = row.event_id or derive_event_id(row, occurred_at)
        user_id, item_id = users[row.user_id], items[row.item_id]
        records.append(
            (tenant_id, user_id, item_id, row.type, row.value, to_db(occurred_at), event_id, created_at)
        )
    stored = _insert_new_events(session, records)
    if emit_events and stored:
        external = {users[uid]: uid for uid in user_external if uid in users}
        add_to_outbox(session, tenant_id, stored, external)
    result.written = len(stored)
    result.unchanged = len(records) - result.written
    return result


EVENT_COLUMNS = ("tenant_id", "user_id", "item_id", "type", "value", "occurred_at", "event_id", "created_at")
# What the outbox needs of each newly stored row (see nextread.store.outbox.StoredEvent).
RETURNED_COLUMNS = "user_id, item_id, type, value, occurred_at, event_id"
# Below this many rows a multi-row VALUES beats creating a temp table and streaming COPY into it.
COPY_MIN_ROWS = 200
# Rows per multi-row VALUES statement: 8 parameters each stays far below SQLite's and psycopg's limits.
VALUES_CHUNK = 500


def _insert_new_events(session: Session, records: list[tuple[Any, ...]]) -> list[StoredEvent]:
    """Insert events, skipping stored event_ids; returns the rows that were new.

    Rows go to the driver as plain tuples (with SQLAlchemy's own bind processors applied, so values are
    stored exactly as the ORM would store them): per-row SQLAlchemy overhead dominated million-row
    imports. ``RETURNING`` names exactly the rows this statement inserted, so duplicates never reach
    the outbox. On PostgreSQL, large batches are streamed with COPY into a temp table and inserted with
    one INSERT … SELECT … ON CONFLICT DO NOTHING.
    """
    if not records:
        return []
    connection = session.connection()
    if connection.dialect.name == "postgresql" and len(records) >= COPY_MIN_ROWS:
        return _copy_new_events(connection, records)
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    row_marks = "(" + ", ".join([mark] * len(EVENT_COLUMNS)) + ")"
    stored: list[StoredEvent] = []
    for start in range(0, len(records), VALUES_CHUNK):
        chunk = records[start : start + VALUES_CHUNK]
        sql = (
            f"INSERT INTO interactions ({', '.join(EVENT_COLUMNS)}) VALUES "
            + ", ".join([row_marks] * len(chunk))
            + f" ON CONFLICT (tenant_id, event_id) DO NOTHING RETURNING {RETURNED_COLUMNS}"
        )
        params = tuple(value for record in chunk for value in record)
        stored.extend(StoredEvent(*row) for row in connection.exec_driver_sql(sql, params))
    return _counted(stored, len(records))


def _copy_new_events(connection: Connection, records: list[tuple[Any, ...]]) -> list[StoredEvent]:
    with driver_errors("COPY nextread_event_load"):
        return _copy_events(connection, records)


def _copy_events(connection: Connection, records: list[tuple[Any, ...]]) -> list[StoredEvent]:
    columns = ", ".join(EVENT_COLUMNS)
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.execute(
        "CREATE TEMP TABLE IF NOT EXISTS nextread_event_load (tenant_id integer, user_id integer, "
        "item_id integer, type varchar(32), value double precision, occurred_at timestamp, "
        "event_id varchar(128), created_at timestamp) ON COMMIT DROP"
    )
    with cursor.copy(f"COPY nextread_event_load ({columns}) FROM STDIN") as copy:
        for record in records:
            copy.write_row(record)
    cursor.execute(
        f"INSERT INTO interactions ({columns}) SELECT {columns} FROM nextread_event_load "
        f"ON CONFLICT (tenant_id, event_id) DO NOTHING RETURNING {RETURNED_COLUMNS}"
    )
    stored = [StoredEvent(*row) for row in cursor.fetchall()]
    cursor.execute("TRUNCATE nextread_event_load")
    return _counted(stored, len(records))


def _counted(stored: list[StoredEvent], total: int) -> list[StoredEvent]:
    if len(stored) > total:
        raise RuntimeError(f"the database driver reported {len(stored)} inserted rows for {total}")
    return stored


def _datetime_to_db(session: Session) -> Callable[[datetime], Any]:
    """SQLAlchemy's own bind processing for our timestamp type, so rows sent straight to the driver are
    stored exactly as the ORM stores them (naive UTC; SQLite's text format).

    On SQLite a C-level ``isoformat`` replaces the (three-layer, pure Python) processor when it yields
    the same text: a few seconds of a million-row import.
    """
    dialect = session.get_bind().dialect
    process = Interaction.__table__.c.occurred_at.type.dialect_impl(dialect).bind_processor(dialect)
    if process is None:
        return lambda value: value
    sample = datetime(2001, 2, 3, 4, 5, 6, 7, tzinfo=UTC)
    return _sqlite_text if _sqlite_text(sample) == process(sample) else process


def _sqlite_text(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


def _insert_users_if_absent(session: Session, tenant_id: int, users: Sequence[UserIn]) -> None:
    records = [
        {
            "external_id": u.id,
            "tenant_id": tenant_id,
            "extra": {},
            "created_at": utcnow(),
            "updated_at": utcnow(),
        }
        for u in users
    ]
    if records:
        # RETURNING makes SQLAlchemy batch the rows into multi-row VALUES on every driver.
        stmt = _insert(session, User.__table__).on_conflict_do_nothing(
            index_elements=["tenant_id", "external_id"]
        )
        session.connection().execute(stmt.returning(User.__table__.c.id), records).all()
