"""Students: a searchable table, and one student's page for staff (level, history, tastes,
recommendations with their reasons and component scores, live weight sliders)."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from fastapi.responses import Response
from nicegui import ui

from nextread.engine.hybrid import Weights
from nextread.services import dashboard
from nextread.services.access import READ, Principal
from nextread.ui import data, levels, tables, widgets
from nextread.ui.auth import guard
from nextread.ui.layout import connected, frame, load

COLUMNS = [
    {"name": "name", "label": "Name", "field": "name", "align": "left"},
    {"name": "id", "label": "Id", "field": "id", "align": "left"},
    {"name": "grade", "label": "Grade", "field": "grade", "align": "left"},
    {"name": "class", "label": "Class", "field": "class", "align": "left"},
]
HISTORY_COLUMNS = [
    {"name": "date", "label": "Date", "field": "date", "align": "left"},
    {"name": "title", "label": "Book", "field": "title", "align": "left"},
    {"name": "what", "label": "What happened", "field": "what", "align": "left"},
]
STUDENTS_PER_PAGE = 25
EVENTS_PER_PAGE = 20
SLIDER_MAX = 2.0


@ui.page("/students")
async def students_page() -> Response | None:
    identity = guard(READ)
    if not isinstance(identity, Principal):
        return identity
    frame(identity, "Students")
    search = (
        ui.input("Search by name or id")
        .props("clearable aria-label='Search students'")
        .classes("w-full")
        .mark("student-search")
    )
    table = tables.stacked_table(COLUMNS, [], ("name", "/students/", "student-link"))
    nothing = ui.column().classes("w-full")

    async def show(offset: int) -> None:
        """Searched and paged in the database, so a school of any size finds every student."""
        text = search.value or ""
        found = await load(
            dashboard.search_students, identity.tenant_id, text, offset, STUDENTS_PER_PAGE, identity.classes
        )
        if found is None:
            return
        table.rows = found.rows
        pager.show(found.total)
        nothing.clear()
        with nothing:
            if found.total == 0 and text.strip():
                widgets.empty_state(f"No student's name or id contains “{text.strip()}”.")
            elif found.total == 0:
                widgets.empty_state(
                    "This school has no students yet.",
                    [("Import students and classes", "/import")],
                )

    pager = widgets.Pager(STUDENTS_PER_PAGE, show, "students")
    search.on_value_change(pager.reset)
    await show(0)
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
        widgets.empty_state("No student has this id in this school.", [("Back to the students", "/students")])
        return None
    frame(identity, user.display_name or student_id)
    ui.link("Open the student's own page", f"/read/{quote(student_id, safe='')}").classes(
        "min-h-[24px] text-indigo-800"
    )
    await connected()
    with widgets.loading("Loading the student's level, history and recommendations…"):
        profile = await load(data.profile, identity, student_id) or {}
        reading = await load(levels.student_level, identity, student_id)
    with ui.row().classes("w-full flex-wrap gap-4 items-start"):
        levels.level_card(reading, profile.get("reading_level") or {})
        with ui.card().classes("w-full sm:w-auto sm:min-w-[240px]"):
            ui.label("Favourite tags").classes("font-semibold")
            with ui.row().classes("flex-wrap gap-1"):
                for tag in profile.get("favourite_tags", []):
                    ui.chip(f"{tag['tag']} ({tag['count']})").props("dense outline")
            counts = profile.get("counts_by_type", {})
            ui.label(
                ", ".join(
                    f"{n} {dashboard.event_words(kind, None).lower()}" for kind, n in sorted(counts.items())
                )
            ).classes("text-sm")
    with ui.element("div").classes("w-full grid gap-4 grid-cols-1 lg:grid-cols-2 items-start"):
        with ui.card().classes("w-full"):
            ui.label("Recommendations").classes("font-semibold")
            with widgets.loading("Ranking books for this student…"):
                await _recommendations(identity, student_id)
        with ui.card().classes("w-full"):
            ui.label("History").classes("font-semibold")
            await _history(identity, student_id)
    return None


async def _history(identity: Principal, student_id: str) -> None:
    """One line per event, newest first, a page at a time (a timeline took 5,700 px for 40 events)."""
    table = tables.stacked_table(HISTORY_COLUMNS, [], ("title", "/catalog/", "history-book"), row_key="key")
    table.props('data-testid="history"')
    nothing = ui.column().classes("w-full")

    async def show(offset: int) -> None:
        page = await load(dashboard.history, identity, student_id, offset, EVENTS_PER_PAGE)
        if page is None:
            return
        table.rows = [
            {**row, "key": f"{offset + n}", "link_id": row["item_id"]} for n, row in enumerate(page.rows)
        ]
        pager.show(page.total)
        if page.total == 0:
            nothing.clear()
            with nothing:
                widgets.empty_state(
                    "No reading history yet: nothing borrowed, rated or liked.",
                    [
                        ("Import checkouts", "/import"),
                        ("Open the student's own page to mark a book", f"/read/{quote(student_id, safe='')}"),
                    ],
                )

    pager = widgets.Pager(EVENTS_PER_PAGE, show, "events")
    await show(0)


async def _recommendations(identity: Principal, student_id: str) -> None:
    """Sliders start at the school's saved weights; moving one re-ranks this list only (nothing saved)."""
    weights = await load(data.tenant_weights, identity) or Weights()
    state: dict[str, Any] = {"weights": weights.model_dump(), "pending": None}

    @ui.refreshable
    def ranked(rows: list[dict[str, Any]]) -> None:
        if not rows:
            widgets.empty_state(
                "No recommendations yet: the catalog is empty or the first model is still training.",
                [("Import the catalog", "/import")],
            )
            return
        ui.label(
            "Match (0 to 1) is a weighted mean of the parts under each book, listed by how much each "
            "added. The list is in match order, except that a series is kept in order and authors and "
            "topics are mixed: such books say “moved up for variety”."
        ).classes("text-sm text-gray-700")
        highest_below = _highest_scores_below(rows)
        with ui.column().classes("w-full gap-1").props('data-testid="staff-recommendations"'):
            for rank, row in enumerate(rows, 1):
                _recommendation(rank, row, state["weights"], row["score"] < highest_below[rank - 1])

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
            ui.label(PART_NAMES.get(name, name))
            slider = WeightSlider(min=0, max=SLIDER_MAX, step=0.05, value=value).props(
                f'label aria-label="weight {name}" data-testid="weight-{name}"'
            )
            ui.label().bind_text_from(slider, "value", lambda v: f"{v:.2f}")
            slider.on_value_change(lambda event, name=name: changed(name, event.value))
    rows = await load(data.recommendations, identity, student_id, 12, weights) or []
    ranked(rows)


PART_NAMES = {
    "cf": "Readers like them",
    "semantic": "Similar topics",
    "reading_match": "Reading level fit",
    "rating": "Well rated",
    "social": "Read by classmates",
    "recency": "New",
    "staff_pick": "Staff pick",
    "series": "Next in a series",
    "popularity": "Popular at their level",
    "trending": "Popular lately",
}
"""The score's parts as a librarian would name them (the engine's names are in the API)."""


def _recommendation(rank: int, row: dict[str, Any], weights: dict[str, float], moved_up: bool) -> None:
    with ui.row().classes("w-full items-baseline gap-2 border-b py-1 no-wrap"):
        ui.label(f"{rank}.").classes("w-6 shrink-0")
        with ui.column().classes("gap-0 grow min-w-0"):
            ui.link(row["title"], f"/catalog/{quote(row['id'], safe='')}").classes(
                "rec-title font-medium min-h-[24px] text-indigo-800"
            )
            ui.html(tables.emphasised(row.get("explanation") or "")).classes(
                "text-sm text-gray-700 explanation"
            )
            ui.label(score_parts(row.get("components") or {}, weights)).classes("text-xs text-gray-700 parts")
        with ui.column().classes("gap-0 items-end shrink-0"):
            ui.label(f"Match {row['score']:.2f}").classes("text-sm match")
            if moved_up:
                ui.label("moved up for variety").classes("text-xs text-gray-700")


def score_parts(components: dict[str, float], weights: dict[str, float]) -> str:
    """Each part's share of the match, largest first, so the parts read in the order they count;
    parts that add under half a percent (weighted 0, or near 0) are left out."""
    added = {name: weights.get(name, 0.0) * value for name, value in components.items()}
    total = sum(added.values())
    if total <= 0:
        return ""
    ranked = sorted(
        (share for share in added.items() if share[1] >= total / 200), key=lambda share: -share[1]
    )
    return " · ".join(f"{PART_NAMES.get(name, name)} {share / total:.0%}" for name, share in ranked)


def _highest_scores_below(rows: list[dict[str, Any]]) -> list[float]:
    """For each rank, the highest match among the books listed after it (-1 for the last)."""
    highest, out = -1.0, []
    for row in reversed(rows):
        out.append(highest)
        highest = max(highest, row["score"])
    return out[::-1]


class WeightSlider(ui.slider):
    """A slider whose new value the browser keeps at once (nicegui's loopback off, as its text inputs
    do). With loopback the server echoes each value back; stepped quickly (keys, a fast drag), an
    echo of an older step arrived after newer ones and moved the slider back, so the weights the
    list was ranked with were not the ones shown."""

    LOOPBACK = False


async def _debounced(action: Any, delay: float = 0.25) -> None:
    await asyncio.sleep(delay)
    await action()
