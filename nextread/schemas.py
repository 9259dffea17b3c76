"""Input and output shapes shared by the REST API and the importers, so a row is valid in one
exactly when it is valid in the other."""

from __future__ import annotations

import base64
import binascii
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from nextread.levels.convert import parse_guided_reading_level, parse_level, parse_lexile

T = TypeVar("T")
GRADE_NAMES = {"k": 0, "kindergarten": 0, "pre-k": -1, "prek": -1}
MAX_TEXT = 20_000
# The widest integer column: PostgreSQL's ``integer``; a larger number would fail in the database.
MAX_STORED_INT = 2**31 - 1
# JSON numbers kept in ``extra`` must fit a signed 64-bit integer, which every JSON reader handles.
MAX_JSON_INT = 2**63 - 1
# Stored events happened between the Unix epoch and now, give or take a day of clock skew: a time
# outside that is a typo or a unit mistake, and one in year 9999 made every trend build millions of
# empty periods. Time windows of queries may reach to the end of the century.
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(days=1)
LATEST_QUERY_TIME = datetime(2100, 1, 1, tzinfo=UTC)

# C0 controls, DEL, C1 controls and lone surrogates: never part of a name or an id, and PostgreSQL
# cannot store NUL or a surrogate at all. Long text keeps tab, line feed and carriage return.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _refuse(pattern: re.Pattern[str], value: str) -> str:
    if match := pattern.search(value):
        raise ValueError(f"must not contain the control character U+{ord(match.group()):04X}")
    return value


def plain_text(value: str) -> str:
    """Names, titles, tags and ids: no control characters at all."""
    return _refuse(_CONTROL, value)


def multiline_text(value: str) -> str:
    """Descriptions and free text: tabs and line breaks are fine, other control characters are not."""
    return _refuse(_CONTROL_IN_TEXT, value)


def _plain_id(value: str) -> str:
    plain_text(value)
    if value in {".", ".."}:
        raise ValueError(f"{value!r} is not an id: it would mean a path, not a row")
    return value


ExternalId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=255, pattern=r"^[^\s/?#]+$"),
    AfterValidator(_plain_id),
]
_EXTERNAL_ID = TypeAdapter(ExternalId)


def is_external_id(value: str) -> bool:
    """Whether ``value`` could be a stored id: lookups of anything else find nothing without asking
    the database (PostgreSQL refuses a NUL in a query with an error)."""
    try:
        return _EXTERNAL_ID.validate_python(value) == value
    except ValidationError:
        return False


ShortText = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=1000), AfterValidator(plain_text)
]
LongText = Annotated[str, StringConstraints(max_length=MAX_TEXT), AfterValidator(multiline_text)]
InteractionType = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, min_length=1, max_length=32, pattern=r"^[a-z_]+$"
    ),
]
_INTERACTION_TYPE = TypeAdapter(InteractionType)


def is_interaction_type(value: str) -> bool:
    """Whether ``value`` is written as an interaction type is (a filter by anything else is a typo)."""
    try:
        return _INTERACTION_TYPE.validate_python(value) == value
    except ValidationError:
        return False


# Free text a query searches for: any length the route allows, no control characters.
QueryText = Annotated[str, AfterValidator(plain_text)]


def _portable_json(value: Any, path: str = "") -> Any:
    """Only what every JSON reader (and PostgreSQL's jsonb) takes back: finite numbers, integers
    within 64 bits, text without control characters other than tab and line breaks. Python's JSON
    parser accepts ``NaN`` and ``Infinity``; stored, they made ``export`` write invalid JSON."""
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            _portable_json(key, where)
            _portable_json(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _portable_json(item, f"{path}.{index}" if path else str(index))
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{path}: {value} is not a JSON number")
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_JSON_INT:
        raise ValueError(f"{path}: {value} does not fit in 64 bits")
    elif isinstance(value, str):
        try:
            multiline_text(value)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_portable_json)]


def _stored_time_range(value: datetime, latest: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if not EARLIEST_TIME <= value <= latest:
        raise ValueError(f"must be between {EARLIEST_TIME:%Y-%m-%d} and {name} (UTC)")
    return value  # its own offset kept: derived event ids hash the time as it was written


def _event_time(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return _stored_time_range(value, datetime.now(UTC) + CLOCK_SKEW, "one day from now")


def query_time(value: datetime | None) -> datetime | None:
    """The end of a time window a query asks about, in UTC; refused outside the accepted range."""
    if value is None:
        return None
    return _stored_time_range(value, LATEST_QUERY_TIME, f"{LATEST_QUERY_TIME:%Y-%m-%d}")


def _parse_timestamp(value: Any) -> Any:
    """Accept ISO-8601 strings and Unix seconds (as numbers or digit strings)."""
    if isinstance(value, str) and re.fullmatch(r"\d{9,11}(\.\d+)?", value.strip()):
        value = float(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{value} is out of range for a time in Unix seconds") from None
    return _blank_to_none(value)


EventTime = Annotated[datetime | None, BeforeValidator(_parse_timestamp), AfterValidator(_event_time)]
QueryTime = Annotated[datetime | None, AfterValidator(query_time)]


def cursor_position(cursor: str) -> int:
    """The last row id a page ended on; ``next_cursor`` is its base64. Anything that is not a row id
    (text, a negative number, more than 63 bits) is refused before it reaches the database."""
    try:
        position = int(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()).decode())
    except (ValueError, UnicodeDecodeError, binascii.Error):
        position = -1
    if not 0 <= position <= MAX_JSON_INT:
        raise ValueError("not a next_cursor returned by a previous page")
    return position


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(str(last_id).encode()).decode().rstrip("=")


def _valid_cursor(cursor: str) -> str:
    cursor_position(cursor)
    return cursor


Cursor = Annotated[str, AfterValidator(_valid_cursor)]


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
        Annotated[str, StringConstraints(strip_whitespace=True, **constraints), AfterValidator(plain_text)]
        | None,
        BeforeValidator(_blank_to_none),
    ]


StrList = Annotated[list[ShortText], BeforeValidator(_split_list), Field(max_length=200)]
Grade = Annotated[Annotated[int, Field(ge=-1, le=12)] | None, BeforeValidator(_parse_grade)]


def _lexile_notation(value: Any) -> Any:
    """ "450L", "BR100L", "lexile 450" or a bare number, as librarians write Lexile measures."""
    if isinstance(value, str) and value.strip() and not re.fullmatch(r"\s*-?\d+(\.\d+)?\s*", value):
        return parse_lexile(value)
    return value


def _guided_reading_notation(value: Any) -> Any:
    """ "M", "level M", "GRL M", "F&P M"."""
    if isinstance(value, str) and value.strip():
        return parse_guided_reading_level(value)
    return value


def _any_level(value: Any) -> Any:
    """A level in any scale search takes ("540L", "level M", "ATOS 3.4", "grade 2"; a bare number is
    a grade equivalent), onto the grade-equivalent scale."""
    if isinstance(value, str | int | float) and not isinstance(value, bool) and str(value).strip():
        return parse_level(value, "grade")
    return _blank_to_none(value)


GuidedLevel = Annotated[optional_text(pattern=r"^[A-Z]$"), BeforeValidator(_guided_reading_notation)]
Lexile = Annotated[optional(int, ge=-500, le=2000), BeforeValidator(_lexile_notation)]
ReadingLevel = Annotated[float | None, BeforeValidator(_any_level)]
Count = optional(int, ge=0, le=MAX_STORED_INT)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)


class ItemFields(Strict):
    title: ShortText | None = None
    authors: StrList = []
    description: LongText | None = None
    isbn: optional_text(pattern=r"^[0-9Xx-]{9,17}$") = None
    tags: StrList = []
    language: optional_text(max_length=16) = None
    publication_year: optional(int, ge=-3000, le=2100) = None
    average_rating: optional(float, ge=0, le=5) = None
    ratings_count: Count = None
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
    available_copies: Count = None
    extra: JsonObject = {}


class ItemIn(ItemFields):
    """An item to create or replace. ``id`` is your own identifier (SKU, book id, URL slug)."""

    id: ExternalId
    title: ShortText = Field(min_length=1)

    @field_validator("grade_max", "age_max")
    @classmethod
    def _not_below_lowest(cls, highest: int | None, info: ValidationInfo) -> int | None:
        """Checked on the whole object, so a PATCH of one end is held against the stored other end."""
        lowest_name = info.field_name.removesuffix("_max") + "_min"  # type: ignore[union-attr]
        lowest = info.data.get(lowest_name)
        if highest is not None and lowest is not None and highest < lowest:
            raise ValueError(f"must not be below {lowest_name} ({lowest})")
        return highest


class ItemPatch(ItemFields):
    """Fields to change; absent fields stay as they are."""


Stored = TypeVar("Stored", bound=BaseModel)


def from_store(model: type[Stored], values: dict[str, Any]) -> Stored:
    """An answer built from a stored row. A row written before today's input rules (a control
    character in a title, say) fails the output model's validation; it is still shown as stored, so
    an upgrade never turns a readable row into a 500. JSON output writes a non-finite number as null."""
    try:
        return model.model_validate(values)
    except ValidationError:
        return model.model_construct(**{name: values[name] for name in model.model_fields if name in values})


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
    extra: JsonObject = {}


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
    extra: JsonObject = {}


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


class InteractionIn(Strict):
    """One event. Send ``event_id`` to make retries safe; without it one is derived from the content."""

    user_id: ExternalId
    item_id: ExternalId
    type: InteractionType
    value: optional(float, allow_inf_nan=False) = Field(None, validate_default=True)
    timestamp: EventTime = None
    event_id: optional_text(min_length=1, max_length=128) = None

    @field_validator("value")
    @classmethod
    def _rating_range(cls, value: float | None, info: ValidationInfo) -> float | None:
        """A rating without its stars would be a guess; nothing else needs a value."""
        if info.data.get("type") != "rating":
            return value
        if value is None:
            raise ValueError("a rating needs a value (1 to 5 stars)")
        if not 1 <= value <= 5:
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
