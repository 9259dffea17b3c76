"""Input and output shapes shared by the REST API and the importers, so a row is valid in one
exactly when it is valid in the other."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, field_validator

T = TypeVar("T")
GRADE_NAMES = {"k": 0, "kindergarten": 0, "pre-k": -1, "prek": -1}
MAX_TEXT = 20_000

ExternalId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255, pattern=r"^[^\s/?#]+$")
]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]
LongText = Annotated[str, StringConstraints(max_length=MAX_TEXT)]
InteractionType = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, min_length=1, max_length=32, pattern=r"^[a-z_]+$"
    ),
]


def _split_list(value: Any) -> Any:
    """CSV cells carry lists as "a, b" or "a|b"; JSON carries real lists."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        separator = "|" if "|" in value else ","
        return [part.strip() for part in value.split(separator) if part.strip()]
    return value


def _parse_grade(value: Any) -> Any:
    if isinstance(value, str):
        key = value.strip().lower()
        if key in GRADE_NAMES:
            return GRADE_NAMES[key]
        if key == "":
            return None
        match = re.fullmatch(r"(?:grade\s*)?(\d{1,2})(?:st|nd|rd|th)?(?:\s*grade)?", key)
        if match:
            return int(match.group(1))
    return value


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and value.strip() == "" else value


def optional(base: Any, **constraints: Any) -> Any:
    """An optional field whose constraints apply to the value, not to None; blank CSV cells mean None."""
    return Annotated[Annotated[base, Field(**constraints)] | None, BeforeValidator(_blank_to_none)]


def optional_text(**constraints: Any) -> Any:
    return Annotated[
        Annotated[str, StringConstraints(strip_whitespace=True, **constraints)] | None,
        BeforeValidator(_blank_to_none),
    ]


StrList = Annotated[list[ShortText], BeforeValidator(_split_list), Field(max_length=200)]
Grade = Annotated[Annotated[int, Field(ge=-1, le=12)] | None, BeforeValidator(_parse_grade)]
GuidedLevel = Annotated[
    optional_text(pattern=r"^[A-Z]$"),
    BeforeValidator(lambda v: v.strip().upper() if isinstance(v, str) else v),
]
Lexile = optional(int, ge=-500, le=2000)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ItemFields(Strict):
    title: ShortText | None = None
    authors: StrList = []
    description: LongText | None = None
    isbn: optional_text(pattern=r"^[0-9Xx-]{9,17}$") = None
    tags: StrList = []
    language: optional_text(max_length=16) = None
    publication_year: optional(int, ge=-3000, le=2100) = None
    average_rating: optional(float, ge=0, le=5) = None
    ratings_count: optional(int, ge=0) = None
    lexile: Lexile = None
    guided_reading_level: GuidedLevel = None
    grade_min: Grade = None
    grade_max: Grade = None
    age_min: optional(int, ge=0, le=25) = None
    age_max: optional(int, ge=0, le=25) = None
    series_name: optional_text(max_length=255) = None
    series_position: optional(float, ge=0) = None
    page_count: optional(int, ge=0, le=100_000) = None
    cover_url: optional_text(max_length=1000) = None
    staff_pick: bool = False
    available_copies: optional(int, ge=0) = None
    extra: dict[str, Any] = {}


class ItemIn(ItemFields):
    """An item to create or replace. ``id`` is your own identifier (SKU, book id, URL slug)."""

    id: ExternalId
    title: ShortText = Field(min_length=1)


class ItemPatch(ItemFields):
    """Fields to change; absent fields stay as they are."""


class ItemOut(ItemFields):
    model_config = ConfigDict(from_attributes=True, extra="ignore")

    id: str
    title: str
    created_at: datetime
    updated_at: datetime


class UserFields(Strict):
    display_name: optional_text(max_length=255) = None
    grade: Grade = None
    lexile: Lexile = None
    guided_reading_level: GuidedLevel = None
    interests: LongText | None = None
    extra: dict[str, Any] = {}


class UserIn(UserFields):
    id: ExternalId


class UserPatch(UserFields):
    pass


class UserOut(UserFields):
    model_config = ConfigDict(from_attributes=True, extra="ignore")

    id: str
    created_at: datetime
    updated_at: datetime


class GroupFields(Strict):
    name: ShortText | None = None
    kind: Annotated[str, StringConstraints(max_length=32)] = "class"
    grade: Grade = None
    teacher: optional_text(max_length=255) = None
    members: Annotated[list[ExternalId], BeforeValidator(_split_list), Field(max_length=5000)] | None = None
    extra: dict[str, Any] = {}


class GroupIn(GroupFields):
    """A class or any other set of users; ``members`` are user ids (they must exist)."""

    id: ExternalId
    name: ShortText = Field(min_length=1)


class GroupPatch(GroupFields):
    pass


class GroupOut(GroupFields):
    model_config = ConfigDict(extra="ignore")

    id: str
    name: str
    members: list[str] = []
    created_at: datetime
    updated_at: datetime


def _parse_timestamp(value: Any) -> Any:
    """Accept ISO-8601 strings and Unix seconds (as numbers or digit strings)."""
    if isinstance(value, str) and re.fullmatch(r"\d{9,11}(\.\d+)?", value.strip()):
        value = float(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    return _blank_to_none(value)


class InteractionIn(Strict):
    """One event. Send ``event_id`` to make retries safe; without it one is derived from the content."""

    user_id: ExternalId
    item_id: ExternalId
    type: InteractionType
    value: optional(float, allow_inf_nan=False) = None
    timestamp: Annotated[datetime | None, BeforeValidator(_parse_timestamp)] = None
    event_id: optional_text(min_length=1, max_length=128) = None

    @field_validator("timestamp")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @field_validator("value")
    @classmethod
    def _rating_range(cls, value: float | None, info: Any) -> float | None:
        if value is not None and info.data.get("type") == "rating" and not 1 <= value <= 5:
            raise ValueError("a rating must be between 1 and 5")
        return value


class InteractionOut(BaseModel):
    user_id: str
    item_id: str
    type: str
    value: float | None
    timestamp: datetime
    event_id: str


class TagCount(BaseModel):
    tag: str
    count: int


class ProfileOut(BaseModel):
    id: str
    interactions: int
    counts_by_type: dict[str, int]
    favourite_tags: list[TagCount]
    reading_level: dict[str, Any]


class BatchResult(BaseModel):
    """Outcome of a batch: ``stored`` new events, ``duplicates`` already stored (same event_id), and
    ``rejected`` rows with their index in the request and the reason."""

    received: int
    stored: int
    duplicates: int
    rejected: list[dict[str, Any]]


class Page(BaseModel, Generic[T]):
    """A page of results; pass ``next_cursor`` back as ``cursor`` for the next one (null: no more)."""

    data: list[T]
    next_cursor: str | None
