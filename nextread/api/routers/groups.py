"""Groups: classes, reading clubs — any set of users."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Response, status
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from nextread.api.crud import PathId
from nextread.api.deps import AdminDep, ReaderDep, SessionDep
from nextread.api.errors import problems
from nextread.api.limits import fields_within_limit
from nextread.api.pagination import CursorQuery, LimitQuery, next_cursor, paginate
from nextread.api.patching import patched, refused_body
from nextread.schemas import Cursor, GroupIn, GroupOut, GroupPatch, Page, from_store, is_external_id
from nextread.store.models import Group, GroupMember, User
from nextread.store.unknown import unknown
from nextread.store.writes import upsert_groups

router = APIRouter(prefix="/v1/groups", tags=["groups"], dependencies=[Depends(fields_within_limit)])


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


def _out(group: Group, members: list[str]) -> GroupOut:
    return from_store(GroupOut, {**group.__dict__, "id": group.external_id, "members": members})


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
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"group_id: {unknown('group', group_id)}")
    return group


def _write(session: Session, tenant_id: int, body: GroupIn) -> GroupOut:
    result = upsert_groups(session, tenant_id, [body])
    if result.errors:
        field, reason = result.errors[0]
        code = (
            status.HTTP_404_NOT_FOUND
            if reason.startswith("unknown")
            else status.HTTP_422_UNPROCESSABLE_CONTENT
        )
        raise HTTPException(code, f"{field}: {reason}")
    group = find_group(session, tenant_id, body.id)
    return _out(group, _member_ids(session, [group.id])[group.id])


@router.get("", response_model=Page[GroupOut], summary="List groups (cursor pagination)")
def list_groups(
    session: SessionDep, principal: ReaderDep, limit: int = LimitQuery, cursor: Cursor | None = CursorQuery
) -> Page[GroupOut]:
    statement = paginate(select(Group).where(Group.tenant_id == principal.tenant_id), Group.id, limit, cursor)
    rows, cursor_out = next_cursor(list(session.scalars(statement)), limit)
    members = _member_ids(session, [row.id for row in rows])
    return Page[GroupOut](data=[_out(row, members[row.id]) for row in rows], next_cursor=cursor_out)


@router.post(
    "",
    response_model=GroupOut,
    status_code=201,
    summary="Create a group (409 if the id exists, 404 for an unknown member)",
    responses=problems(404, 409),
)
def create_group(body: GroupIn, session: SessionDep, principal: AdminDep) -> GroupOut:
    exists = session.scalar(
        select(Group.id).where(Group.tenant_id == principal.tenant_id, Group.external_id == body.id)
    )
    if exists is not None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"group {body.id!r} already exists; use PUT to replace it"
        )
    return _write(session, principal.tenant_id, body)


@router.get("/{group_id}", response_model=GroupOut)
def get_group(group_id: str, session: SessionDep, principal: ReaderDep) -> GroupOut:
    group = find_group(session, principal.tenant_id, group_id)
    return _out(group, _member_ids(session, [group.id])[group.id])


@router.put("/{group_id}", response_model=GroupOut, summary="Create or replace a group and its members")
def put_group(group_id: PathId, body: GroupIn, session: SessionDep, principal: AdminDep) -> GroupOut:
    if body.id != group_id:
        raise HTTPException(422, f"id: body id {body.id!r} does not match the path id {group_id!r}")
    return _write(session, principal.tenant_id, body)


@router.patch(
    "/{group_id}", response_model=GroupOut, summary="Change fields; `members` replaces the member list"
)
def patch_group(group_id: str, body: GroupPatch, session: SessionDep, principal: AdminDep) -> GroupOut:
    group = find_group(session, principal.tenant_id, group_id)
    try:
        replacement = patched(GroupIn, group, body)
    except ValidationError as exc:
        raise refused_body(exc) from None
    session.expire(group)  # written by the upsert below; read back fresh
    return _write(session, principal.tenant_id, replacement)


@router.delete("/{group_id}", status_code=204, summary="Delete a group (its users stay)")
def delete_group(group_id: str, session: SessionDep, principal: AdminDep) -> Response:
    session.delete(find_group(session, principal.tenant_id, group_id))
    return Response(status_code=204)
