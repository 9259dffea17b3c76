"""Bulk, idempotent writes used by both the API and the importers.

Upserts compare every column with the stored row and touch only rows that really change, so
re-importing a file is a no-op; interactions are keyed by ``event_id`` and inserted with
"on conflict do nothing", so a replayed event is never counted twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from nextread.schemas import GroupIn, InteractionIn, ItemIn, UserIn
from nextread.store.models import Group, GroupMember, Interaction, Item, User, utcnow

# SQLite accepts at most 32766 bound parameters per statement; stay well below on both dialects.
MAX_PARAMS = 30_000


@dataclass
class WriteResult:
    written: int = 0
    unchanged: int = 0
    errors: dict[int, tuple[str, str]] = field(default_factory=dict)
    """Row index in the input → (field, reason)."""


def _insert(session: Session, table: Table) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def _chunks(rows: Sequence[Any], columns: int) -> list[Sequence[Any]]:
    size = max(1, MAX_PARAMS // max(1, columns))
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def _upsert(session: Session, model: type, tenant_id: int, records: list[dict[str, Any]]) -> set[int]:
    """Insert or update by (tenant_id, external_id); returns the ids of rows inserted or changed."""
    if not records:
        return set()
    table = model.__table__
    changed: set[int] = set()
    for chunk in _chunks(records, len(records[0]) + 3):
        stmt = _insert(session, table).values(
            [
                {**record, "tenant_id": tenant_id, "created_at": utcnow(), "updated_at": utcnow()}
                for record in chunk
            ]
        )
        columns = [name for name in chunk[0] if name != "external_id"]
        differs = or_(*(table.c[name].is_distinct_from(stmt.excluded[name]) for name in columns))
        stmt = stmt.on_conflict_do_update(
            index_elements=["tenant_id", "external_id"],
            set_={**{name: stmt.excluded[name] for name in columns}, "updated_at": utcnow()},
            where=differs,
        ).returning(table.c.id)
        changed.update(row.id for row in session.execute(stmt))
    return changed


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
    """Map external ids to internal ids for one tenant (unknown ids are simply absent)."""
    found: dict[str, int] = {}
    ids = sorted(external_ids)
    for chunk in _chunks(ids, 1):
        rows = session.execute(
            select(model.external_id, model.id).where(
                model.tenant_id == tenant_id, model.external_id.in_(chunk)
            )
        )
        found.update({row.external_id: row.id for row in rows})
    return found


def upsert_groups(session: Session, tenant_id: int, groups: Sequence[GroupIn]) -> WriteResult:
    """Groups whose members include an unknown user are rejected whole, so a class is never half-set."""
    result = WriteResult()
    member_ids = {member for group in groups for member in (group.members or [])}
    known_users = resolve_ids(session, User, tenant_id, member_ids)
    accepted: list[GroupIn] = []
    for index, group in enumerate(groups):
        missing = [m for m in (group.members or []) if m not in known_users]
        if missing:
            result.errors[index] = ("members", f"unknown user id(s): {', '.join(missing[:5])}")
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


def write_interactions(
    session: Session, tenant_id: int, rows: Sequence[InteractionIn], auto_create_users: bool = True
) -> WriteResult:
    """Insert events, skipping ones already stored (same event_id). Unknown items are rejected;
    unknown users are created when ``auto_create_users`` is on (product teams rarely pre-register users)."""
    result = WriteResult()
    items = resolve_ids(session, Item, tenant_id, {row.item_id for row in rows})
    user_external = {row.user_id for row in rows}
    users = resolve_ids(session, User, tenant_id, user_external)
    if auto_create_users and len(users) < len(user_external):
        new_users = [UserIn(id=uid) for uid in user_external - users.keys()]
        _insert_users_if_absent(session, tenant_id, new_users)
        users = resolve_ids(session, User, tenant_id, user_external)
    now = datetime.now(UTC)
    records: list[dict[str, Any]] = []
    for index, row in enumerate(rows):
        if row.item_id not in items:
            result.errors[index] = ("item_id", f"unknown item id {row.item_id!r}")
            continue
        if row.user_id not in users:
            result.errors[index] = ("user_id", f"unknown user id {row.user_id!r}")
            continue
        occurred_at = row.timestamp or now
        records.append(
            {
                "tenant_id": tenant_id,
                "user_id": users[row.user_id],
                "item_id": items[row.item_id],
                "type": row.type,
                "value": row.value,
                "occurred_at": occurred_at,
                "event_id": row.event_id or derive_event_id(row, occurred_at),
                "created_at": now,
            }
        )
    for chunk in _chunks(records, 8):
        stmt = _insert(session, Interaction.__table__).values(list(chunk))
        stmt = stmt.on_conflict_do_nothing(index_elements=["tenant_id", "event_id"]).returning(
            Interaction.__table__.c.id
        )
        result.written += len(session.execute(stmt).all())
    result.unchanged = len(records) - result.written
    return result


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
    for chunk in _chunks(records, 5):
        stmt = _insert(session, User.__table__).values(list(chunk))
        session.execute(stmt.on_conflict_do_nothing(index_elements=["tenant_id", "external_id"]))
