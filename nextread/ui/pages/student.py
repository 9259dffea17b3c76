"""The student's own page: big friendly cards, four buttons, a list that follows every click and a
shelf of the books the child liked and saved.

Built for a child on a shared tablet: one column on a phone, more on wider screens, touch targets of
48 px or more in colours of 4.5:1 or more, real buttons (keyboard: Tab and Enter/Space) that keep the
keyboard's place when the list is rebuilt, every change said aloud, and alt text on every cover."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.responses import Response
from nicegui import ui

from nextread.engine.explain import end_sentence
from nextread.services import dashboard
from nextread.services.access import READ, WRITE, Principal, may
from nextread.ui import data
from nextread.ui.auth import guard
from nextread.ui.covers import cover_src
from nextread.ui.layout import connected, load, theme

CARDS = 8
"""Books per page; "Show more books" adds as many again."""
ACTIONS = [
    ("save", "I want to read this", "bookmark_add", "primary"),
    ("like", "Like", "thumb_up", "positive"),
    ("dismiss", "Not for me", "thumb_down", "grey-8"),
    ("share", "Share with my class", "share", "secondary"),
]
DONE = {
    "save": "Saved for later",
    "like": "You liked it",
    "dismiss": "Got it, not for you",
    "share": "Shared",
}
# What the live region says after each press: where the book went, not only that something happened.
# The title ends its sentence, which gets one stop whatever the title ends with.
SAID = {
    "save": ("Saved to your books to read: {title}", "It is in My books, below."),
    "like": ("Added to your liked books: {title}", "It is in My books, below."),
    "dismiss": ("Got it, we will not show you {title} again", ""),
    "share": ("Shared with your class: {title}", ""),
}
READ_ONLY_NOTE = (
    "You are looking with a read-only key, so the buttons to like, save or share books are hidden. "
    "Sign in as a librarian or as the student to choose books."
)
STUDENT_CSS = """
.book-card { border-radius: 1.25rem; }
.book-card .q-btn, .student-page .q-btn { min-height: 48px; min-width: 48px; font-size: 1rem; }
.book-card:focus-within { outline: 3px solid #4f46e5; outline-offset: 2px; }
.student-page .big-link { display: inline-flex; align-items: center; min-height: 48px; padding: 0 0.75rem;
  font-size: 1.1rem; color: #3730a3; }
.student-status:empty { display: none; }
.student-status { position: fixed; bottom: 1rem; left: 50%; transform: translateX(-50%); z-index: 10;
  width: max-content; max-width: calc(100vw - 2rem); background: #312e81; color: #fff;
  padding: 0.75rem 1.25rem; border-radius: 1rem; font-size: 1.1rem; box-shadow: 0 4px 12px #0004; }
.student-page { padding-bottom: 6rem; }
/* Quasar lays the white text colour over a focused or hovered button, taking Like to 3.4:1: darken it. */
.student-page .q-btn > .q-focus-helper, .student-page .q-btn > .q-focus-helper::after { background: #000; }
"""
# Focus a control of the rebuilt list once it is on the page. The selector names the render round, so
# the old list's buttons (still in the page until Vue patches it) are never the ones focused.
FOCUS_JS = """
((selectors) => {
  let tries = 0;
  const go = () => {
    for (const selector of selectors) {
      const el = document.querySelector(selector);
      if (el) { el.focus(); return; }
    }
    if (++tries < 60) setTimeout(go, 50);
  };
  go();
})(%s)
"""


def simple_reason(explanation: str | None) -> str:
    """The engine's first reason as one short sentence a young reader can follow."""
    if not explanation:
        return "We think you will enjoy this one."
    first = explanation.split(";")[0].replace("*", "").strip()
    return end_sentence(first[:1].upper() + first[1:])


class StudentPage:
    """One child's page in one browser tab: how many books it shows, what was pressed, and where the
    keyboard goes next."""

    def __init__(self, identity: Principal, student_id: str) -> None:
        self.identity = identity
        self.student_id = student_id
        self.shown = CARDS
        self.rows: list[dict[str, Any]] | None = None  # None: still being picked
        self.shelf: dict[str, list[dict[str, Any]]] = {"like": [], "save": []}
        self.marks: dict[str, str] = {}
        self.round = 0
        self.writes = may(identity, WRITE, student_id)
        self.client = ui.context.client  # the pressed button's slot is gone once the list is rebuilt
        self.status: ui.label
        self.cards = ui.refreshable(self._cards)
        self.my_books = ui.refreshable(self._my_books)

    async def reload(self) -> None:
        recommended = await load(data.recommendations, self.identity, self.student_id, self.shown)
        shelf = await load(data.my_books, self.identity, self.student_id)
        self.rows = recommended or []
        self.shelf = shelf or self.shelf
        self.round += 1
        self.cards.refresh()
        self.my_books.refresh()

    async def act(self, row: dict[str, Any], kind: str) -> None:
        position = next((i for i, r in enumerate(self.rows or []) if r["id"] == row["id"]), 0)
        if await load(data.log_interaction, self.identity, self.student_id, row["id"], kind) is None:
            return
        self.marks[row["id"]] = kind
        said, then = SAID[kind]
        self.status.set_text(f"{end_sentence(said.format(title=row['title']))} {then}".strip())
        await self.reload()
        self.focus(self._same_book(row["id"], kind), *self._at(position, kind), '[data-testid="show-more"]')

    async def show_more(self) -> None:
        first_new = len(self.rows or [])
        self.shown += CARDS
        await self.reload()
        added = len(self.rows or []) - first_new
        self.status.set_text(f"{added} more books." if added > 0 else "That is all the books for now.")
        self.focus(*self._at(first_new, "save"), '[data-testid="show-more"]')

    def focus(self, *selectors: str) -> None:
        self.client.run_javascript(FOCUS_JS % json.dumps(selectors))

    def _same_book(self, item_id: str, kind: str) -> str:
        """A book still on the list after the press (a save or a share may leave it there) keeps the
        keyboard on the same button."""
        return f'[data-round="{self.round}"] [data-item="{_css(_attr(item_id))}"] [data-action="{kind}"]'

    def _at(self, position: int, kind: str) -> list[str]:
        """A book gone from the list (liked, "not for me", often saved) leaves its place to the next
        book, so the same button of the card now at that position (or the last card's) is where the
        child was."""
        rows = (self.rows or [])[position : position + 1] or (self.rows or [])[-1:]
        return [self._same_book(row["id"], kind) for row in rows]

    def _cards(self) -> None:
        if self.rows is None:
            with ui.row().classes("items-center gap-3 p-4").props('role="status"'):
                ui.spinner(size="2rem")
                ui.label("Finding books for you…").classes("text-xl")
            return
        if not self.rows:
            ui.label("No books to show right now. Ask your librarian!").classes("text-xl p-4")
            return
        saved = {row["id"] for row in self.shelf["save"]}
        with (
            ui.element("div")
            .classes("grid grid-cols-1 sm:grid-cols-2 lg:grid-cols-3 xl:grid-cols-4 gap-4 p-4 w-full")
            .props(f'data-testid="student-cards" data-round="{self.round}"')
        ):
            for row in self.rows:
                mark = self.marks.get(row["id"]) or ("save" if row["id"] in saved else None)
                _card(row, mark, self.act if self.writes else None)
        if len(self.rows) >= self.shown:
            ui.button("Show more books", icon="expand_more", on_click=self.show_more).props(
                'no-caps rounded unelevated color=primary data-testid="show-more"'
            ).classes("mx-4")

    def _my_books(self) -> None:
        with ui.column().classes("w-full px-4 pt-4 gap-2").props('data-testid="my-books"'):
            ui.label("My books").classes("text-2xl font-bold").props('role="heading" aria-level="2"')
            _shelf("Books I liked", self.shelf["like"], "liked-books", "Like a book and it shows up here.")
            _shelf(
                "Books I want to read",
                self.shelf["save"],
                "saved-books",
                'Press "I want to read this" on a book to keep it here.',
            )


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
    page = StudentPage(identity, student_id)
    with ui.column().classes("student-page w-full gap-2"):
        _header(identity, student_id, user.display_name or "reader")
        if not page.writes:
            ui.label(READ_ONLY_NOTE).classes("mx-4 p-3 rounded-lg bg-amber-50 text-lg").props(
                'data-testid="read-only-note"'
            )
        page.status = ui.label("").classes("student-status").props('role="status" aria-live="polite"')
        await connected()
        ui.label("Books picked for you").classes("text-2xl font-bold px-4").props(
            'role="heading" aria-level="2"'
        )
        page.cards()
        page.my_books()
    await page.reload()
    return None


def _header(identity: Principal, student_id: str, name: str) -> None:
    with ui.row().classes("w-full items-center px-4 pt-4 gap-2"):
        ui.label(f"Hi {name.split()[0]}!").classes("text-3xl font-bold").props(
            'role="heading" aria-level="1"'
        )
        ui.space()
        if may(identity, READ):
            ui.link("Back to staff page", f"/students/{student_id}").classes("big-link")
        ui.link("Sign out", "/logout").classes("big-link")


def _card(
    row: dict[str, Any], mark: str | None, on_action: Callable[[dict[str, Any], str], Awaitable[None]] | None
) -> None:
    """One book; without ``on_action`` (a read-only key) it has no buttons, as every press would fail."""
    authors = ", ".join(row.get("authors") or [])
    with (
        ui.card()
        .classes("book-card w-full shadow-md")
        .props(f'role="article" aria-label="{_attr(row["title"])}" data-item="{_attr(row["id"])}"')
    ):
        if src := cover_src(row["id"], row.get("cover_url")):
            ui.image(src).props(f'alt="Cover of {_attr(row["title"])}"').classes("h-48 rounded-lg")
        else:
            with (
                ui.element("div")
                .classes("h-32 w-full rounded-lg bg-indigo-100 flex items-center justify-center")
                .props('aria-hidden="true"')
            ):
                ui.icon("menu_book", size="4rem", color="indigo-400")
        ui.label(row["title"]).classes("book-title text-xl font-bold").props('role="heading" aria-level="3"')
        if authors:
            ui.label(f"by {authors}").classes("text-gray-700")
        ui.label(simple_reason(row.get("explanation"))).classes("book-reason text-lg")
        if mark:
            ui.label(DONE[mark]).classes("text-indigo-700 font-semibold")
        if on_action is None:
            return
        with ui.row().classes("flex-wrap gap-2"):
            for kind, label, icon, color in ACTIONS:
                ui.button(label, icon=icon, color=color, on_click=lambda _, k=kind: on_action(row, k)).props(
                    f'no-caps rounded aria-label="{label}: {_attr(row["title"])}" data-action="{kind}"'
                ).mark(f"{kind}-{row['id']}")


def _shelf(title: str, rows: list[dict[str, Any]], test_id: str, empty: str) -> None:
    ui.label(f"{title} ({len(rows)})").classes("text-xl font-semibold").props('role="heading" aria-level="3"')
    if not rows:
        ui.label(empty).classes("text-lg text-gray-700")
        return
    with ui.element("ul").classes("list-disc pl-8 text-lg").props(f'data-testid="{test_id}"'):
        for row in rows:
            with ui.element("li").classes("my-book"):
                ui.label(row["title"]).classes("inline")
                if row.get("authors"):
                    ui.label(f" by {row['authors']}").classes("inline text-gray-700")


def _attr(text: str) -> str:
    """Safe inside a double-quoted prop value."""
    return str(text).replace('"', "'")


def _css(text: str) -> str:
    """Safe inside a double-quoted CSS attribute selector."""
    return str(text).replace("\\", "\\\\").replace('"', '\\"')
