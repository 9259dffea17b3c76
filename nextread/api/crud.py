"""Create / read / replace / patch / delete / list for a tenant-scoped table keyed by ``external_id``.

Items and users behave the same way through the API, so one factory builds both routers; routes
specific to a resource (a user's history, say) are added to the returned router. (No postponed
annotations here: FastAPI must resolve the body types, which are local variables of the factory.)
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Response, status
from pydantic import BaseModel, ValidationError
from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from nextread.api.deps import AdminDep, ReaderDep, SessionDep
from nextread.api.errors import problems
from nextread.api.limits import fields_within_limit
from nextread.api.pagination import CursorQuery, LimitQuery, next_cursor, paginate
from nextread.api.patching import patched, refused_body
from nextread.schemas import Cursor, ExternalId, Page, from_store, is_external_id
from nextread.store.unknown import unknown
from nextread.store.writes import WriteResult

# A PUT's path id follows the body id's rules, so a body that matches its path is valid as documented.
PathId = Annotated[ExternalId, Path(description="The id; a body's `id` must be the same.")]


@dataclass(frozen=True)
class Resource:
    noun: str
    model: type
    schema_in: type[BaseModel]
    schema_out: type[BaseModel]
    schema_patch: type[BaseModel]
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
            message = f"{self.noun}_id: {unknown(self.noun, external_id)}"
            raise HTTPException(status.HTTP_404_NOT_FOUND, message)
        return row

    def patch(self, session: Session, tenant_id: int, external_id: str, body: BaseModel) -> Any:
        """Change the fields ``body`` sets; the changed row must pass the rules of a PUT (raises
        ``ValidationError`` naming the field otherwise) and is written the way a PUT writes it."""
        row = self.find(session, tenant_id, external_id)
        self.upsert(session, tenant_id, [patched(self.schema_in, row, body)])
        session.refresh(row)
        return row

    def out(self, row: Any) -> BaseModel:
        return from_store(self.schema_out, {**row.__dict__, "id": row.external_id})


def crud_router(resource: Resource, prefix: str, tag: str) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=[tag], dependencies=[Depends(fields_within_limit)])
    noun, model = resource.noun, resource.model
    SchemaIn, SchemaOut, SchemaPatch = resource.schema_in, resource.schema_out, resource.schema_patch  # noqa: N806

    @router.get("", response_model=Page[SchemaOut], summary=f"List {noun}s (cursor pagination)")
    def list_rows(
        session: SessionDep,
        principal: ReaderDep,
        limit: int = LimitQuery,
        cursor: Cursor | None = CursorQuery,
    ) -> Any:
        statement = paginate(
            select(model).where(model.tenant_id == principal.tenant_id), model.id, limit, cursor
        )
        rows, cursor_out = next_cursor(list(session.scalars(statement)), limit)
        return {"data": [resource.out(row) for row in rows], "next_cursor": cursor_out}

    @router.post(
        "",
        response_model=SchemaOut,
        status_code=201,
        summary=f"Create a {noun} (409 if the id exists)",
        responses=problems(409),
    )
    def create(session: SessionDep, principal: AdminDep, body: SchemaIn = Body(...)) -> Any:  # type: ignore[valid-type]
        exists = session.scalar(
            select(model.id).where(model.tenant_id == principal.tenant_id, model.external_id == body.id)
        )
        if exists is not None:
            raise HTTPException(
                status.HTTP_409_CONFLICT, f"{noun} {body.id!r} already exists; use PUT to replace it"
            )
        resource.upsert(session, principal.tenant_id, [body])
        return resource.out(resource.find(session, principal.tenant_id, body.id))

    @router.get("/{external_id}", response_model=SchemaOut, summary=f"Get a {noun}")
    def get(external_id: str, session: SessionDep, principal: ReaderDep) -> Any:
        return resource.out(resource.find(session, principal.tenant_id, external_id))

    @router.put("/{external_id}", response_model=SchemaOut, summary=f"Create or replace a {noun}")
    def put(external_id: PathId, session: SessionDep, principal: AdminDep, body: SchemaIn = Body(...)) -> Any:  # type: ignore[valid-type]
        if body.id != external_id:
            raise HTTPException(422, f"id: body id {body.id!r} does not match the path id {external_id!r}")
        resource.upsert(session, principal.tenant_id, [body])
        return resource.out(resource.find(session, principal.tenant_id, external_id))

    @router.patch("/{external_id}", response_model=SchemaOut, summary=f"Change some fields of a {noun}")
    def patch(
        external_id: str, session: SessionDep, principal: AdminDep, body: SchemaPatch = Body(...)
    ) -> Any:  # type: ignore[valid-type]
        try:
            return resource.out(resource.patch(session, principal.tenant_id, external_id, body))
        except ValidationError as exc:
            raise refused_body(exc) from None

    @router.delete("/{external_id}", status_code=204, summary=f"Delete a {noun} and its interactions")
    def delete(external_id: str, session: SessionDep, principal: AdminDep) -> Response:
        session.delete(resource.find(session, principal.tenant_id, external_id))
        return Response(status_code=204)

    return router
