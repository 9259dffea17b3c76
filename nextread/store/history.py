"""Checkout history for librarians: who read what and when, per student, class, book or time window,
with trends (events per day/week/month, top tags per period) and a cursor-paginated event listing.

Periods are computed by the database, so counting a year of a district's checkouts moves one row
per period rather than every event. Each dialect truncates dates its own way (PostgreSQL
``date_trunc``; SQLite ``date()`` modifiers); both give ISO weeks starting on Monday and the first of
the month, and the tests run the same assertions on both.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from nextread.schemas import (
    CLOCK_SKEW,
    EARLIEST_TIME,
    cursor_position,
    encode_cursor,
    is_external_id,
    is_interaction_type,
    query_time,
)
from nextread.store.models import Group, GroupMember, Interaction, Item, User
from nextread.store.unknown import UnknownIdError, unknown

Bucket = Literal["day", "week", "month"]
BUCKETS: tuple[str, ...] = ("day", "week", "month")
DEFAULT_TYPES = ("checkout",)


class HistoryLookupError(UnknownIdError):
    """A filter names a user, group or item this tenant does not have; ``field`` says which."""

    def __init__(self, field: str, value: str):
        super().__init__(field, unknown(field, value))


class HistoryEvent(BaseModel):
    user_id: str
    display_name: str | None
    item_id: str
    title: str
    type: str
    value: float | None
    timestamp: datetime
    event_id: str


class PeriodCount(BaseModel):
    period: date = Field(description="First day of the period (Monday for weeks).")
    events: int
    readers: int


class TagCount(BaseModel):
    tag: str
    count: int


class PeriodTags(BaseModel):
    period: date
    tags: list[TagCount]


class BookCount(BaseModel):
    id: str
    title: str
    count: int
    readers: int


class HistoryTotals(BaseModel):
    events: int
    readers: int
    books: int


class CheckoutHistory(BaseModel):
    bucket: str
    types: list[str]
    totals: HistoryTotals
    trend: list[PeriodCount] = Field(description="Every period from the first to the last with events.")
    top_books: list[BookCount]
    top_tags: list[TagCount]
    tags_over_time: list[PeriodTags]
    data: list[HistoryEvent] = Field(description="Matching events, newest first (one page).")
    next_cursor: str | None


def query_checkout_history(
    session: Session,
    tenant_id: int,
    *,
    user: str | None = None,
    group: str | None = None,
    item: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    types: tuple[str, ...] | list[str] = DEFAULT_TYPES,
    bucket: Bucket = "week",
    limit: int = 50,
    cursor: str | None = None,
    top: int = 10,
) -> CheckoutHistory:
    """History of one tenant's events of ``types`` (default checkouts), narrowed by any of ``user``,
    ``group``, ``item`` (external ids) and the window ``since`` ≤ time < ``until``; ``cursor`` is the
    previous page's ``next_cursor``. Raises :class:`HistoryLookupError` for an unknown id and
    ``ValueError`` (message starting with the parameter's name) for any other bad argument."""
    since, until = _utc(since), _utc(until)
    _check(bucket, since, until, limit, top, types)
    before_id = decode_cursor(cursor) if cursor is not None else None
    since, until = _within_stored_range(since, until)
    conditions = _conditions(session, tenant_id, user, group, item, since, until, list(types))
    period = period_expression(session.get_bind().dialect.name, bucket)
    top_tags, tags_over_time = _tags(session, conditions, period, top)
    events, next_cursor = _page(session, conditions, limit, before_id)
    return CheckoutHistory(
        bucket=bucket,
        types=list(types),
        totals=_totals(session, conditions),
        trend=_trend(session, conditions, period, bucket),
        top_books=_top_books(session, conditions, top),
        top_tags=top_tags,
        tags_over_time=tags_over_time,
        data=events,
        next_cursor=next_cursor,
    )


def decode_cursor(cursor: str) -> int:
    try:
        return cursor_position(cursor)
    except ValueError as exc:
        raise ValueError(f"cursor: {exc}") from exc


def _utc(moment: datetime | None) -> datetime | None:
    """A time without a zone is UTC, as everywhere in the API."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _within_stored_range(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    """The window cut to the times an event may have (1970 to a day from now). Events stored by older
    releases outside it (a year 9999 typo) are left out rather than stretching every trend over
    millions of empty periods."""
    latest = datetime.now(UTC) + CLOCK_SKEW
    return max(since or EARLIEST_TIME, EARLIEST_TIME), min(until or latest, latest)


def _check(
    bucket: str, since: datetime | None, until: datetime | None, limit: int, top: int, types: Any
) -> None:
    for name, moment in (("since", since), ("until", until)):
        try:
            query_time(moment)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    if bucket not in BUCKETS:
        raise ValueError(f"bucket: must be one of {', '.join(BUCKETS)}, got {bucket!r}")
    if since is not None and until is not None and since >= until:
        raise ValueError("since: must be before until")
    if not 1 <= limit <= 1000:
        raise ValueError(f"limit: must be between 1 and 1000, got {limit}")
    if not 1 <= top <= 100:
        raise ValueError(f"top: must be between 1 and 100, got {top}")
    if not types:
        raise ValueError("type: at least one interaction type is needed")
    if unknown := [kind for kind in types if not is_interaction_type(kind)]:
        raise ValueError(f"type: {unknown[0]!r} is not an interaction type (lower-case letters and _)")


def period_expression(dialect: str, bucket: str) -> ColumnElement[Any]:
    """The start of the event's period, as the database computes it."""
    column = Interaction.occurred_at
    if dialect == "postgresql":
        return func.date_trunc(bucket, column)
    if bucket == "day":
        return func.date(column)
    if bucket == "week":
        return func.date(column, "-6 days", "weekday 1")
    return func.strftime("%Y-%m-01", column)


def _as_date(value: Any) -> date:
    """PostgreSQL returns a timestamp, SQLite an ISO date string."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _conditions(
    session: Session,
    tenant_id: int,
    user: str | None,
    group: str | None,
    item: str | None,
    since: datetime | None,
    until: datetime | None,
    types: list[str],
) -> list[ColumnElement[bool]]:
    conditions = [Interaction.tenant_id == tenant_id, Interaction.type.in_(types)]
    if user is not None:
        conditions.append(Interaction.user_id == _pk(session, User, tenant_id, "user", user))
    if group is not None:
        group_pk = _pk(session, Group, tenant_id, "group", group)
        members = select(GroupMember.user_id).where(GroupMember.group_id == group_pk)
        conditions.append(Interaction.user_id.in_(members))
    if item is not None:
        conditions.append(Interaction.item_id == _pk(session, Item, tenant_id, "item", item))
    if since is not None:
        conditions.append(Interaction.occurred_at >= since)
    if until is not None:
        conditions.append(Interaction.occurred_at < until)
    return conditions


def _pk(session: Session, model: Any, tenant_id: int, field: str, external_id: str) -> int:
    pk = (
        session.scalar(select(model.id).where(model.tenant_id == tenant_id, model.external_id == external_id))
        if is_external_id(external_id)
        else None
    )
    if pk is None:
        raise HistoryLookupError(field, external_id)
    return pk


def _totals(session: Session, conditions: list[ColumnElement[bool]]) -> HistoryTotals:
    row = session.execute(
        select(
            func.count(),
            func.count(func.distinct(Interaction.user_id)),
            func.count(func.distinct(Interaction.item_id)),
        ).where(*conditions)
    ).one()
    return HistoryTotals(events=row[0], readers=row[1], books=row[2])


def _trend(
    session: Session, conditions: list[ColumnElement[bool]], period: ColumnElement[Any], bucket: str
) -> list[PeriodCount]:
    labelled = period.label("period")
    rows = session.execute(
        select(labelled, func.count(), func.count(func.distinct(Interaction.user_id)))
        .where(*conditions)
        .group_by(labelled)
    ).all()
    counts = {_as_date(row[0]): (row[1], row[2]) for row in rows}
    return (
        [
            PeriodCount(
                period=start, events=counts.get(start, (0, 0))[0], readers=counts.get(start, (0, 0))[1]
            )
            for start in _periods(min(counts), max(counts), bucket)
        ]
        if counts
        else []
    )


def _periods(first: date, last: date, bucket: str) -> list[date]:
    """Every period start from ``first`` to ``last``, so quiet weeks show as zeros, not gaps."""
    starts = []
    current = first
    while current <= last:
        starts.append(current)
        if bucket == "month":
            current = date(current.year + current.month // 12, current.month % 12 + 1, 1)
        else:
            current += timedelta(days=1 if bucket == "day" else 7)
    return starts


def _top_books(session: Session, conditions: list[ColumnElement[bool]], top: int) -> list[BookCount]:
    events = func.count().label("events")
    rows = session.execute(
        select(Item.external_id, Item.title, events, func.count(func.distinct(Interaction.user_id)))
        .join(Item, Item.id == Interaction.item_id)
        .where(*conditions)
        .group_by(Item.id, Item.external_id, Item.title)
        .order_by(events.desc(), Item.external_id)
        .limit(top)
    ).all()
    return [BookCount(id=row[0], title=row[1], count=row[2], readers=row[3]) for row in rows]


def _tags(
    session: Session, conditions: list[ColumnElement[bool]], period: ColumnElement[Any], top: int
) -> tuple[list[TagCount], list[PeriodTags]]:
    """Counted per (period, book) in SQL and per tag here: tags are a JSON list, which each database
    would unnest differently, and there are far fewer books than events."""
    labelled = period.label("period")
    rows = session.execute(
        select(labelled, Interaction.item_id, func.count())
        .where(*conditions)
        .group_by(labelled, Interaction.item_id)
    ).all()
    tags_of = (
        dict(session.execute(select(Item.id, Item.tags).where(Item.id.in_({row[1] for row in rows}))).all())
        if rows
        else {}
    )
    overall: Counter[str] = Counter()
    by_period: dict[date, Counter[str]] = defaultdict(Counter)
    for start, item_pk, count in rows:
        for tag in {str(tag).strip().casefold() for tag in tags_of.get(item_pk) or ()}:
            overall[tag] += count
            by_period[_as_date(start)][tag] += count
    top_tags = [TagCount(tag=tag, count=n) for tag, n in _most_common(overall, top)]
    over_time = [
        PeriodTags(
            period=start, tags=[TagCount(tag=t, count=n) for t, n in _most_common(by_period[start], 5)]
        )
        for start in sorted(by_period)
    ]
    return top_tags, over_time


def _most_common(counter: Counter[str], top: int) -> list[tuple[str, int]]:
    """Ties broken alphabetically, so the same data always gives the same answer on both databases."""
    return sorted(counter.items(), key=lambda pair: (-pair[1], pair[0]))[:top]


def _page(
    session: Session, conditions: list[ColumnElement[bool]], limit: int, before_id: int | None
) -> tuple[list[HistoryEvent], str | None]:
    statement: Select[Any] = (
        select(Interaction, User.external_id, User.display_name, Item.external_id, Item.title)
        .join(User, User.id == Interaction.user_id)
        .join(Item, Item.id == Interaction.item_id)
        .where(*conditions)
    )
    if before_id is not None:
        statement = statement.where(Interaction.id < before_id)
    rows = session.execute(statement.order_by(Interaction.id.desc()).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    events = [
        HistoryEvent(
            user_id=user_id,
            display_name=name,
            item_id=item_id,
            title=title,
            type=event.type,
            value=event.value,
            timestamp=event.occurred_at,
            event_id=event.event_id,
        )
        for event, user_id, name, item_id, title in rows
    ]
    return events, encode_cursor(rows[-1][0].id) if more else None
