"""Groups: classes, reading clubs — any set of users."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from nextread.api.crud import PathId
from nextread.api.deps import AdminDep, ReaderDep, SessionDep
from nextread.api.errors import problems
from nextread.api.limits import fields_within_limit
from nextread.api.pagination import CursorQuery, LimitQuery
from nextread.schemas import Cursor, GroupIn, GroupOut, GroupPatch, Page
from nextread.services import records

router = APIRouter(prefix="/v1/groups", tags=["groups"], dependencies=[Depends(fields_within_limit)])


@router.get("", response_model=Page[GroupOut], summary="List groups (cursor pagination)")
def list_groups(
    session: SessionDep, principal: ReaderDep, limit: int = LimitQuery, cursor: Cursor | None = CursorQuery
) -> Page[GroupOut]:
    return records.list_groups(session, principal.tenant_id, limit, cursor)


@router.post(
    "",
    response_model=GroupOut,
    status_code=201,
    summary="Create a group (409 if the id exists, 404 for an unknown member)",
    responses=problems(404, 409),
)
def create_group(body: GroupIn, session: SessionDep, principal: AdminDep) -> GroupOut:
    return records.create_group(session, principal, body)


@router.get("/{group_id}", response_model=GroupOut)
def get_group(group_id: str, session: SessionDep, principal: ReaderDep) -> GroupOut:
    return records.get_group(session, principal.tenant_id, group_id)


@router.put("/{group_id}", response_model=GroupOut, summary="Create or replace a group and its members")
def put_group(group_id: PathId, body: GroupIn, session: SessionDep, principal: AdminDep) -> GroupOut:
    return records.replace_group(session, principal, group_id, body)


@router.patch(
    "/{group_id}", response_model=GroupOut, summary="Change fields; `members` replaces the member list"
)
def patch_group(group_id: str, body: GroupPatch, session: SessionDep, principal: AdminDep) -> GroupOut:
    return records.patch_group(session, principal, group_id, body)


@router.delete("/{group_id}", status_code=204, summary="Delete a group (its users stay)")
def delete_group(group_id: str, session: SessionDep, principal: AdminDep) -> Response:
    records.delete_group(session, principal, group_id)
    return Response(status_code=204)
