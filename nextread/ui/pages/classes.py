"""Classes: the class list, a class's recommendations with per-student fit, and a printable reading
list built from them."""

from __future__ import annotations

from fastapi.responses import Response
from nicegui import ui
from sqlalchemy.orm import Session

from nextread.services import dashboard, lookups
from nextread.services.access import READ, Principal
from nextread.services.groups import GroupRecommendations
from nextread.store.history import CheckoutHistory
from nextread.ui.auth import guard
from nextread.ui.context import go, service
from nextread.ui.layout import connected, frame, link_cell, load

CLASS_LIST_SIZE = 15
CLASS_COLUMNS = [
    {"name": "name", "label": "Class", "field": "name", "sortable": True, "align": "left"},
    {"name": "teacher", "label": "Teacher", "field": "teacher", "sortable": True, "align": "left"},
    {"name": "grade", "label": "Grade", "field": "grade", "sortable": True},
    {"name": "students", "label": "Students", "field": "students", "sortable": True},
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
    table = ui.table(columns=CLASS_COLUMNS, rows=rows, row_key="id").classes("w-full")
    link_cell(table, "name", "/classes/", "class-link")
    return None


@ui.page("/classes/{group_id}")
async def class_page(group_id: str) -> Response | None:
    identity = guard(READ)
    if not isinstance(identity, Principal):
        return identity
    name = await load(dashboard.class_name, identity.tenant_id, group_id, identity.classes)
    frame(identity, name or "Class not found")
    if name is None:
        return None
    await connected()
    _history_card(await load(class_history, identity, group_id))
    answer = await load(class_recommendations, identity, group_id)
    if answer is None:
        ui.label("No recommendations: the catalog is empty or no model is trained yet.")
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
    print_button.on_click(lambda: go(f"/classes/{group_id}/print?items={','.join(sorted(chosen))}"))
    for book in answer.data:
        with ui.card().classes("w-full"):
            with ui.row().classes("items-center gap-2 w-full"):
                ui.checkbox(
                    on_change=lambda event, book_id=book.id: (
                        chosen.add(book_id) if event.value else chosen.discard(book_id)
                    )
                ).props(f'aria-label="Add {book.title.replace(chr(34), chr(39))} to the reading list"')
                ui.link(book.title, f"/catalog/{book.id}").classes("font-semibold class-book")
                ui.label(", ".join(book.authors)).classes("text-gray-600")
                ui.space()
                ui.label(f"fits {len(book.fits)} · read by {book.read_by}").classes("text-sm")
            if book.explanation:
                ui.label(book.explanation).classes("text-sm text-gray-700")
            with ui.expansion("Per-student fit").classes("w-full text-sm"):
                ui.table(
                    columns=[
                        {"name": "name", "label": "Student", "field": "name", "align": "left"},
                        {"name": "band", "label": "In band", "field": "band"},
                        {"name": "read", "label": "Read", "field": "read"},
                        {"name": "rank", "label": "Their rank", "field": "rank"},
                        {"name": "score", "label": "Score", "field": "score"},
                    ],
                    rows=[
                        {
                            "name": s.display_name or s.id,
                            "band": "yes" if s.in_band else "",
                            "read": "yes" if s.has_read else "",
                            "rank": s.rank or "",
                            "score": "" if s.score is None else f"{s.score:.2f}",
                        }
                        for s in book.students
                    ],
                ).props("dense flat")
    return None


@ui.page("/classes/{group_id}/print")
async def print_page(group_id: str, items: str = "") -> Response | None:
    """A plain page that prints well (print CSS hides the navigation)."""
    identity = guard(READ)
    if not isinstance(identity, Principal):
        return identity
    name = await load(dashboard.class_name, identity.tenant_id, group_id, identity.classes)
    frame(identity, f"Reading list · {name or group_id}")
    books = await load(dashboard.books_by_id, identity.tenant_id, [i for i in items.split(",") if i]) or []
    ui.button("Print", icon="print", on_click=lambda: ui.run_javascript("window.print()")).classes("no-print")
    if not books:
        ui.label("No books chosen: go back and tick some.")
    with ui.element("ol").classes("list-decimal pl-6 text-lg").props('data-testid="reading-list"'):
        for book in books:
            with ui.element("li").classes("py-1"):
                ui.label(f"{book['title']} — {book['authors']}").classes("reading-list-item")
    return None


def _history_card(history: CheckoutHistory | None) -> None:
    if history is None or not history.trend:
        return
    with ui.card().classes("w-full no-print"):
        totals = history.totals
        ui.label(
            f"Checkouts: {totals.events:,} by {totals.readers} students, {totals.books} different books"
        ).classes("font-semibold")
        ui.echart(
            {
                "xAxis": {"type": "category", "data": [str(point.period) for point in history.trend]},
                "yAxis": {"type": "value"},
                "tooltip": {"trigger": "axis"},
                "series": [{"type": "line", "name": "checkouts", "data": [p.events for p in history.trend]}],
            }
        ).classes("w-full h-48")
        ui.label("Most borrowed: " + "; ".join(f"{b.title} ({b.count})" for b in history.top_books))
