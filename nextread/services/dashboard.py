"""Questions only the dashboard asks: school counts and activity, a student name search, titles for a
history, aggregate readers of a book, the catalog by title, the class list, staff picks among hits.

No API endpoint answers these, so they live here rather than beside an endpoint's service; everything a
client could also ask over HTTP goes through that endpoint's service, so the dashboard and the API
cannot disagree. The answers are plain dicts and dataclasses the pages render as they are."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from nextread.levels import item_level
from nextread.services import answers
from nextread.services.access import READ, Principal, require
from nextread.services.records import find_item, find_user
from nextread.store.accounts import NON_READER_ROLES
from nextread.store.models import Group, GroupMember, Interaction, Item, ModelVersion, User

ACTIVE_DAYS = 30


@dataclass
class Overview:
    counts: dict[str, int]
    per_day: list[tuple[str, int]]
    active_students: int
    top_books: list[dict[str, Any]]
    top_window_days: int | None
    model: dict[str, Any] | None
    training: dict[str, Any] | None = None
    """A training running (stage, progress) or failed since the newest model, as ``GET /v1/models``."""


def _count(session: Session, model: type, tenant_id: int) -> int:
    return session.scalar(select(func.count()).select_from(model).where(model.tenant_id == tenant_id)) or 0


def overview(session: Session, identity: Principal) -> Overview:
    """Activity is counted back from the newest event, so an imported past school year still shows."""
    tenant_id = identity.tenant_id
    counts = {name: _count(session, model, tenant_id) for name, model in _COUNTED.items()}
    newest = session.scalar(
        select(func.max(Interaction.occurred_at)).where(Interaction.tenant_id == tenant_id)
    )
    per_day: list[tuple[str, int]] = []
    active = 0
    if newest is not None:
        since = newest - timedelta(days=90)
        day = func.date(Interaction.occurred_at)
        rows = session.execute(
            select(day, func.count())
            .where(Interaction.tenant_id == tenant_id, Interaction.occurred_at >= since)
            .group_by(day)
            .order_by(day)
        )
        per_day = [(str(row[0]), int(row[1])) for row in rows]
        active = (
            session.scalar(
                select(func.count(func.distinct(Interaction.user_id))).where(
                    Interaction.tenant_id == tenant_id,
                    Interaction.occurred_at >= newest - timedelta(days=ACTIVE_DAYS),
                )
            )
            or 0
        )
    top, window = _top_books(session, identity)
    model = session.scalar(
        select(ModelVersion).where(ModelVersion.tenant_id == tenant_id).order_by(ModelVersion.version.desc())
    )
    model_info = (
        {
            "version": model.version,
            "created_at": model.created_at,
            "metrics": model.metrics,
            "n_items": model.n_items,
            "n_users": model.n_users,
            "params": model.params,
        }
        if model is not None
        else None
    )
    versions = answers.model_versions(session, tenant_id)
    training = versions[0].model_dump() if versions and versions[0].status != "ready" else None
    return Overview(counts, per_day, active, top, window, model_info, training)


_COUNTED = {"books": Item, "students": User, "classes": Group, "interactions": Interaction}


def _top_books(session: Session, identity: Principal) -> tuple[list[dict[str, Any]], int | None]:
    """This month's most read books (the API's popularity), or all-time when the month was quiet."""
    for window in (ACTIVE_DAYS, None):
        answer = answers.popular_items(session, identity.tenant_id, n=10, window_days=window)
        if answer.data:
            return [row.model_dump() for row in answer.data], window
    return [], None


@dataclass
class Rows:
    """One page of a longer list and how long the whole list is (what a pager shows)."""

    rows: list[dict[str, Any]]
    total: int


def search_students(
    session: Session,
    tenant_id: int,
    text: str = "",
    offset: int = 0,
    limit: int = 25,
    classes: Collection[int] | None = None,
) -> Rows:
    """Name or id match, paged in the database so every student of a school of any size is reachable;
    ``classes``: only the readers of these classes (a teacher's, :attr:`Principal.classes`), None:
    every student of the school."""
    matching = select(User.id).where(User.tenant_id == tenant_id)
    if classes is not None:
        matching = (
            matching.join(GroupMember, GroupMember.user_id == User.id)
            .where(GroupMember.group_id.in_(list(classes)), GroupMember.role.not_in(NON_READER_ROLES))
            .distinct()
        )
    if text.strip():
        pattern = f"%{text.strip().lower()}%"
        matching = matching.where(
            or_(func.lower(User.display_name).like(pattern), func.lower(User.external_id).like(pattern))
        )
    total = session.scalar(select(func.count()).select_from(matching.subquery())) or 0
    page = (
        select(User)
        .where(User.id.in_(matching))
        .order_by(User.display_name, User.external_id)
        .offset(offset)
        .limit(limit)
    )
    users = list(session.scalars(page))
    class_of = _class_names(session, [user.id for user in users])
    rows = [
        {
            "id": user.external_id,
            "name": user.display_name or user.external_id,
            "grade": grade_label(user.grade),
            "class": class_of.get(user.id, ""),
        }
        for user in users
    ]
    return Rows(rows, total)


def _class_names(session: Session, user_pks: list[int]) -> dict[int, str]:
    """Each student's class (the first by name when they are in several)."""
    names: dict[int, str] = {}
    for user_pk, name in session.execute(
        select(GroupMember.user_id, Group.name)
        .join(Group, Group.id == GroupMember.group_id)
        .where(GroupMember.user_id.in_(user_pks))
        .order_by(Group.name)
    ):
        names.setdefault(user_pk, name)
    return names


def grade_label(grade: int | None) -> str:
    return "" if grade is None else ("K" if grade == 0 else str(grade))


def find_student(session: Session, identity: Principal, student_id: str) -> User:
    """Refused for a student outside a teacher's classes, whichever page asks."""
    require(identity, READ, student_id=student_id)
    return find_user(session, identity.tenant_id, student_id)


def history(session: Session, identity: Principal, student_id: str, offset: int = 0, limit: int = 20) -> Rows:
    """The student's events newest first, as ``GET /v1/users/{id}/history`` lists them, one page with
    each book's title and what happened in words."""
    require(identity, READ, student_id=student_id)
    user = find_user(session, identity.tenant_id, student_id)
    total = (
        session.scalar(
            select(func.count())
            .select_from(Interaction)
            .where(Interaction.tenant_id == identity.tenant_id, Interaction.user_id == user.id)
        )
        or 0
    )
    rows = session.execute(
        select(Interaction.occurred_at, Interaction.type, Interaction.value, Item.external_id, Item.title)
        .join(Item, Item.id == Interaction.item_id)
        .where(Interaction.tenant_id == identity.tenant_id, Interaction.user_id == user.id)
        .order_by(Interaction.id.desc())
        .offset(offset)
        .limit(limit)
    )
    events = [
        {
            "date": f"{row.occurred_at:%Y-%m-%d}",
            "item_id": row.external_id,
            "title": row.title or row.external_id,
            "what": event_words(row.type, row.value),
        }
        for row in rows
    ]
    return Rows(events, total)


EVENT_WORDS = {
    "checkout": "Borrowed",
    "return": "Returned",
    "view": "Looked at",
    "like": "Liked",
    "save": "Saved for later",
    "share": "Shared",
    "rating": "Rated",
    "finished": "Finished",
    "abandoned": "Stopped reading",
    "dismiss": "Not interested",
}
"""Interaction types as a librarian says them; a school's own type is shown as stored."""


def event_words(kind: str, value: float | None) -> str:
    words = EVENT_WORDS.get(kind, kind)
    return f"{words} {value:g} of 5" if kind == "rating" and value is not None else words


def book(session: Session, identity: Principal, item_id: str) -> Item:
    return find_item(session, identity.tenant_id, item_id)


def book_level(item: Item) -> float | None:
    return item_level(
        item.lexile, item.guided_reading_level, item.grade_min, item.grade_max, item.age_min, item.age_max
    )


def readers_of(session: Session, tenant_id: int, item_pk: int) -> dict[str, Any]:
    """Who reads a book, in aggregate only (counts by interaction type and by class), never names."""
    by_type = dict(
        session.execute(
            select(Interaction.type, func.count(func.distinct(Interaction.user_id)))
            .where(Interaction.tenant_id == tenant_id, Interaction.item_id == item_pk)
            .group_by(Interaction.type)
        ).all()
    )
    by_class = dict(
        session.execute(
            select(Group.name, func.count(func.distinct(Interaction.user_id)))
            .join(GroupMember, GroupMember.user_id == Interaction.user_id)
            .join(Group, Group.id == GroupMember.group_id)
            .where(Interaction.tenant_id == tenant_id, Interaction.item_id == item_pk)
            .group_by(Group.name)
            .order_by(Group.name)
        ).all()
    )
    return {"by_type": by_type, "by_class": by_class}


def book_row(item: Item, level: float | None) -> dict[str, Any]:
    return {
        "id": item.external_id,
        "title": item.title,
        "authors": ", ".join(item.authors or []),
        "level": None if level is None else round(level, 1),
        "tags": ", ".join((item.tags or [])[:4]),
        "staff_pick": "★" if item.staff_pick else "",
        "copies": item.available_copies,
    }


def books_by_id(session: Session, tenant_id: int, ids: list[str]) -> list[dict[str, Any]]:
    """Catalog rows for ``ids``, in their order; ids no longer in the catalog are left out."""
    items = {
        item.external_id: item
        for item in session.scalars(
            select(Item).where(Item.tenant_id == tenant_id, Item.external_id.in_(ids))
        )
    }
    return [book_row(items[i], book_level(items[i])) for i in ids if i in items]


def reading_list(session: Session, tenant_id: int, ids: list[str]) -> list[dict[str, Any]]:
    """The chosen books by title as a library files them ("The Hobbit" under H), so a class finds a
    book on the list the way it finds it on the shelf."""
    return sorted(books_by_id(session, tenant_id, ids), key=lambda row: filing_title(row["title"]))


def filing_title(title: str) -> str:
    words = title.casefold().split(maxsplit=1)
    if len(words) == 2 and words[0] in _ARTICLES:
        return words[1]
    return title.casefold()


_ARTICLES = {"the", "a", "an"}


def staff_picks(session: Session, tenant_id: int, item_ids: Collection[str]) -> set[str]:
    """Which of ``item_ids`` the librarian marked as staff picks."""
    return set(
        session.scalars(
            select(Item.external_id).where(
                Item.tenant_id == tenant_id,
                Item.staff_pick.is_(True),
                Item.external_id.in_(list(item_ids)),
            )
        )
    )


def list_classes(
    session: Session, tenant_id: int, classes: Collection[int] | None = None
) -> list[dict[str, Any]]:
    """``classes``: only these (a teacher's); None: every class of the school."""
    sizes = dict(
        session.execute(
            select(GroupMember.group_id, func.count())
            .join(Group)
            .where(Group.tenant_id == tenant_id)
            .group_by(GroupMember.group_id)
        ).all()
    )
    statement = select(Group).where(Group.tenant_id == tenant_id).order_by(Group.grade, Group.name)
    if classes is not None:
        statement = statement.where(Group.id.in_(list(classes)))
    groups = session.scalars(statement)
    return [
        {
            "id": group.external_id,
            "name": group.name,
            "teacher": group.teacher or "",
            "grade": grade_label(group.grade),
            "students": sizes.get(group.id, 0),
        }
        for group in groups
    ]


def class_name(
    session: Session, tenant_id: int, group_id: str, classes: Collection[int] | None = None
) -> str | None:
    """None for an unknown class, and for one outside ``classes`` (a teacher's) when given."""
    statement = select(Group.name).where(Group.tenant_id == tenant_id, Group.external_id == group_id)
    if classes is not None:
        statement = statement.where(Group.id.in_(list(classes)))
    return session.scalar(statement)


def class_size(session: Session, tenant_id: int, group_id: str) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(GroupMember)
            .join(Group, Group.id == GroupMember.group_id)
            .where(Group.tenant_id == tenant_id, Group.external_id == group_id)
        )
        or 0
    )
