"""Classes: the class list, a class's recommendations with per-student fit, and a printable reading
list built from them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi.responses import Response
from nicegui import ui
from sqlalchemy.orm import Session

from nextread.levels import Scale
from nextread.services import dashboard, lookups
from nextread.services.access import READ, Principal
from nextread.services.groups import GroupRecommendations
from nextread.store.history import CheckoutHistory
from nextread.ui import levels, tables, widgets
from nextread.ui.auth import guard
from nextread.ui.context import go, service
from nextread.ui.layout import connected, frame, load

CLASS_LIST_SIZE = 15
CLASS_COLUMNS = [
    {"name": "name", "label": "Class", "field": "name", "align": "left"},
    {"name": "teacher", "label": "Teacher", "field": "teacher", "align": "left"},
    {"name": "grade", "label": "Grade", "field": "grade", "align": "left"},
    {"name": "students", "label": "Students", "field": "students", "align": "left"},
]
FIT_COLUMNS = [
    {"name": "name", "label": "Student", "field": "name", "align": "left"},
    {"name": "band", "label": "In band", "field": "band", "align": "left"},
    {"name": "read", "label": "Read", "field": "read", "align": "left"},
    {"name": "rank", "label": "Their rank", "field": "rank", "align": "left"},
    {"name": "score", "label": "Score", "field": "score", "align": "left"},
]


def class_recommendations(session: Session, identity: Principal, group_id: str) -> GroupRecommendations:
    """What ``GET /v1/groups/{id}/recommendations`` answers, with explanations."""
    return lookups.class_list(
        service(), session, identity.tenant_id, group_id, n=CLASS_LIST_SIZE, explain=True
    )


def class_history(session: Session, identity: Principal, group_id: str) -> CheckoutHistory:
    """What ``GET /v1/history?group=…`` answers: the class's weekly checkouts and its most borrowed books."""
    return lookups.checkout_history(
        session, identity.tenant_id, group=group_id, types=["checkout"], limit=1, top=5
    )


@ui.page("/classes")
async def classes_page() -> Response | None:
    identity = guard(READ)
    if not isinstance(identity, Principal):
        return identity
    frame(identity, "Classes")
    rows = await load(dashboard.list_classes, identity.tenant_id, identity.classes) or []
    if not rows and identity.classes is not None:
        widgets.empty_state("No classes of yours yet: the librarian adds you as a class's teacher.")
        return None
    if not rows:
        widgets.empty_state(
            "This school has no classes yet: classes come from a class list import (id, name, grade, "
            "teacher) and their members from a students import.",
            [("Import classes and students", "/import")],
        )
        return None
    ui.label("By grade, then name.").classes("text-sm text-gray-700")
    tables.stacked_table(CLASS_COLUMNS, rows, ("name", "/classes/", "class-link"))
    return None


@ui.page("/classes/{group_id}")
async def class_page(group_id: str) -> Response | None:
    identity = guard(READ)
    if not isinstance(identity, Principal):
        return identity
    name = await load(dashboard.class_name, identity.tenant_id, group_id, identity.classes)
    frame(identity, name or "Class not found")
    if name is None:
        widgets.empty_state("No class has this id in this school.", [("Back to the classes", "/classes")])
        return None
    await connected()
    if not await load(dashboard.class_size, identity.tenant_id, group_id):
        widgets.empty_state(
            "This class has no students yet, so there is nothing to recommend to it.",
            [("Import students with this class", "/import"), ("Back to the classes", "/classes")],
        )
        return None
    with widgets.loading("Counting the class's checkouts…"):
        history = await load(class_history, identity, group_id)
    _history_card(history)
    with widgets.loading("Finding books that fit every student in the class (a few seconds)…"):
        answer = await load(class_recommendations, identity, group_id)
    if answer is None or not answer.data:
        widgets.empty_state(
            "No recommendations: the catalog is empty or no model is trained yet.",
            [("Import the catalog", "/import")],
        )
        return None
    metrics = answer.metrics
    ui.label(
        f"{metrics.students} students · coverage {metrics.coverage:.0%} · "
        f"mean fit {metrics.mean_utility:.2f} · already read {metrics.already_read_share:.0%}"
    ).classes("text-gray-700")
    chosen: set[str] = set()
    with ui.row().classes("items-center gap-2 no-print"):
        ui.label("Tick books, then print them as a reading list.")
        print_button = ui.button("Print reading list", icon="print")
        print_button.props('data-testid="print-list"')
    print_button.on_click(
        lambda: go(f"/classes/{quote(group_id, safe='')}/print?items={quote(','.join(sorted(chosen)))}")
    )

    def tick(book_id: str, ticked: bool) -> None:
        if ticked:
            chosen.add(book_id)
        else:
            chosen.discard(book_id)
        print_button.text = f"Print reading list ({len(chosen)})" if chosen else "Print reading list"

    for book in answer.data:
        _class_book(book, tick)
    return None


def _class_book(book: Any, tick: Callable[[str, bool], None]) -> None:
    with ui.card().classes("w-full"):
        with ui.row().classes("items-center gap-x-2 gap-y-0 w-full"):
            label = book.title.replace(chr(34), chr(39))
            ui.checkbox(on_change=lambda event, book_id=book.id: tick(book_id, event.value)).props(
                f'aria-label="Add {label} to the reading list"'
            )
            ui.link(book.title, f"/catalog/{quote(book.id, safe='')}").classes(
                "font-semibold class-book min-h-[24px] text-indigo-800"
            )
            ui.label(", ".join(book.authors)).classes("text-gray-700")
            ui.space()
            ui.label(f"fits {len(book.fits)} · read by {book.read_by}").classes("text-sm")
        if book.explanation:
            ui.html(tables.emphasised(book.explanation)).classes("text-sm text-gray-700 explanation")
        with ui.expansion("Per-student fit").classes("w-full text-sm"):
            tables.stacked_table(
                FIT_COLUMNS,
                [
                    {
                        "id": s.id,
                        "name": s.display_name or s.id,
                        "band": "yes" if s.in_band else "",
                        "read": "yes" if s.has_read else "",
                        "rank": s.rank or "",
                        "score": "" if s.score is None else f"{s.score:.2f}",
                    }
                    for s in book.students
                ],
            ).props("dense")


@ui.page("/classes/{group_id}/print")
async def print_page(group_id: str, items: str = "") -> Response | None:
    """A plain page that prints well (print CSS hides the navigation)."""
    identity = guard(READ)
    if not isinstance(identity, Principal):
        return identity
    name = await load(dashboard.class_name, identity.tenant_id, group_id, identity.classes)
    frame(identity, f"Reading list · {name or group_id}")
    chosen = [i for i in items.split(",") if i]
    books = await load(dashboard.reading_list, identity.tenant_id, chosen) or []
    scale = await load(levels.school_scale, identity.tenant_id) or "grade"
    ui.button("Print", icon="print", on_click=lambda: ui.run_javascript("window.print()")).classes("no-print")
    if not books:
        widgets.empty_state(
            "No books chosen: tick some on the class page, then print.",
            [("Back to the class", f"/classes/{quote(group_id, safe='')}")],
        )
        return None
    ui.label("By title, as on the shelf (“The Hobbit” under H), with each book's level and copies.").classes(
        "text-sm text-gray-700 no-print"
    )
    with ui.element("ol").classes("list-decimal pl-6").props('data-testid="reading-list"'):
        for book in books:
            with ui.element("li").classes("py-1"):
                ui.label(f"{book['title']} — {book['authors']}").classes("reading-list-item text-lg")
                ui.label(_shelf_facts(book, scale)).classes("text-sm text-gray-700 reading-list-facts")
    return None


def _shelf_facts(book: dict[str, Any], scale: Scale) -> str:
    level = "level not known" if book["level"] is None else levels.shown(book["level"], scale)
    copies = book["copies"]
    available = "copies not recorded" if copies is None else f"{copies} available"
    return f"{level} · {available}"


def _history_card(history: CheckoutHistory | None) -> None:
    if history is None or not history.trend:
        return
    with ui.card().classes("w-full no-print"):
        totals = history.totals
        ui.label(
            f"Checkouts: {totals.events:,} by {totals.readers} students, {totals.books} different books"
        ).classes("font-semibold")
        tables.chart(
            {
                "xAxis": {"type": "category", "data": [str(point.period) for point in history.trend]},
                "yAxis": {"type": "value", "minInterval": 1},
                "tooltip": {"trigger": "axis"},
                "series": [{"type": "line", "name": "checkouts", "data": [p.events for p in history.trend]}],
            },
            "h-64",
        )
        tables.chart_numbers(
            "Checkouts per week", ("Week", "Checkouts"), [(str(p.period), p.events) for p in history.trend]
        )
        ui.label("Most borrowed: " + "; ".join(f"{b.title} ({b.count})" for b in history.top_books))
