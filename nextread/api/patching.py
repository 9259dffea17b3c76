"""PATCH semantics shared by the routers and the dashboard: only the fields sent change, and the
result must pass exactly the rules a PUT of it would, so a patch can neither blank a required name
nor put the lowest grade above the highest one that is already stored."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def patched(schema_in: type[M], row: Any, patch: BaseModel) -> M:
    """The whole object a PUT would send: the row's stored fields with the patch's sent fields over
    them, validated by ``schema_in``. Raises ``ValidationError`` naming the field that breaks a rule."""
    columns = row.__table__.c
    stored = {name: getattr(row, name) for name in schema_in.model_fields if name != "id" and name in columns}
    return schema_in.model_validate({**stored, **patch.model_dump(exclude_unset=True), "id": row.external_id})


def refused_body(exc: ValidationError) -> RequestValidationError:
    """A ``ValidationError`` of the request body, reported as FastAPI reports its own (a 422 whose
    ``loc`` starts with ``body``)."""
    return RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)])
