"""One error shape for every failed request: an RFC 9457 problem (``application/problem+json``).

Every 4xx and 5xx the API sends is a :class:`Problem` whose ``detail`` is one sentence that starts with
the field it is about (``weights: unknown component 'x'``); a 422 also lists each invalid field in
``errors`` as ``{loc, msg, type}``, as FastAPI's own validation errors do. :func:`document_errors`
declares on each operation the statuses it can answer, so the OpenAPI document matches the server.
"""

from __future__ import annotations

from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from nextread.observability import get_logger
from nextread.services.enrich import EnrichmentDisabledError
from nextread.services.errors import (
    AlreadyExistsError,
    InvalidError,
    NoCatalogError,
    NotAllowedError,
    ServiceError,
    TooLargeError,
    UpstreamError,
)
from nextread.store.db import REFUSED, database_failure
from nextread.store.unknown import UnknownIdError

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = get_logger("nextread.api.errors")


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="Where: `query`, `path` or `body`, then the field.")
    msg: str = Field(description="What is wrong with it.")
    type: str = Field(description="A machine-readable kind, e.g. `missing`, `int_parsing`, `value_error`.")


class Problem(BaseModel):
    """An RFC 9457 problem detail; ``errors`` is set on a 422 only."""

    type: str = Field("about:blank", description="Always `about:blank`: the status says it all.")
    title: str = Field(description="The status phrase, e.g. `Not Found`.")
    status: int = Field(description="The HTTP status code, repeated.")
    detail: str = Field(description="What went wrong, starting with the field it concerns.")
    instance: str = Field(description="The request path.")
    errors: list[FieldError] | None = Field(None, description="On a 422: every invalid field.")


class InvalidField(HTTPException):
    """A 422 (or another status) about one named field, listed in the problem's ``errors`` too."""

    def __init__(self, loc: tuple[str, ...], reason: str, status_code: int = 422) -> None:
        super().__init__(status_code, f"{loc[-1]}: {reason}")
        self.loc, self.reason = loc, reason


def problem_response(
    instance: str,
    status_code: int,
    detail: str,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = Problem(
        title=HTTPStatus(status_code).phrase,
        status=status_code,
        detail=detail,
        instance=instance,
        errors=errors,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code, headers=headers, media_type=PROBLEM_MEDIA_TYPE
    )


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc if part != "body") or "body"


def _message(error: dict[str, Any]) -> str:
    """Pydantic prefixes a validator's own sentence with "Value error, ", which reads as noise."""
    return str(error["msg"]).removeprefix("Value error, ")


def _field_errors(exc: RequestValidationError) -> list[FieldError]:
    return [
        FieldError(loc=list(error["loc"]), msg=_message(error), type=error["type"]) for error in exc.errors()
    ]


# The status of each refusal a use case raises; the most specific class listed wins.
REFUSAL_STATUS: dict[type[Exception], int] = {
    UnknownIdError: 404,
    NoCatalogError: 404,
    NotAllowedError: 403,
    AlreadyExistsError: 409,
    EnrichmentDisabledError: 409,
    TooLargeError: 413,
    InvalidError: 422,
    UpstreamError: 502,
}


def refusal_status(exc: Exception) -> int:
    return next(REFUSAL_STATUS[kind] for kind in type(exc).__mro__ if kind in REFUSAL_STATUS)


def refused_body(errors: list[dict[str, Any]]) -> RequestValidationError:
    """pydantic's errors of a request body, reported as FastAPI reports its own (a 422 whose ``loc``
    starts with ``body``)."""
    return RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors])


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = "; ".join(f"{_location(error['loc'])}: {_message(error)}" for error in exc.errors())
        return problem_response(request.url.path, 422, detail or "invalid request", _field_errors(exc))

    @app.exception_handler(ServiceError)
    @app.exception_handler(UnknownIdError)
    @app.exception_handler(EnrichmentDisabledError)
    async def refused(request: Request, exc: Exception) -> JSONResponse:
        """A use case's refusal, answered as the HTTP error it stands for. A model's refusal of a value
        the body sent lists every field, as a body FastAPI validated itself would."""
        if isinstance(exc, InvalidError) and exc.errors is not None:
            return await validation_error(request, refused_body(exc.errors))
        return await http_error(request, HTTPException(refusal_status(exc), str(exc)))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        errors = None
        if isinstance(exc, InvalidField):
            errors = [FieldError(loc=list(exc.loc), msg=exc.reason, type="value_error")]
        elif exc.status_code == 422:
            field, _, reason = str(exc.detail).partition(": ")
            errors = [FieldError(loc=field.split("."), msg=reason or field, type="value_error")]
        return problem_response(request.url.path, exc.status_code, str(exc.detail), errors, exc.headers)

    @app.exception_handler(DBAPIError)
    async def database_error(request: Request, exc: DBAPIError) -> JSONResponse:
        """A failed statement or commit (the commit runs before the answer is sent, see
        :func:`~nextread.api.deps.get_session`). Answered here rather than re-raised: an exception that
        reaches uvicorn after its 500 is sent makes it drop the connection, and the client may read a
        reset instead of the answer."""
        failure = database_failure(exc)
        if failure is REFUSED:
            log.error("database_error", error=str(exc.orig), exc_info=exc)
        else:
            log.warning("database_failure", status=failure.status, error=str(exc.orig))
        return problem_response(request.url.path, failure.status, failure.message)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        """Logged with its traceback; the client gets no Python text, only where to look."""
        log.exception("internal_error", error_type=type(exc).__name__)
        return problem_response(request.url.path, 500, "internal error; the server log has the details")


def _problem(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Problem"}
    return {"description": description, "content": {PROBLEM_MEDIA_TYPE: {"schema": schema}}}


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for statuses an endpoint answers beyond those :func:`document_errors` infers
    (a 409 on create, a 404 for an id given in the body or the query)."""
    return {code: _problem(HTTPStatus(code).phrase) for code in codes}


def _dependency_names(dependant: Any) -> set[str]:
    names: set[str] = set()
    for dependency in dependant.dependencies:
        names.add(getattr(dependency.call, "__name__", ""))
        names |= _dependency_names(dependency)
    return names


def _statuses(route: APIRoute) -> dict[int, str]:
    """The errors an operation can answer, from what it depends on and what it takes."""
    dependant, extra = route.dependant, route.openapi_extra or {}
    names = _dependency_names(dependant)
    statuses = {500: "Internal error"}
    if "get_session" in names or "security" in extra:
        statuses[503] = "Database unavailable; nothing was written, retry later"
        if set(route.methods) & {"POST", "PUT", "PATCH", "DELETE"}:
            statuses[409] = "The write conflicted with stored data or a concurrent write"
    if "get_principal" in names or "security" in extra:
        statuses[401] = "Missing, invalid or revoked API key"
    if "require_admin" in names:
        statuses[403] = "A read-only key asked to write"
    if dependant.query_params or dependant.path_params or dependant.body_params or "parameters" in extra:
        statuses[422] = "A parameter or the body is invalid; `errors` names each field"
    if dependant.path_params:
        statuses[404] = "The id in the path is unknown in this tenant"
    if dependant.body_params:
        statuses[400] = "The body is not valid JSON"
        statuses[413] = (
            "Content too large: the body is over `NEXTREAD_MAX_REQUEST_BYTES` or a field is over "
            "`NEXTREAD_MAX_FIELD_CHARS`; `detail` names the limit (and the field)"
        )
    return statuses


def _api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """The operations of the app, inside the routers it includes too."""
    for route in routes:
        if isinstance(route, APIRoute) and route.include_in_schema:
            yield route
        elif hasattr(route, "original_router"):  # an included router
            yield from _api_routes(route.original_router.routes)


def document_errors(app: FastAPI) -> None:
    """Declare on each operation the error statuses it can answer, with the :class:`Problem` schema;
    call it after the routers are included. A status an endpoint documents itself wins."""
    for route in _api_routes(app.router.routes):
        for code, description in sorted(_statuses(route).items()):
            route.responses.setdefault(code, _problem(description))
    build_schema = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build_schema()
            problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            schema["components"]["schemas"].update({"Problem": problem, **problem.pop("$defs", {})})
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
