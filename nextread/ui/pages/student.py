"""The student's own page: big friendly cards, four buttons, and a list that follows every click.

Built for a child on a tablet: one column on a phone, more on wider screens, large touch targets,
real buttons (keyboard: Tab and Enter/Space), and alt text on every cover."""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response
from nicegui import ui

from nextread.services import dashboard
from nextread.services.access import READ, Principal, may
from nextread.ui import data
from nextread.ui.auth import guard
from nextread.ui.covers import cover_src
from nextread.ui.layout import connected, load, theme

CARDS = 8
ACTIONS = [
    ("save", "I want to read this", "bookmark_add", "primary"),
    ("like", "Like", "thumb_up", "positive"),
    ("dismiss", "Not for me", "thumb_down", "grey-7"),
    ("share", "Share with my class", "share", "secondary"),
]
DONE = {
    "save": "Saved for later",
    "like": "You liked it",
    "dismiss": "Got it, not for you",
    "share": "Shared",
}
STUDENT_CSS = """
.book-card { border-radius: 1.25rem; }
.book-card .q-btn { min-height: 48px; font-size: 1rem; }
.book-card:focus-within { outline: 3px solid #4f46e5; outline-offset: 2px; }
"""


def simple_reason(explanation: str | None) -> str:
    """The engine's first reason as one short sentence a young reader can follow."""
    if not explanation:
        return "We think you will enjoy this one."
    first = explanation.split(";")[0].replace("*", "").strip().rstrip(".")
    return first[:1].upper() + first[1:] + "."


@ui.page("/read/{student_id}")
async def student_page(student_id: str) -> Response | None:
    identity = guard(READ, student_id=student_id)
    if not isinstance(identity, Principal):
        return identity
    user = await load(dashboard.find_student, identity, student_id)
    if user is None:
        ui.label("We could not find this reader.")
        return None
    ui.add_css(STUDENT_CSS)
    ui.page_title("My books · nextread")
    theme()
    marks: dict[str, str] = {}

    with ui.row().classes("w-full items-center px-4 pt-4"):
        name = user.display_name or "reader"
        ui.label(f"Hi {name.split()[0]}! Books picked for you").classes("text-3xl font-bold").props(
            'role="heading" aria-level="1"'
        )
        ui.space()
        if may(identity, READ):
            ui.link("Back to staff page", f"/students/{student_id}")
        ui.link("Sign out", "/logout")
    await connected()
    status = ui.label("").props('role="status" aria-live="polite"').classes("px-4 text-lg text-indigo-700")

    @ui.refreshable
    def cards(rows: list[dict[str, Any]]) -> None:
        if not rows:
            ui.label("No books to show right now. Ask your librarian!").classes("text-xl p-4")
            return
        with (
            ui.element("div")
            .classes("grid grid-cols-1 sm:grid-cols-2 lg:grid-cols-3 xl:grid-cols-4 gap-4 p-4 w-full")
            .props('data-testid="student-cards"')
        ):
            for row in rows:
                _card(row, marks.get(row["id"]), on_action)

    async def on_action(row: dict[str, Any], kind: str) -> None:
        if await load(data.log_interaction, identity, student_id, row["id"], kind) is None:
            return
        marks[row["id"]] = kind
        status.set_text(f"{DONE[kind]}: {row['title']}")
        cards.refresh(await load(data.recommendations, identity, student_id, CARDS) or [])

    cards(await load(data.recommendations, identity, student_id, CARDS) or [])
    return None


def _card(row: dict[str, Any], mark: str | None, on_action: Any) -> None:
    authors = ", ".join(row.get("authors") or [])
    with (
        ui.card()
        .classes("book-card w-full shadow-md")
        .props(f'role="article" aria-label="{_attr(row["title"])}" data-item="{_attr(row["id"])}"')
    ):
        if src := cover_src(row["id"], row.get("cover_url")):
            ui.image(src).props(f'alt="Cover of {_attr(row["title"])}"').classes(
                "h-48 rounded-lg"
            )
        else:
            with (
                ui.element("div")
                .classes("h-32 w-full rounded-lg bg-indigo-100 flex items-center justify-center")
                .props('aria-hidden="true"')
            ):
                ui.icon("menu_book", size="4rem", color="indigo-400")
        ui.label(row["title"]).classes("book-title text-xl font-bold").props('role="heading" aria-level="2"')
        if authors:
            ui.label(f"by {authors}").classes("text-gray-700")
        ui.label(simple_reason(row.get("explanation"))).classes("text-lg")
        if mark:
            ui.label(DONE[mark]).classes("text-indigo-700 font-semibold")
        with ui.row().classes("flex-wrap gap-2"):
            for kind, label, icon, color in ACTIONS:
                ui.button(label, icon=icon, color=color, on_click=lambda _, k=kind: on_action(row, k)).props(
                    f'no-caps rounded aria-label="{label}: {_attr(row["title"])}" data-action="{kind}"'
                ).mark(f"{kind}-{row['id']}")


def _attr(text: str) -> str:
    """Safe inside a double-quoted prop value."""
    return str(text).replace('"', "'")
