"""Catalog: search with filters, and a book's page (similar books, level given or estimated, readers
in aggregate, staff pick, metadata editing for curators)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response
from nicegui import ui
from pydantic import ValidationError
from sqlalchemy.orm import Session

from nextread.schemas import ItemPatch
from nextread.services import dashboard, lookups
from nextread.services.access import READ, WRITE, Principal, may
from nextread.services.errors import InvalidError
from nextread.services.records import ITEMS
from nextread.ui import data, levels
from nextread.ui.auth import guard
from nextread.ui.context import llm, service, settings, url
from nextread.ui.covers import cover_src
from nextread.ui.layout import connected, frame, load
from nextread.ui.widgets import Pager

RESULT_COLUMNS = [
    {"name": "title", "label": "Title", "field": "title", "align": "left"},
    {"name": "authors", "label": "Authors", "field": "authors", "align": "left"},
    {"name": "level", "label": "Level", "field": "level", "align": "left"},
    {"name": "tags", "label": "Tags", "field": "tags", "align": "left"},
    {"name": "staff_pick", "label": "Pick", "field": "staff_pick"},
    {"name": "copies", "label": "Copies", "field": "copies"},
]
PAGE_SIZE = 20
# Each result cell carries its column's name, shown only below 600 px, where a row becomes a stacked
# card (empty cells left out) and nothing is wider than the phone.
RESULT_ROW = (
    '<q-tr :props="props">'
    + "".join(
        f'<q-td key="{column["name"]}" :props="props" class="cell-{column["name"]}">'
        f'<span class="cell-label">{column["label"]}</span>'
        + (
            '<a class="catalog-hit cell-value" :href="\'{href}\' + encodeURIComponent(props.row.id)">'
            "{{ props.row.title }}</a>"
            if column["name"] == "title"
            else f'<span v-if="props.row.{column["field"]} !== \'\'" class="cell-value">'
            f"{{{{ props.row.{column['field']} }}}}</span>"
        )
        + "</q-td>"
        for column in RESULT_COLUMNS
    )
    + "</q-tr>"
)
PHONE_CSS = """
.catalog-hit { display: inline-block; min-height: 24px; padding: 2px 0; color: #3730a3;
  text-decoration: underline; }
.catalog-results .cell-label { display: none; }
@media (max-width: 599px) {
  .catalog-results thead { display: none; }
  .catalog-results tbody tr { display: block; height: auto; padding: 6px 0;
    border-bottom: 1px solid #d1d5db; }
  .catalog-results tbody td { display: flex; gap: 8px; height: auto; white-space: normal; padding: 2px 8px;
    text-align: left; }
  .catalog-results tbody td:not(:has(.cell-value)) { display: none; }
  .catalog-results .cell-label { display: inline-block; min-width: 4.5rem; flex: none; color: #4b5563;
    font-weight: 500; }
}
"""
# The boxes of the level range, per school scale: (label, step, lowest, highest); letters get a list.
LEVEL_BOXES = {
    "grade": ("Grade", 1, 0, 12),
    "atos": ("ATOS", 0.1, 0, 12),
    "lexile": ("Lexile", 10, -400, 1500),
}
LETTERS = [chr(code) for code in range(ord("A"), ord("Z") + 1)]
EDITABLE = [
    ("title", "Title"),
    ("authors", "Authors (comma-separated)"),
    ("description", "Description"),
    ("tags", "Tags (comma-separated)"),
    ("lexile", "Lexile"),
    ("guided_reading_level", "Guided reading level (A–Z)"),
    ("grade_min", "Lowest grade"),
    ("grade_max", "Highest grade"),
    ("available_copies", "Copies on the shelf"),
    ("cover_url", "Cover image URL"),
]


def find_books(
    session: Session, identity: Principal, query: dict[str, Any]
) -> tuple[list[dict[str, Any]], int, list[str]]:
    """One page of the search of ``GET /v1/search`` (full-text + semantic; no words browses the
    catalog, most read first), levels read and shown in the school's scale, with the number of
    matches and notes (why nothing matched; when the level filter removed every match, its matches
    without it are listed)."""
    filters = lookups.search_filters(
        level_min=query["level_min"],
        level_max=query["level_max"],
        scale=levels.school_scale(session, identity.tenant_id),
        tags=_listed(query["tag"]),
        language=_listed(query["language"]),
        available=True if query["available"] else None,
    )
    answer = lookups.search_books(
        service(),
        llm(),
        settings(),
        session,
        identity.tenant_id,
        query["q"],
        filters,
        PAGE_SIZE,
        offset=query["offset"],
    )
    hits = answer.data or answer.without_level_filter
    picks = dashboard.staff_picks(session, identity.tenant_id, [hit.id for hit in hits])
    rows = [
        {
            "id": hit.id,
            "title": hit.title,
            "authors": ", ".join(hit.authors),
            "level": hit.level_shown.label if hit.level_shown else "",
            "tags": ", ".join(hit.tags[:4]),
            "staff_pick": "★" if hit.id in picks else "",
            "copies": "" if hit.available_copies is None else hit.available_copies,
        }
        for hit in hits
    ]
    return rows, answer.total if answer.data else len(rows), answer.notes


def _listed(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _level_boxes(scale: str) -> tuple[Any, Any]:
    """ "From" and "to" in the scale the school reads levels in: numbers, or letters A–Z."""
    if scale == "guided_reading":
        boxes = [ui.select(LETTERS, label=f"Level {end}", clearable=True) for end in ("from", "to")]
    else:
        name, step, lowest, highest = LEVEL_BOXES[scale]
        boxes = [ui.number(f"{name} {end}", min=lowest, max=highest, step=step) for end in ("from", "to")]
    for box, end in zip(boxes, ("from", "to"), strict=True):
        box.classes("w-28").props(f'data-testid="level-{end}"')
    return boxes[0], boxes[1]


@ui.page("/catalog")
async def catalog_page(q: str = "") -> Response | None:
    identity = guard(READ)
    if not isinstance(identity, Principal):
        return identity
    frame(identity, "Catalog")
    ui.add_css(PHONE_CSS)
    scale = await load(levels.school_scale, identity.tenant_id) or "grade"
    with ui.row().classes("w-full flex-wrap items-end gap-2"):
        text = ui.input("Search", value=q, placeholder="funny dragon books for 2nd grade").classes(
            "grow min-w-[12rem]"
        )
        text.props('clearable aria-label="Search the catalog" data-testid="catalog-search"')
        tag = ui.input("Tag").classes("w-32")
        language = ui.input("Language", placeholder="en, eng, English").classes("w-32")
        low, high = _level_boxes(scale)
        available = ui.checkbox("On the shelf")
        go = ui.button("Search", icon="search")
    notes = ui.label("").classes("text-gray-600 text-sm").props('data-testid="catalog-notes"')
    table = ui.table(columns=RESULT_COLUMNS, rows=[], row_key="id", pagination={"rowsPerPage": 0}).classes(
        "w-full catalog-results"
    )
    # Quasar's own pager has unnamed icon buttons; the labelled Pager below pages on the server.
    table.props("hide-pagination flat bordered")
    table.add_slot("body", RESULT_ROW.replace("{href}", url("/catalog/")))

    async def show_page(offset: int) -> None:
        query = {
            "q": text.value or "",
            "tag": tag.value or "",
            "language": language.value or "",
            "level_min": low.value,
            "level_max": high.value,
            "available": available.value,
            "offset": offset,
        }
        rows, total, found_notes = await load(find_books, identity, query) or ([], 0, [])
        notes.text = " ".join(note[0].upper() + note[1:] + "." for note in found_notes)
        table.rows = rows
        table.update()
        pager.show(total)

    pager = Pager(PAGE_SIZE, show_page, what="books")
    go.on_click(pager.reset)
    text.on("keydown.enter", pager.reset)
    await pager.reset()
    return None


def book_details(session: Session, identity: Principal, item_id: str) -> dict[str, Any]:
    item = dashboard.book(session, identity, item_id)
    scale = levels.school_scale(session, identity.tenant_id)
    given = dashboard.book_level(item)
    return {
        "item": {column.name: getattr(item, column.name) for column in item.__table__.c},
        "given": None if given is None else levels.shown(given, scale),
        "estimated": None
        if getattr(item, "estimated_level", None) is None
        else levels.shown(item.estimated_level, scale),
        "confidence": getattr(item, "estimated_level_confidence", None),
        "readers": dashboard.readers_of(session, identity.tenant_id, item.id),
    }


def save_book(session: Session, identity: Principal, item_id: str, changes: dict[str, Any]) -> bool:
    """Validated by the API's PATCH model and applied, with the account's own role, by the service
    ``PATCH /v1/items/{id}`` calls."""
    try:
        patch = ItemPatch.model_validate(changes)
    except ValidationError as exc:
        raise InvalidError.of(exc) from None
    ITEMS.patch(session, identity, item_id, patch)
    return True


@ui.page("/catalog/{item_id}")
async def book_page(item_id: str) -> Response | None:
    identity = guard(READ)
    if not isinstance(identity, Principal):
        return identity
    details = await load(book_details, identity, item_id)
    if details is None:
        frame(identity, "Book not found")
        return None
    item = details["item"]
    frame(identity, item["title"])
    with ui.row().classes("w-full flex-wrap gap-4 items-start"):
        with ui.card().classes("grow min-w-[300px] max-w-2xl"):
            if src := cover_src(item_id, item["cover_url"]):
                alt = item["title"].replace(chr(34), chr(39))
                ui.image(src).props(f'alt="Cover of {alt}"').classes("w-48")
            ui.label("by " + ", ".join(item["authors"] or ["unknown"])).classes("text-gray-700")
            ui.label(item["description"] or "").classes("text-sm")
            ui.label("Tags: " + ", ".join(item["tags"] or [])).classes("text-sm")
            _level_lines(details)
            copies = item["available_copies"]
            ui.label(f"Copies on the shelf: {'?' if copies is None else copies}")
            if may(identity, WRITE):
                pick = ui.switch("Staff pick", value=bool(item["staff_pick"])).mark("staff-pick")

                async def toggle(event: Any) -> None:
                    if await load(save_book, identity, item_id, {"staff_pick": event.value}):
                        ui.notify("Staff pick on" if event.value else "Staff pick off", type="positive")

                pick.on_value_change(toggle)
            else:
                ui.label("★ Staff pick" if item["staff_pick"] else "")
        with ui.card().classes("min-w-[240px]"):
            ui.label("Who reads it (counts only)").classes("font-semibold")
            for kind, count in sorted(details["readers"]["by_type"].items()):
                ui.label(f"{count} {'student' if count == 1 else 'students'}: {kind}").classes("text-sm")
            ui.separator()
            for name, count in details["readers"]["by_class"].items():
                ui.label(f"{name}: {count}").classes("text-sm")
    if may(identity, WRITE):
        _editor(identity, item_id, item)
    ui.label("Similar books").classes("text-xl font-semibold mt-4")
    await connected()
    similar = await load(data.similar, identity, item_id)
    with ui.row().classes("flex-wrap gap-2"):
        for row in similar or []:
            ui.link(row["title"], f"/catalog/{row['id']}").classes(
                "similar-book border rounded px-2 py-1 text-indigo-800"
            )
    return None


def _level_lines(details: dict[str, Any]) -> None:
    if details["given"]:
        ui.label(f"Level (given): {details['given']}").classes("font-medium")
    if details["estimated"]:
        confidence = details["confidence"]
        suffix = f", confidence {confidence:.0%}" if confidence is not None else ""
        ui.label(f"Level (estimated by nextread): {details['estimated']}{suffix}").classes("font-medium")
    if not details["given"] and not details["estimated"]:
        ui.label("Level: unknown")


def _editor(identity: Principal, item_id: str, item: dict[str, Any]) -> None:
    with ui.expansion("Edit details", icon="edit").classes("w-full max-w-2xl"):
        fields = {}
        for name, label in EDITABLE:
            value = item[name]
            if isinstance(value, list):
                value = ", ".join(value)
            fields[name] = ui.input(label, value="" if value is None else str(value)).classes("w-full")
            fields[name].mark(f"edit-{name}")

        async def save() -> None:
            changes = {name: (field.value if field.value != "" else None) for name, field in fields.items()}
            for name in ("authors", "tags"):
                changes[name] = changes[name] or []
            if await load(save_book, identity, item_id, changes):
                ui.notify("Saved", type="positive")

        ui.button("Save changes", icon="save", on_click=save).mark("save-book")
