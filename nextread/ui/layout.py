"""The frame every staff page shares: a header whose menu is a row of links on wide screens and one
labelled Menu button below 600 px, where a wrapped row took three lines of a phone's screen."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from nicegui import run, ui
from sqlalchemy.exc import DBAPIError

from nextread.services.access import CONFIGURE, READ, WRITE, Principal, may, role_label
from nextread.services.errors import REFUSALS
from nextread.store.db import database_failure
from nextread.ui.context import db

T = TypeVar("T")
NAV = [
    ("Overview", "/overview", READ),
    ("Students", "/students", READ),
    ("Classes", "/classes", READ),
    ("Catalog", "/catalog", READ),
    ("Import", "/import", WRITE),
    ("Settings", "/settings", CONFIGURE),
]
PRINT_CSS = """
@media print {
  .q-header, .no-print, .nicegui-error-popup { display: none !important; }
  .q-page-container { padding-top: 0 !important; }
  body { background: white; }
}
"""


# Quasar's default brand colours give white text 2.5-3:1; these keep every coloured control at 4.5:1 or more
# (WCAG AA), and a focus ring on every control a keyboard reaches: a dark ring inside a white one, so it
# shows at 3:1 or more on white cards (16:1) and on the indigo header (white, 8:1) alike.
THEME = {
    "primary": "#4338ca",
    "secondary": "#0f766e",
    "accent": "#7e22ce",
    "positive": "#15803d",
    "negative": "#b91c1c",
    "info": "#0369a1",
    "warning": "#fbbf24",
}
# NiceGUI's links are blue-500, 3.7:1 on white; blue-700 is 6.7:1. Links given their own text colour
# (the header's white ones) keep it.
FOCUS_CSS = """
:focus-visible {
  outline: 3px solid #1e1b4b !important; outline-offset: 0; box-shadow: 0 0 0 6px #ffffff !important;
}
.nicegui-link:not([class*="text-"]) { color: #1d4ed8; }
"""


def theme() -> None:
    """Every page's colours and focus ring: call first on every page, staff, student or sign-in."""
    ui.colors(**THEME)
    ui.add_css(FOCUS_CSS)


# Below 600 px the entries hide behind one Menu button (a disclosure: aria-expanded says whether they are
# shown) and open as a full-width panel under the header; every header control is at least 24 px high
# (WCAG 2.2 target size), 44 px in the phone panel.
PHONE_MENU_CSS = """
.nr-nav-links a, .nr-signout { min-height: 24px; display: inline-flex; align-items: center; padding: 0 4px; }
.nr-menu-button { display: none !important; }
@media (max-width: 599.98px) {
  .nr-menu-button { display: inline-flex !important; }
  .nr-nav { margin-left: auto; }
  .nr-space, .nr-who { display: none; }
  .nr-nav-links { display: none !important; }
  .nr-nav-links.nr-open {
    display: flex !important; flex-direction: column; position: absolute; top: 100%; left: 0; right: 0;
    padding: 4px 12px 12px; background: #4338ca; box-shadow: 0 6px 12px rgba(0, 0, 0, 0.25);
  }
  .nr-nav-links.nr-open a { min-height: 44px; font-size: 1.05rem; }
}
"""


def frame(identity: Principal, title: str) -> None:
    theme()
    ui.add_css(PRINT_CSS)
    ui.add_css(PHONE_MENU_CSS)
    ui.page_title(f"{title} · nextread")
    with ui.header().classes("items-center flex-wrap gap-x-4 gap-y-1 bg-indigo-700 px-4 py-2"):
        with ui.link(target="/overview").classes(
            "text-white text-lg font-bold no-underline flex items-center min-h-[24px]"
        ):
            ui.icon("auto_stories").props('aria-hidden="true"')
            ui.label("nextread")
        _menu(identity)
        ui.space().classes("nr-space")
        ui.label(f"{identity.name} ({role_label(identity)})").classes("nr-who text-indigo-100 text-sm")
        ui.link("Sign out", "/logout").classes("nr-signout text-white text-sm")
    ui.label(title).classes("text-2xl font-semibold").props('role="heading" aria-level="1"')


def _menu(identity: Principal) -> None:
    """The Main navigation landmark: the Menu button (phones only) and the entries this role may open."""
    with ui.element("div").classes("nr-nav flex items-center").props('role="navigation" aria-label="Main"'):
        button = (
            ui.button("Menu", icon="menu")
            .classes("nr-menu-button")
            .props('flat no-caps color=white aria-expanded="false"')
        )
        with ui.row().classes("nr-nav-links flex-wrap gap-x-3 gap-y-0") as links:
            for label, path, action in NAV:
                if may(identity, action):
                    ui.link(label, path).classes("text-white no-underline hover:underline")
        button.props(f'aria-controls="c{links.id}"')

        def toggle(open_: bool | None = None) -> None:
            shown = "nr-open" not in links.classes if open_ is None else open_
            links.classes(add="nr-open") if shown else links.classes(remove="nr-open")
            button.props(f'aria-expanded="{str(shown).lower()}"')

        button.on_click(lambda: toggle())
        links.on("keydown.esc", lambda: toggle(False))


def unavailable(what: str, why: str) -> None:
    with ui.card().classes("bg-amber-50 w-full").props('role="status"'):
        ui.label(f"{what}: unavailable").classes("font-semibold")
        ui.label(why).classes("text-sm text-gray-700")


async def load(function: Callable[..., T], *args: Any) -> T | None:
    """Run a database-bound function off the event loop, committed before it returns (so a page only
    says "Saved" for what is stored); a service's refusal or a failed commit becomes a notification."""
    try:
        return await run.io_bound(_in_session, function, *args)
    except REFUSALS as exc:
        ui.notify(str(exc), type="warning")
    except DBAPIError as exc:
        ui.notify(database_failure(exc).message, type="negative")
    return None


def _in_session(function: Callable[..., T], *args: Any) -> T:
    with db() as session:
        return function(session, *args)


async def connected() -> None:
    """Send the page now and fill in slow parts over the websocket, so the page shows at once."""
    await ui.context.client.connected(timeout=30)
