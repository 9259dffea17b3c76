"""Small pieces every dashboard page uses the same way: a pager a screen reader can name, an empty state
that says what to do next, and a loading state for anything slower than a blink."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from nicegui import ui


class Pager:
    """ "Showing 21–40 of 77" with labelled Previous / Next buttons, for lists held in the database.

    ``on_change(offset)`` is awaited with the new first row; call :meth:`show` with the total after
    every load. Quasar's own table pager has unlabelled icon buttons, so tables hide theirs and use this."""

    def __init__(
        self, page_size: int, on_change: Callable[[int], Awaitable[None]], what: str = "rows"
    ) -> None:
        self.page_size, self.offset, self.what = page_size, 0, what
        self._on_change = on_change
        with (
            ui.row()
            .classes("items-center gap-2 no-print")
            .props(f'role="navigation" aria-label="{what} pages"')
        ):
            self._previous = ui.button("Previous", icon="chevron_left", on_click=self._back).props(
                f'flat aria-label="Previous page of {what}"'
            )
            self._label = ui.label().props('aria-live="polite"')
            self._next = ui.button("Next", icon="chevron_right", on_click=self._forward).props(
                f'flat icon-right aria-label="Next page of {what}"'
            )

    def show(self, total: int) -> None:
        last = min(self.offset + self.page_size, total)
        self._label.text = (
            f"No {self.what}" if total == 0 else f"{self.offset + 1}–{last} of {total} {self.what}"
        )
        self._previous.set_enabled(self.offset > 0)
        self._next.set_enabled(last < total)

    async def reset(self) -> None:
        self.offset = 0
        await self._on_change(0)

    async def _back(self) -> None:
        self.offset = max(0, self.offset - self.page_size)
        await self._on_change(self.offset)

    async def _forward(self) -> None:
        self.offset += self.page_size
        await self._on_change(self.offset)


def empty_state(message: str, next_steps: list[tuple[str, str]] | None = None) -> None:
    """Why a page or list is empty, and links to what fixes it (``(label, page path)``)."""
    with ui.card().classes("w-full bg-gray-50").props('role="status"'):
        ui.label(message).classes("font-medium")
        for label, path in next_steps or []:
            ui.link(label, path).classes("text-indigo-800")


@contextmanager
def loading(text: str = "Loading…") -> Iterator[None]:
    """A spinner and text shown while the block runs (the block awaits the slow part)."""
    with ui.row().classes("items-center gap-2").props('role="status" aria-live="polite"') as row:
        ui.spinner(size="md")
        ui.label(text)
    try:
        yield
    finally:
        row.delete()
