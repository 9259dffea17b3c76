"""A reading list for a whole class: every student's personal scores, combined fairly.

The selection itself is plain numpy (:mod:`nextread.engine.group_selection`); this module gathers
its inputs from the store and the serving model and turns the answer into rows a teacher can read,
including, for each book, which students it fits and where it sits in each student's own ranking.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from nextread.engine.group_selection import (
    Strategy,
    group_metrics,
    personal_ranks,
    select_for_group,
)
from nextread.schemas import is_external_id
from nextread.services.recommend import RecommendationRequest, RecommendationService
from nextread.services.student_levels import get_student_reading_level
from nextread.store.accounts import NON_READER_ROLES
from nextread.store.models import Group, GroupMember, Item, User
from nextread.store.unknown import UnknownIdError, unknown


class GroupNotFoundError(UnknownIdError):
    """No group with that id in this tenant."""


class StudentFit(BaseModel):
    id: str
    display_name: str | None
    in_band: bool = Field(description="The book is in the student's just-right reading band.")
    has_read: bool
    rank: int | None = Field(
        description="Where the book sits in the student's own ranking (1 = their top pick); "
        "null when it is not a candidate for them (read, not grade appropriate…)."
    )
    score: float | None = Field(description="The student's hybrid score for the book, 0–1.")


class GroupBook(BaseModel):
    id: str
    title: str
    authors: list[str]
    cover_url: str | None
    level: float | None = Field(description="Reading level in grade units (K = 0).")
    score: float = Field(description="Mean of the students' hybrid scores (0 for those who cannot take it).")
    fits: list[str] = Field(description="Students for whom the book is unread and in their just-right band.")
    read_by: int = Field(description="How many students of the class have already read it.")
    students: list[StudentFit]
    explanation: str | None = None


class GroupListMetrics(BaseModel):
    students: int
    students_with_level: int
    min_per_student: int
    coverage: float = Field(
        description="Share of students (with a known level) with at least min_per_student unread books "
        "of their just-right band in the list."
    )
    mean_utility: float = Field(
        description="Mean per-student utility: the student's score sum over the list divided by the "
        "best a list of the same length could give them (1 = as good as their personal list)."
    )
    min_utility: float
    already_read_share: float = Field(description="Mean share of the class that has read a listed book.")
    uncovered: list[str] = Field(description="Students short of min_per_student books in their band.")


class GroupRecommendations(BaseModel):
    group_id: str
    group_name: str
    model_version: int
    strategy: str
    data: list[GroupBook]
    metrics: GroupListMetrics


@dataclass
class ClassInputs:
    """The matrices :func:`select_for_group` works on, plus the rows they describe."""

    students: list[User]
    scores: np.ndarray
    in_band: np.ndarray
    has_read: np.ndarray
    has_level: np.ndarray
    item_levels: np.ndarray
    series: np.ndarray
    item_pks: np.ndarray
    model_version: int


def just_right_band(session: Session, tenant_id: int, user: User) -> tuple[float, float] | None:
    """A student's just-right band in grade units, or None when nothing tells their level: the
    reading-level estimate from the stated level, grade and what they finished, abandoned and liked."""
    band = get_student_reading_level(session, tenant_id, user.external_id).just_right
    return None if band is None else (band.low, band.high)


def class_members(session: Session, tenant_id: int, group_id: str) -> tuple[Group, list[User]]:
    group = (
        session.scalar(select(Group).where(Group.tenant_id == tenant_id, Group.external_id == group_id))
        if is_external_id(group_id)
        else None
    )
    if group is None:
        raise GroupNotFoundError("group_id", unknown("group", group_id))
    students = session.scalars(
        select(User)
        .join(GroupMember, GroupMember.user_id == User.id)
        .where(GroupMember.group_id == group.id, GroupMember.role.not_in(NON_READER_ROLES))
        .order_by(User.external_id)
    )
    return group, list(students)


def class_inputs(
    service: RecommendationService,
    session: Session,
    tenant_id: int,
    students: list[User],
    request: RecommendationRequest,
) -> ClassInputs | None:
    """Each student's scores over the whole catalog, their bands and what they have read."""
    scored = [service.score_user(session, tenant_id, student, request) for student in students]
    if not scored or scored[0] is None:
        return None
    catalog = scored[-1].catalog.catalog
    levels = catalog.levels
    shape = (len(students), catalog.n_items)
    scores, in_band, has_read = np.full(shape, np.nan), np.zeros(shape, bool), np.zeros(shape, bool)
    has_level = np.zeros(len(students), dtype=bool)
    for row, (student, result) in enumerate(zip(students, scored, strict=True)):
        scores[row] = result.scores
        has_read[row, result.seen] = True
        band = just_right_band(session, tenant_id, student)
        if band is not None:
            has_level[row] = True
            with np.errstate(invalid="ignore"):
                in_band[row] = (levels >= band[0]) & (levels <= band[1])
    return ClassInputs(
        students=students,
        scores=scores,
        in_band=in_band,
        has_read=has_read,
        has_level=has_level,
        item_levels=levels,
        series=catalog.series_keys,
        item_pks=scored[-1].artifact.item_pks,
        model_version=scored[-1].artifact.version,
    )


def recommend_for_group(
    service: RecommendationService,
    session: Session,
    tenant_id: int,
    group_id: str,
    *,
    n: int = 20,
    min_per_student: int = 2,
    strategy: Strategy = "proportional",
    max_read_share: float = 0.5,
    explain: bool = False,
    request: RecommendationRequest | None = None,
) -> GroupRecommendations | None:
    """One list for the class ``group_id`` (external id): covers each student's just-right band with
    at least ``min_per_student`` unread books, balances the class's tastes with ``strategy``, leaves
    out books that ``max_read_share`` or more of the class have read, and reports per-student fit.

    Raises :class:`GroupNotFoundError` for an unknown group and ``ValueError`` for bad arguments;
    returns None when the tenant has no catalog to recommend from."""
    _check_arguments(n, min_per_student, max_read_share)
    group, students = class_members(session, tenant_id, group_id)
    empty = GroupListMetrics(
        students=0,
        students_with_level=0,
        min_per_student=min_per_student,
        coverage=0.0,
        mean_utility=0.0,
        min_utility=0.0,
        already_read_share=0.0,
        uncovered=[],
    )
    if not students:
        version = service.registry.ensure(tenant_id)
        if version is None:
            return None
        return GroupRecommendations(
            group_id=group_id,
            group_name=group.name,
            model_version=version.version,
            strategy=strategy,
            data=[],
            metrics=empty,
        )
    inputs = class_inputs(service, session, tenant_id, students, request or RecommendationRequest())
    if inputs is None:
        return None
    selected = select_for_group(
        inputs.scores,
        inputs.in_band,
        inputs.has_read,
        n,
        min_per_student=min_per_student,
        strategy=strategy,
        max_read_share=max_read_share,
        series=inputs.series,
    )
    return GroupRecommendations(
        group_id=group_id,
        group_name=group.name,
        model_version=inputs.model_version,
        strategy=strategy,
        data=_books(session, inputs, selected, explain),
        metrics=_metrics(inputs, selected, min_per_student, max_read_share),
    )


def _check_arguments(n: int, min_per_student: int, max_read_share: float) -> None:
    if not 1 <= n <= 200:
        raise ValueError(f"n: must be between 1 and 200, got {n}")
    if not 0 <= min_per_student <= 20:
        raise ValueError(f"min_per_student: must be between 0 and 20, got {min_per_student}")
    if not 0 < max_read_share <= 1:
        raise ValueError(f"max_read_share: must be above 0 and at most 1, got {max_read_share}")


def _metrics(
    inputs: ClassInputs, selected: np.ndarray, min_per_student: int, max_read_share: float
) -> GroupListMetrics:
    leveled = inputs.has_level
    overall = group_metrics(
        inputs.scores,
        inputs.in_band,
        inputs.has_read,
        selected,
        min_per_student=min_per_student,
        max_read_share=max_read_share,
    )
    covered = overall.in_band_counts >= min_per_student
    return GroupListMetrics(
        students=len(inputs.students),
        students_with_level=int(leveled.sum()),
        min_per_student=min_per_student,
        coverage=round(float(covered[leveled].mean()), 4) if leveled.any() else 0.0,
        mean_utility=round(overall.mean_utility, 4),
        min_utility=round(overall.min_utility, 4),
        already_read_share=round(overall.already_read_share, 4),
        uncovered=[
            s.external_id
            for s, ok, lv in zip(inputs.students, covered, leveled, strict=True)
            if lv and not ok
        ],
    )


def _books(session: Session, inputs: ClassInputs, selected: np.ndarray, explain: bool) -> list[GroupBook]:
    pks = [int(inputs.item_pks[index]) for index in selected]
    items = {item.id: item for item in session.scalars(select(Item).where(Item.id.in_(pks)))}
    ranks = personal_ranks(inputs.scores, selected)
    fits = inputs.in_band & ~inputs.has_read
    books = []
    for column, (index, pk) in enumerate(zip(selected.tolist(), pks, strict=True)):
        item = items.get(pk)
        if item is None:
            continue
        students = [
            StudentFit(
                id=student.external_id,
                display_name=student.display_name,
                in_band=bool(fits[row, index]),
                has_read=bool(inputs.has_read[row, index]),
                rank=int(ranks[row, column]) or None,
                score=None
                if np.isnan(inputs.scores[row, index])
                else round(float(inputs.scores[row, index]), 4),
            )
            for row, student in enumerate(inputs.students)
        ]
        level = inputs.item_levels[index]
        book = GroupBook(
            id=item.external_id,
            title=item.title,
            authors=item.authors,
            cover_url=item.cover_url,
            level=None if np.isnan(level) else round(float(level), 2),
            score=round(float(np.nan_to_num(inputs.scores[:, index], nan=0.0).mean()), 4),
            fits=[s.id for s in students if s.in_band],
            read_by=int(inputs.has_read[:, index].sum()),
            students=students,
            explanation=_explanation(students) if explain else None,
        )
        books.append(book)
    return books


def _explanation(students: list[StudentFit]) -> str:
    """One sentence a teacher can act on: whose level it suits and for how many it is a strong pick."""
    total = len(students)
    fits = sum(s.in_band for s in students)
    top = sum(1 for s in students if s.rank is not None and s.rank <= 10)
    parts = [f"Just right for {fits} of {total} students"]
    if top:
        parts.append(f"a top-10 pick for {top}")
    read = sum(s.has_read for s in students)
    if read:
        parts.append(f"already read by {read}")
    return "; ".join(parts) + "."
