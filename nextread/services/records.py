"""The tenant's records, keyed by their ``external_id``: books (items), readers (users) and classes
(groups). Create, read, replace, patch, delete and list, the same for REST, the dashboard and MCP;
every write checks the caller's role and commits before it answers.

PATCH semantics: only the fields sent change, and the result must pass exactly the rules a PUT of it
would, so a patch can neither blank a required name nor put the lowest grade above the highest one
that is already stored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session, selectinload

from nextread.cache import ServingCache, invalidate_after_commit
from nextread.schemas import (
    GroupIn,
    GroupOut,
    ItemIn,
    ItemOut,
    Page,
    UserIn,
    UserOut,
    from_store,
    is_external_id,
)
from nextread.services.access import Principal, require_writer
from nextread.services.errors import AlreadyExistsError, InvalidError
from nextread.store.models import Group, GroupMember, Item, User
from nextread.store.paging import next_cursor, paginate
from nextread.store.unknown import UnknownIdError, unknown
from nextread.store.writes import WriteResult, upsert_groups, upsert_items, upsert_users

M = TypeVar("M", bound=BaseModel)
Out = TypeVar("Out", bound=BaseModel)


def patched(schema_in: type[M], row: Any, patch: BaseModel) -> M:
    """The whole object a PUT would send: the row's stored fields with the patch's sent fields over
    them, validated by ``schema_in``. Raises :class:`InvalidError` naming the field that breaks a rule."""
    columns = row.__table__.c
    stored = {name: getattr(row, name) for name in schema_in.model_fields if name != "id" and name in columns}
    try:
        return schema_in.model_validate(
            {**stored, **patch.model_dump(exclude_unset=True), "id": row.external_id}
        )
    except ValidationError as exc:
        raise InvalidError.of(exc) from None


def _different_ids(body_id: str, path_id: str) -> InvalidError:
    return InvalidError("id", f"body id {body_id!r} does not match the path id {path_id!r}")


@dataclass(frozen=True)
class Resource(Generic[Out]):
    """Books and readers behave the same way: one set of use cases serves both."""

    noun: str
    model: type
    schema_in: type[BaseModel]
    schema_out: type[Out]
    upsert: Callable[[Session, int, Sequence[Any]], WriteResult]

    @cached_property
    def _by_external_id(self) -> Select[Any]:
        """Built once: building the statement cost SQLAlchemy more than running it on SQLite
        (every recommendation request starts with a user lookup)."""
        return select(self.model).where(
            self.model.tenant_id == bindparam("tenant_id"),
            self.model.external_id == bindparam("external_id"),
        )

    def find(self, session: Session, tenant_id: int, external_id: str) -> Any:
        row = (
            session.scalar(self._by_external_id, {"tenant_id": tenant_id, "external_id": external_id})
            if is_external_id(external_id)
            else None
        )
        if row is None:
            raise UnknownIdError(f"{self.noun}_id", unknown(self.noun, external_id))
        return row

    def out(self, row: Any) -> Out:
        return from_store(self.schema_out, {**row.__dict__, "id": row.external_id})

    def get(self, session: Session, tenant_id: int, external_id: str) -> Out:
        return self.out(self.find(session, tenant_id, external_id))

    def page(self, session: Session, tenant_id: int, limit: int, cursor: str | None) -> Page[Out]:
        statement = paginate(
            select(self.model).where(self.model.tenant_id == tenant_id), self.model.id, limit, cursor
        )
        rows, cursor_out = next_cursor(list(session.scalars(statement)), limit)
        return Page[self.schema_out](data=[self.out(row) for row in rows], next_cursor=cursor_out)  # type: ignore[name-defined]

    def create(self, session: Session, principal: Principal, body: BaseModel) -> Out:
        """Refuses an id the tenant already has (:class:`AlreadyExistsError`)."""
        require_writer(principal)
        exists = session.scalar(
            select(self.model.id).where(
                self.model.tenant_id == principal.tenant_id,
                self.model.external_id == body.id,  # type: ignore[attr-defined]
            )
        )
        if exists is not None:
            raise AlreadyExistsError(f"{self.noun} {body.id!r} already exists; use PUT to replace it")  # type: ignore[attr-defined]
        return self._write(session, principal.tenant_id, body)

    def replace(
        self,
        session: Session,
        principal: Principal,
        external_id: str,
        body: BaseModel,
        cache: ServingCache | None = None,
    ) -> Out:
        """Create or replace. ``cache``: the serving cache whose answers for this record go once the
        change is committed (a reader's grade, level or interests change their recommendations)."""
        require_writer(principal)
        if body.id != external_id:  # type: ignore[attr-defined]
            raise _different_ids(body.id, external_id)  # type: ignore[attr-defined]
        self._forget_after_commit(session, cache, principal.tenant_id, external_id)
        return self._write(session, principal.tenant_id, body)

    def patch(
        self,
        session: Session,
        principal: Principal,
        external_id: str,
        changes: BaseModel,
        cache: ServingCache | None = None,
    ) -> Out:
        """Change the fields ``changes`` sets; the changed row must pass the rules of a PUT (raises
        :class:`InvalidError` naming the field otherwise) and is written the way a PUT writes it."""
        require_writer(principal)
        row = self.find(session, principal.tenant_id, external_id)
        self._forget_after_commit(session, cache, principal.tenant_id, external_id)
        self.upsert(session, principal.tenant_id, [patched(self.schema_in, row, changes)])
        session.refresh(row)
        out = self.out(row)
        session.commit()
        return out

    def delete(
        self, session: Session, principal: Principal, external_id: str, cache: ServingCache | None = None
    ) -> None:
        """Its interactions go with it."""
        require_writer(principal)
        row = self.find(session, principal.tenant_id, external_id)
        self._forget_after_commit(session, cache, principal.tenant_id, external_id)
        session.delete(row)
        session.commit()

    def _write(self, session: Session, tenant_id: int, body: BaseModel) -> Out:
        self.upsert(session, tenant_id, [body])
        out = self.get(session, tenant_id, body.id)  # type: ignore[attr-defined]
        session.commit()
        return out

    def _forget_after_commit(
        self, session: Session, cache: ServingCache | None, tenant_id: int, external_id: str
    ) -> None:
        if cache is not None:
            invalidate_after_commit(session, cache, tenant_id, [external_id])


ITEMS: Resource[ItemOut] = Resource("item", Item, ItemIn, ItemOut, upsert_items)
USERS: Resource[UserOut] = Resource("user", User, UserIn, UserOut, upsert_users)


def find_item(session: Session, tenant_id: int, item_id: str) -> Item:
    return ITEMS.find(session, tenant_id, item_id)


def find_user(session: Session, tenant_id: int, user_id: str) -> User:
    return USERS.find(session, tenant_id, user_id)


# Groups: classes, reading clubs — any set of users. Their members are listed by user id.


def find_group(session: Session, tenant_id: int, group_id: str) -> Group:
    group = (
        session.scalar(
            select(Group)
            .where(Group.tenant_id == tenant_id, Group.external_id == group_id)
            .options(selectinload(Group.members))
        )
        if is_external_id(group_id)
        else None
    )
    if group is None:
        raise UnknownIdError("group_id", unknown("group", group_id))
    return group


def _member_ids(session: Session, group_ids: list[int]) -> dict[int, list[str]]:
    members: dict[int, list[str]] = {gid: [] for gid in group_ids}
    rows = session.execute(
        select(GroupMember.group_id, User.external_id)
        .join(User, User.id == GroupMember.user_id)
        .where(GroupMember.group_id.in_(group_ids))
        .order_by(User.external_id)
    )
    for row in rows:
        members[row.group_id].append(row.external_id)
    return members


def _group_out(group: Group, members: list[str]) -> GroupOut:
    return from_store(GroupOut, {**group.__dict__, "id": group.external_id, "members": members})


def get_group(session: Session, tenant_id: int, group_id: str) -> GroupOut:
    group = find_group(session, tenant_id, group_id)
    return _group_out(group, _member_ids(session, [group.id])[group.id])


def list_groups(session: Session, tenant_id: int, limit: int, cursor: str | None) -> Page[GroupOut]:
    statement = paginate(select(Group).where(Group.tenant_id == tenant_id), Group.id, limit, cursor)
    rows, cursor_out = next_cursor(list(session.scalars(statement)), limit)
    members = _member_ids(session, [row.id for row in rows])
    return Page[GroupOut](data=[_group_out(row, members[row.id]) for row in rows], next_cursor=cursor_out)


def create_group(session: Session, principal: Principal, body: GroupIn) -> GroupOut:
    """Refuses an id the tenant already has; every member must be a known user."""
    require_writer(principal)
    exists = session.scalar(
        select(Group.id).where(Group.tenant_id == principal.tenant_id, Group.external_id == body.id)
    )
    if exists is not None:
        raise AlreadyExistsError(f"group {body.id!r} already exists; use PUT to replace it")
    return _write_group(session, principal.tenant_id, body)


def replace_group(session: Session, principal: Principal, group_id: str, body: GroupIn) -> GroupOut:
    require_writer(principal)
    if body.id != group_id:
        raise _different_ids(body.id, group_id)
    return _write_group(session, principal.tenant_id, body)


def patch_group(session: Session, principal: Principal, group_id: str, changes: BaseModel) -> GroupOut:
    """``members``, when sent, replaces the member list."""
    require_writer(principal)
    group = find_group(session, principal.tenant_id, group_id)
    replacement = patched(GroupIn, group, changes)
    session.expire(group)  # written by the upsert below; read back fresh
    return _write_group(session, principal.tenant_id, replacement)


def delete_group(session: Session, principal: Principal, group_id: str) -> None:
    """Its users stay."""
    require_writer(principal)
    session.delete(find_group(session, principal.tenant_id, group_id))
    session.commit()


def _write_group(session: Session, tenant_id: int, body: GroupIn) -> GroupOut:
    result = upsert_groups(session, tenant_id, [body])
    if result.errors:
        field, reason = result.errors[0]
        if reason.startswith("unknown"):
            raise UnknownIdError(field, reason)
        raise InvalidError(field, reason)
    out = get_group(session, tenant_id, body.id)
    session.commit()
    return out
