"""Items: the catalog (books, articles, products…)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status
from sqlalchemy import select

from nextread.api.deps import AdminDep, ReaderDep, SessionDep
from nextread.api.pagination import CursorQuery, LimitQuery, next_cursor, paginate
from nextread.api.patching import apply_patch
from nextread.schemas import ItemIn, ItemOut, ItemPatch, Page
from nextread.store.models import Item
from nextread.store.writes import upsert_items

router = APIRouter(prefix="/v1/items", tags=["items"])


def _out(item: Item) -> ItemOut:
    return ItemOut.model_validate({**item.__dict__, "id": item.external_id})


def find_item(session: SessionDep, tenant_id: int, item_id: str) -> Item:
    item = session.scalar(select(Item).where(Item.tenant_id == tenant_id, Item.external_id == item_id))
    if item is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"item {item_id!r} not found")
    return item


@router.get("", response_model=Page[ItemOut], summary="List items (cursor pagination)")
def list_items(
    session: SessionDep, principal: ReaderDep, limit: int = LimitQuery, cursor: str | None = CursorQuery
) -> Page[ItemOut]:
    statement = paginate(select(Item).where(Item.tenant_id == principal.tenant_id), Item.id, limit, cursor)
    rows, cursor_out = next_cursor(list(session.scalars(statement)), limit)
    return Page[ItemOut](data=[_out(row) for row in rows], next_cursor=cursor_out)


@router.post("", response_model=ItemOut, status_code=201, summary="Create an item (409 if the id exists)")
def create_item(body: ItemIn, session: SessionDep, principal: AdminDep) -> ItemOut:
    exists = session.scalar(
        select(Item.id).where(Item.tenant_id == principal.tenant_id, Item.external_id == body.id)
    )
    if exists is not None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"item {body.id!r} already exists; use PUT to replace it"
        )
    upsert_items(session, principal.tenant_id, [body])
    return _out(find_item(session, principal.tenant_id, body.id))


@router.get("/{item_id}", response_model=ItemOut)
def get_item(item_id: str, session: SessionDep, principal: ReaderDep) -> ItemOut:
    return _out(find_item(session, principal.tenant_id, item_id))


@router.put("/{item_id}", response_model=ItemOut, summary="Create or replace an item")
def put_item(item_id: str, body: ItemIn, session: SessionDep, principal: AdminDep) -> ItemOut:
    if body.id != item_id:
        raise HTTPException(422, f"id: body id {body.id!r} does not match the path id {item_id!r}")
    upsert_items(session, principal.tenant_id, [body])
    return _out(find_item(session, principal.tenant_id, item_id))


@router.patch("/{item_id}", response_model=ItemOut, summary="Change some fields of an item")
def patch_item(item_id: str, body: ItemPatch, session: SessionDep, principal: AdminDep) -> ItemOut:
    item = find_item(session, principal.tenant_id, item_id)
    apply_patch(item, body)
    session.flush()
    return _out(item)


@router.delete("/{item_id}", status_code=204, summary="Delete an item and its interactions")
def delete_item(item_id: str, session: SessionDep, principal: AdminDep) -> Response:
    session.delete(find_item(session, principal.tenant_id, item_id))
    return Response(status_code=204)
