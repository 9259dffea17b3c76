"""Reading levels on the staff pages, in the school's chosen scale."""

from __future__ import annotations

from typing import Any

from nicegui import ui
from sqlalchemy.orm import Session

from nextread.levels import Scale, show_level
from nextread.services import lookups
from nextread.services.access import Principal
from nextread.services.student_levels import StudentLevel
from nextread.ui.context import settings


def school_scale(session: Session, tenant_id: int) -> Scale:
    return lookups.school_scale(session, settings(), tenant_id)


def student_level(session: Session, identity: Principal, student_id: str) -> StudentLevel:
    """What ``GET /v1/users/{id}/reading-level`` answers, in the school's scale."""
    return lookups.reading_level(session, settings(), identity.tenant_id, student_id)


def shown(level: float | None, scale: Scale) -> str:
    return "unknown" if level is None else show_level(level, scale).label


def level_card(reading: StudentLevel | None, stated: dict[str, Any]) -> None:
    with ui.card().classes("min-w-[260px] max-w-md"):
        ui.label("Reading level").classes("font-semibold")
        if reading is None or reading.level is None:
            ui.label("Not known yet: no stated level and no books with a level read.")
            return
        ui.label(reading.shown.label if reading.shown else "").classes("text-2xl font-bold text-indigo-700")
        ui.linear_progress(value=reading.confidence, show_value=False).props(
            f'aria-label="confidence {reading.confidence:.0%}"'
        )
        ui.label(f"Confidence {reading.confidence:.0%}").classes("text-sm")
        if reading.just_right:
            ui.label(f"Just right: {reading.just_right.label}").classes("text-sm")
        if reading.stretch:
            ui.label(f"Stretch: {reading.stretch.label}").classes("text-sm")
        with ui.expansion("Evidence").classes("w-full text-sm"):
            for line in reading.evidence:
                ui.label(f"• {line}")
            if stated.get("median_lexile_read"):
                ui.label(f"• median Lexile of books read: {stated['median_lexile_read']}")
