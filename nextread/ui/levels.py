"""Reading levels on the staff pages, in the school's chosen scale."""

from __future__ import annotations

from typing import Any

from nicegui import ui
from sqlalchemy.orm import Session

from nextread.levels import Scale, show_level
from nextread.services.student_levels import StudentLevel, get_student_reading_level
from nextread.store.accounts import Identity
from nextread.store.tenant_settings import load_tenant_settings
from nextread.ui.context import settings


def school_scale(session: Session, tenant_id: int) -> Scale:
    return load_tenant_settings(session, tenant_id).level_scale or settings().serving.level_scale


def student_level(session: Session, identity: Identity, student_id: str) -> StudentLevel:
    scale = school_scale(session, identity.tenant_id)
    return get_student_reading_level(session, identity.tenant_id, student_id, scale=scale)


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
