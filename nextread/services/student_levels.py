"""A student's reading level from everything the library knows, with how sure it is and why.

A stated level (Lexile or guided reading letter from a teacher's assessment) is the strongest single
signal, a grade alone the weakest; what the student actually does refines either: books finished
(and liked) show where they read comfortably, books abandoned well above that show where it gets too
hard. Recent books count more than old ones (children move up about a grade a year), so each book's
weight halves every ``HALF_LIFE_DAYS``.

The signature of :func:`get_student_reading_level` and the :class:`StudentLevel` model are a stable
contract: the API route and the MCP tool both return them as they are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from nextread.config import get_settings
from nextread.levels.convert import LevelView, Scale, show_level
from nextread.levels.scale import MAX_LEVEL, MIN_LEVEL, grade_to_level, item_level, level_from
from nextread.schemas import is_external_id
from nextread.store.models import Interaction, Item, User
from nextread.store.unknown import UnknownIdError, unknown

HALF_LIFE_DAYS = 120.0
STATED_WEIGHT = 3.0
GRADE_WEIGHT = 1.0
GRADE_WEIGHT_WITH_STATED = 0.5
FINISHED_WEIGHT = 1.0
LIKED_BONUS = 0.5
BORROWED_WEIGHT = 0.3
ABANDONED_WEIGHT = 0.6
# An abandoned book says "too hard" only when it sat above where the reader seemed to be; the
# reader is then placed this far below it.
ABANDONED_BELOW = 1.0
ABANDONED_MARGIN = 0.5
# Bands, in grade units, matching the recommender's default ReadingBand (0.5 below, 1.0 above):
# just-right is the reader's level ± 0.5, stretch the next half grade up; both widen when unsure.
JUST_RIGHT_HALF_WIDTH = 0.5
STRETCH_WIDTH = 0.5
UNCERTAINTY_WIDENING = 0.5
POSITIVE_TYPES = frozenset({"finished", "like"})
BORROW_TYPES = frozenset({"checkout", "return"})


class LevelBand(BaseModel):
    """A range of levels: ``low``/``high`` on the grade-equivalent scale, ``shown_*`` in the school's."""

    low: float
    high: float
    shown_low: LevelView
    shown_high: LevelView
    label: str


class StudentLevel(BaseModel):
    """Where a student reads. ``level`` is on the grade-equivalent scale (K = 0); ``shown`` is the same
    level in the school's scale. ``level`` is None only when nothing at all is known."""

    user_id: str
    level: float | None
    shown: LevelView | None
    scale: Scale
    confidence: float = Field(ge=0.0, le=1.0)
    evidence: list[str]
    just_right: LevelBand | None
    stretch: LevelBand | None


class UnknownStudentError(UnknownIdError):
    """The tenant has no user with that external id."""


@dataclass(frozen=True)
class BookSignal:
    """What one student did with one levelled book, summarised over all their events on it."""

    title: str
    level: float
    outcome: str  # "finished", "abandoned" or "borrowed"
    liked: bool
    age_days: float

    @property
    def recency(self) -> float:
        return math.pow(0.5, self.age_days / HALF_LIFE_DAYS)


def get_student_reading_level(
    session: Session,
    tenant_id: int,
    user_external_id: str,
    *,
    scale: Scale | None = None,
    now: datetime | None = None,
) -> StudentLevel:
    """Raises :class:`UnknownStudentError` for an id the tenant does not have."""
    user = (
        session.scalar(select(User).where(User.tenant_id == tenant_id, User.external_id == user_external_id))
        if is_external_id(user_external_id)
        else None
    )
    if user is None:
        raise UnknownStudentError("user_id", unknown("user", user_external_id))
    scale = scale or get_settings().serving.level_scale
    books = _book_signals(session, tenant_id, user.id, now or datetime.now(UTC))
    return assess(user_external_id, user.lexile, user.guided_reading_level, user.grade, books, scale)


def assess(
    user_id: str,
    lexile: int | None,
    guided_reading_level: str | None,
    grade: int | None,
    books: list[BookSignal],
    scale: Scale,
) -> StudentLevel:
    """The level as a weighted mean of a prior (stated level, grade) and one target per book; pure, so
    the weighting can be tested without a database."""
    targets, weights, evidence = _priors(lexile, guided_reading_level, grade, scale)
    book_targets, book_weights, book_evidence = _book_evidence(books, targets, weights, scale)
    targets += book_targets
    weights += book_weights
    evidence += book_evidence
    if not targets:
        evidence.append("No stated level, grade or levelled reading history: the level is unknown.")
        return StudentLevel(
            user_id=user_id, level=None, shown=None, scale=scale, confidence=0.0, evidence=evidence,
            just_right=None, stretch=None,
        )  # fmt: skip
    level = float(np.clip(np.average(targets, weights=weights), MIN_LEVEL, MAX_LEVEL))
    confidence = _confidence(
        np.array(targets), np.array(weights), level, has_stated=bool(lexile or guided_reading_level)
    )
    widen = UNCERTAINTY_WIDENING * (1.0 - confidence)
    low, high = level - JUST_RIGHT_HALF_WIDTH - widen, level + JUST_RIGHT_HALF_WIDTH + widen
    return StudentLevel(
        user_id=user_id,
        level=round(level, 2),
        shown=show_level(level, scale),
        scale=scale,
        confidence=confidence,
        evidence=evidence,
        just_right=_band(low, high, scale),
        stretch=_band(high, high + STRETCH_WIDTH + widen, scale),
    )


def _priors(
    lexile: int | None, guided_reading_level: str | None, grade: int | None, scale: Scale
) -> tuple[list[float], list[float], list[str]]:
    targets: list[float] = []
    weights: list[float] = []
    evidence: list[str] = []
    stated = level_from(lexile=lexile, guided_reading_level=guided_reading_level)
    if stated is not None:
        measure = (
            f"Lexile {lexile}L" if lexile is not None else f"guided reading level {guided_reading_level}"
        )
        evidence.append(f"Stated {measure} = {show_level(stated, scale).label}.")
        targets.append(stated)
        weights.append(STATED_WEIGHT)
    if grade is not None:
        typical = grade_to_level(grade)
        grade_name = "kindergarten" if grade == 0 else f"grade {grade}"
        evidence.append(f"In {grade_name}, where a typical reader is at {show_level(typical, scale).label}.")
        targets.append(typical)
        weights.append(GRADE_WEIGHT_WITH_STATED if stated is not None else GRADE_WEIGHT)
    return targets, weights, evidence


def _book_evidence(
    books: list[BookSignal], prior_targets: list[float], prior_weights: list[float], scale: Scale
) -> tuple[list[float], list[float], list[str]]:
    targets: list[float] = []
    weights: list[float] = []
    finished = [b for b in books if b.outcome == "finished"]
    borrowed = [b for b in books if b.outcome == "borrowed"]
    abandoned = [b for b in books if b.outcome == "abandoned"]
    for book in finished:
        targets.append(book.level)
        weights.append((FINISHED_WEIGHT + LIKED_BONUS * book.liked) * book.recency)
    for book in borrowed:
        targets.append(book.level)
        weights.append((BORROWED_WEIGHT + LIKED_BONUS * book.liked) * book.recency)
    so_far, so_far_weights = prior_targets + targets, prior_weights + weights
    reading_level = float(np.average(so_far, weights=so_far_weights)) if so_far else None
    too_hard = [b for b in abandoned if reading_level is None or b.level > reading_level + ABANDONED_MARGIN]
    for book in too_hard:
        # "Below this book" is news only where it is below the current estimate: a reader at 3.5
        # abandoning a 6.0 book confirms, never raises, the estimate.
        ceiling = book.level - ABANDONED_BELOW
        targets.append(ceiling if reading_level is None else min(ceiling, reading_level))
        weights.append(ABANDONED_WEIGHT * book.recency)
    evidence = [
        sentence
        for sentence in (
            _summary("Finished", finished, scale),
            _summary("Borrowed (not marked finished)", borrowed, scale),
            _summary("Abandoned", too_hard, scale, suffix=", above where they read: a sign of too hard"),
            _summary(
                "Abandoned", [b for b in abandoned if b not in too_hard], scale,
                suffix=" at or below their level (taste, not difficulty: not counted)",
            ),
        )
        if sentence
    ]  # fmt: skip
    return targets, weights, evidence


def _summary(verb: str, books: list[BookSignal], scale: Scale, suffix: str = "") -> str | None:
    if not books:
        return None
    levels = np.array([b.level for b in books])
    latest = min(books, key=lambda b: b.age_days)
    liked = sum(b.liked for b in books)
    noun = "book" if len(books) == 1 else "books"
    liked_text = f", liked {liked}" if liked else ""
    median = show_level(float(np.median(levels)), scale).label
    return (
        f"{verb} {len(books)} levelled {noun}{liked_text} (median {median}; "
        f'latest "{latest.title}" at {show_level(latest.level, scale).label}){suffix}.'
    )


def _confidence(targets: np.ndarray, weights: np.ndarray, level: float, has_stated: bool) -> float:
    """More (recent) evidence → surer, up to 0.95; evidence that disagrees (a wide weighted spread of
    targets around the level) → less sure."""
    amount = float(weights.sum())
    base = amount / (amount + 2.0) + (0.15 if has_stated else 0.0)
    spread = math.sqrt(float(np.average(np.square(targets - level), weights=weights)))
    agreement = math.exp(-max(0.0, spread - 0.75) / 1.5)
    return round(float(np.clip(base * agreement, 0.0, 0.95)), 2)


def _band(low: float, high: float, scale: Scale) -> LevelBand:
    low, high = float(np.clip(low, MIN_LEVEL, MAX_LEVEL)), float(np.clip(high, MIN_LEVEL, MAX_LEVEL))
    shown_low, shown_high = show_level(low, scale), show_level(high, scale)
    return LevelBand(
        low=round(low, 2),
        high=round(high, 2),
        shown_low=shown_low,
        shown_high=shown_high,
        label=f"{shown_low.label} – {shown_high.label}",
    )


def _book_signals(session: Session, tenant_id: int, user_pk: int, now: datetime) -> list[BookSignal]:
    """One signal per levelled book: finished (or rated ≥ 4 / liked) beats abandoned beats borrowed,
    whatever the order, except that abandoning after finishing is read as finished."""
    rows = session.execute(
        select(
            Interaction.item_id,
            Interaction.type,
            Interaction.value,
            Interaction.occurred_at,
            Item.title,
            Item.lexile,
            Item.guided_reading_level,
            Item.grade_min,
            Item.grade_max,
            Item.age_min,
            Item.age_max,
            Item.estimated_level,
        )
        .join(Item, Item.id == Interaction.item_id)
        .where(Interaction.tenant_id == tenant_id, Interaction.user_id == user_pk)
    ).all()
    per_book: dict[int, dict] = {}
    for row in rows:
        book = per_book.setdefault(
            row.item_id, {"types": set(), "ratings": [], "last": row.occurred_at, "row": row}
        )
        book["types"].add(row.type)
        if row.type == "rating" and row.value is not None:
            book["ratings"].append(row.value)
        book["last"] = max(book["last"], row.occurred_at)
    signals = []
    for book in per_book.values():
        signal = _signal(book, now)
        if signal is not None:
            signals.append(signal)
    return signals


def _signal(book: dict, now: datetime) -> BookSignal | None:
    row = book["row"]
    level = item_level(
        row.lexile, row.guided_reading_level, row.grade_min, row.grade_max, row.age_min, row.age_max,
        row.estimated_level,
    )  # fmt: skip
    if level is None:
        return None
    types: set[str] = book["types"]
    ratings: list[float] = book["ratings"]
    liked = "like" in types or (bool(ratings) and float(np.mean(ratings)) >= 4.0)
    if types & POSITIVE_TYPES or liked:
        outcome = "finished"
    elif "abandoned" in types:
        outcome = "abandoned"
    elif types & BORROW_TYPES or ratings:
        outcome = "borrowed"
    else:
        return None
    age_days = max((now - book["last"]).total_seconds(), 0.0) / 86_400.0
    return BookSignal(str(row.title), float(level), outcome, liked, age_days)
