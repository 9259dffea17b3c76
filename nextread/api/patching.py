"""PATCH semantics shared by the routers: only the fields sent change; required fields cannot be nulled."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from pydantic import BaseModel


def apply_patch(row: Any, body: BaseModel, skip: frozenset[str] = frozenset()) -> None:
    columns = row.__table__.c
    for name, value in body.model_dump(exclude_unset=True).items():
        if name in skip:
            continue
        if value is None and not columns[name].nullable:
            raise HTTPException(422, f"{name}: may not be null")
        setattr(row, name, value)
