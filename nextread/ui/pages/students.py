"""Students: a searchable table, and one student's page for staff (level, history, tastes,
recommendations with their reasons and component scores, live weight sliders)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi.responses import Response
from nicegui import ui

from nextread.engine.hybrid import Weights
from nextread.services import dashboard
from nextread.services.access import READ, Principal
from nextread.ui import data, levels
from nextread.ui.auth import guard
from nextread.ui.layout import connected, frame, link_cell, load

COLUMNS = [
    {"name": "name", "label": "Name", "field": "name", "sortable": True, "align": "left"},
    {"name": "id", "label": "Id", "field": "id", "sortable": True, "align": "left"},
    {"name": "grade", "label": "Grade", "field": "grade", "sortable": True},
    {"name": "class", "label": "Class", "field": "class", "sortable": True, "align": "left"},
]
SLIDER_MAX = 2.0


@ui.page("/students")
async def students_page() -> Response | None:
    identity = guard(READ)
    if not isinstance(identity, Principal):
        return identity
    frame(identity, "Students")
    rows = await load(dashboard.search_students, identity.tenant_id, "", identity.classes) or []
    search = (
        ui.input("Search by name or id")
        .props("clearable aria-label='Search students'")
        .classes("w-full")
        .mark("student-search")
    )
    table = ui.table(columns=COLUMNS, rows=rows, row_key="id", pagination=25).classes("w-full")
    link_cell(table, "name", "/students/", "student-link")

    async def refine() -> None:
        """Searched in the database, so a school of any size finds every student."""
        text = search.value or ""
        table.rows = await load(dashboard.search_students, identity.tenant_id, text, identity.classes) or []

    search.on_value_change(refine)
    return None


@ui.page("/students/{student_id}")
async def student_detail(student_id: str) -> Response | None:
    identity = guard(READ)
    if isinstance(identity, Principal):  # staff only; then, for a teacher, their classes' students only
        identity = guard(READ, student_id=student_id)
    if not isinstance(identity, Principal):
        return identity
    user = await load(dashboard.find_student, identity, student_id)
    if user is None:
        frame(identity, "Student not found")
        return None
    frame(identity, user.display_name or student_id)
    ui.link("Open the student's own page", f"/read/{student_id}")
    await connected()
    profile = await load(data.profile, identity, student_id) or {}
    reading = await load(levels.student_level, identity, student_id)
    with ui.row().classes("w-full flex-wrap gap-4 items-start"):
        levels.level_card(reading, profile.get("reading_level") or {})
        with ui.card().classes("min-w-[240px]"):
            ui.label("Favourite tags").classes("font-semibold")
            with ui.row().classes("flex-wrap gap-1"):
                for tag in profile.get("favourite_tags", []):
                    ui.chip(f"{tag['tag']} ({tag['count']})").props("dense outline")
            counts = profile.get("counts_by_type", {})
            ui.label(", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))).classes("text-sm")
    with ui.row().classes("w-full flex-wrap gap-4 items-start"):
        with ui.card().classes("grow min-w-[320px]"):
            ui.label("Recommendations").classes("font-semibold")
            await _recommendations(identity, student_id)
        with ui.card().classes("min-w-[280px] max-w-md"):
            ui.label("History").classes("font-semibold")
            events = await load(dashboard.history, identity, student_id) or []
            with ui.timeline(side="right").classes("w-full"):
                for event in events:
                    ui.timeline_entry(
                        event["title"], title=event["type"], subtitle=f"{event['timestamp']:%Y-%m-%d}"
                    )
    return None


async def _recommendations(identity: Principal, student_id: str) -> None:
    """Sliders start at the school's saved weights; moving one re-ranks this list only (nothing saved)."""
    weights = await load(data.tenant_weights, identity) or Weights()
    state: dict[str, Any] = {"weights": weights.model_dump(), "pending": None}

    @ui.refreshable
    def ranked(rows: list[dict[str, Any]]) -> None:
        if not rows:
            ui.label("No recommendations (empty catalog or no model yet).")
        with ui.column().classes("w-full gap-1").props('data-testid="staff-recommendations"'):
            for rank, row in enumerate(rows, 1):
                with ui.row().classes("w-full items-baseline gap-2 border-b py-1"):
                    ui.label(f"{rank}.").classes("w-6")
                    with ui.column().classes("gap-0 grow"):
                        ui.link(row["title"], f"/catalog/{row['id']}").classes("rec-title font-medium")
                        ui.label(row.get("explanation") or "").classes("text-sm text-gray-600")
                        parts = ", ".join(f"{k} {v:.2f}" for k, v in (row.get("components") or {}).items())
                        ui.label(parts).classes("text-xs text-gray-500")
                    ui.label(f"{row['score']:.3f}").classes("text-sm")

    async def rerank() -> None:
        chosen = Weights.model_validate(state["weights"])
        rows = await load(data.recommendations, identity, student_id, 12, chosen) or []
        ranked.refresh(rows)

    async def changed(name: str, value: float) -> None:
        state["weights"][name] = value
        if state["pending"] is not None:
            state["pending"].cancel()
        state["pending"] = asyncio.ensure_future(_debounced(rerank))

    with (
        ui.expansion("Weights (try them out; Settings saves them for the school)", icon="tune").classes(
            "w-full"
        ),
        ui.grid(columns="auto 1fr auto").classes("w-full items-center gap-x-2"),
    ):
        for name, value in weights.model_dump().items():
            ui.label(name)
            slider = WeightSlider(min=0, max=SLIDER_MAX, step=0.05, value=value).props(
                f'label aria-label="weight {name}" data-testid="weight-{name}"'
            )
            ui.label().bind_text_from(slider, "value", lambda v: f"{v:.2f}")
            slider.on_value_change(lambda event, name=name: changed(name, event.value))
    rows = await load(data.recommendations, identity, student_id, 12, weights) or []
    ranked(rows)


class WeightSlider(ui.slider):
    """A slider whose new value the browser keeps at once (nicegui's loopback off, as its text inputs
    do). With loopback the server echoes each value back; stepped quickly (keys, a fast drag), an
    echo of an older step arrived after newer ones and moved the slider back, so the weights the
    list was ranked with were not the ones shown."""

    LOOPBACK = False


async def _debounced(action: Any, delay: float = 0.25) -> None:
    await asyncio.sleep(delay)
    await action()
