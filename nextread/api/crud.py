"""Create / read / replace / patch / delete / list routes for a record kind keyed by ``external_id``.

Items and users behave the same way through the API, so one factory builds both routers over the use
cases of :class:`~nextread.services.records.Resource`; routes specific to a resource (a user's history,
say) are added to the returned router. (No postponed annotations here: FastAPI must resolve the body
types, which are local variables of the factory.)
"""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Request, Response
from pydantic import BaseModel

from nextread.api.deps import AdminDep, ReaderDep, SessionDep
from nextread.api.errors import problems
from nextread.api.limits import fields_within_limit
from nextread.api.pagination import CursorQuery, LimitQuery
from nextread.cache import ServingCache
from nextread.schemas import Cursor, ExternalId, Page
from nextread.services.records import Resource

# A PUT's path id follows the body id's rules, so a body that matches its path is valid as documented.
PathId = Annotated[ExternalId, Path(description="The id; a body's `id` must be the same.")]
# The serving cache whose answers a written record's change affects (a reader's), or none.
CacheOf = Callable[[Request], ServingCache | None]


def no_cache(_request: Request) -> None:
    return None


def crud_router(
    resource: Resource[Any],
    schema_patch: type[BaseModel],
    prefix: str,
    tag: str,
    cache_of: CacheOf = no_cache,
) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=[tag], dependencies=[Depends(fields_within_limit)])
    noun = resource.noun
    SchemaIn, SchemaOut, SchemaPatch = resource.schema_in, resource.schema_out, schema_patch  # noqa: N806

    @router.get("", response_model=Page[SchemaOut], summary=f"List {noun}s (cursor pagination)")
    def list_rows(
        session: SessionDep,
        principal: ReaderDep,
        limit: int = LimitQuery,
        cursor: Cursor | None = CursorQuery,
    ) -> Any:
        return resource.page(session, principal.tenant_id, limit, cursor)

    @router.post(
        "",
        response_model=SchemaOut,
        status_code=201,
        summary=f"Create a {noun} (409 if the id exists)",
        responses=problems(409),
    )
    def create(session: SessionDep, principal: AdminDep, body: SchemaIn = Body(...)) -> Any:  # type: ignore[valid-type]
        return resource.create(session, principal, body)

    @router.get("/{external_id}", response_model=SchemaOut, summary=f"Get a {noun}")
    def get(external_id: str, session: SessionDep, principal: ReaderDep) -> Any:
        return resource.get(session, principal.tenant_id, external_id)

    @router.put("/{external_id}", response_model=SchemaOut, summary=f"Create or replace a {noun}")
    def put(
        external_id: PathId,
        request: Request,
        session: SessionDep,
        principal: AdminDep,
        body: SchemaIn = Body(...),  # type: ignore[valid-type]
    ) -> Any:
        return resource.replace(session, principal, external_id, body, cache_of(request))

    @router.patch("/{external_id}", response_model=SchemaOut, summary=f"Change some fields of a {noun}")
    def patch(
        external_id: str,
        request: Request,
        session: SessionDep,
        principal: AdminDep,
        body: SchemaPatch = Body(...),  # type: ignore[valid-type]
    ) -> Any:
        return resource.patch(session, principal, external_id, body, cache_of(request))

    @router.delete("/{external_id}", status_code=204, summary=f"Delete a {noun} and its interactions")
    def delete(external_id: str, request: Request, session: SessionDep, principal: AdminDep) -> Response:
        resource.delete(session, principal, external_id, cache_of(request))
        return Response(status_code=204)

    return router
