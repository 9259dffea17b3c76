"""Every role uses the dashboard by clicking, in Debian's Chromium against a real ``nextread serve``: the
menu, the logo, the links inside pages and Sign out each land on a page that shows its content, pages a
role may not open are absent from its menu, and after Sign out a protected page asks for sign-in.

Each role is one :data:`ROLES` entry. The time from each click to its content is
printed (run with ``-s``) and screenshots go to ``artifacts/screenshots/click-*.png``."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.ui.browser_kit import open_page, shoot, sign_in
from tests.ui.conftest import ADMIN_KEY, LIBRARIAN, READ_KEY, STUDENT, TEACHER

MENU = ("Overview", "Students", "Classes", "Catalog", "Import", "Settings")
# What shows that each page has its content, not just its frame (every page has the header and a title).
CONTENT = {
    "Overview": "text=Top books",
    "Students": ".student-link",
    "Classes": ".class-link",
    "Catalog": ".catalog-hit",
    "Import": "input[type=file]",
    "Settings": "[data-testid=save-settings]",
    "student": ".rec-title",
    "book": "text=Similar books",
    "class": ".class-book",
    "own page": "[data-item]",
    "sign-in": "role=button[name='Sign in']",
}
Opener = Callable[[Any], None]
CONTENT_WAIT_MS = 60_000


@dataclass(frozen=True)
class Role:
    name: str
    sign_in: Opener
    home: str
    menu: tuple[str, ...]
    """Menu entries the role must see; every other entry of :data:`MENU` must be absent."""
    staff: bool = True


def _with_key(key: str) -> Opener:
    return lambda page: sign_in(page, key=key)


def _with_password(username: str, password: str) -> Opener:
    return lambda page: sign_in(page, username, password)


ROLES = [
    Role("admin", _with_key(ADMIN_KEY), "/ui/overview", MENU),
    Role("librarian", _with_password(*LIBRARIAN), "/ui/overview", MENU[:5]),
    Role("teacher", _with_password(*TEACHER[:2]), "/ui/overview", MENU[:4]),
    Role("viewer", _with_key(READ_KEY), "/ui/overview", MENU[:4]),
    Role("student", _with_password(*STUDENT[:2]), f"/ui/read/{STUDENT[2]}", (), staff=False),
]


class Clicker:
    """Clicks a link and waits for the page it leads to to show its content; keeps each time."""

    def __init__(self, page: Any, role: str) -> None:
        self.page, self.role = page, role
        self.times: list[tuple[str, float]] = []

    def click(self, what: str, link: Any, content: str) -> None:
        link.wait_for()
        started = time.perf_counter()
        link.click()
        # Generous: a cold server's first recommendations can take long on a loaded machine; the time is kept.
        self.page.locator(content).first.wait_for(timeout=CONTENT_WAIT_MS)
        self.times.append((what, time.perf_counter() - started))
        body = self.page.locator("body").inner_text()
        assert "Not allowed" not in body, f"{self.role}: {what} answered Not allowed"
        assert "404" not in self.page.title(), f"{self.role}: {what} answered {self.page.title()}"
        shoot(self.page, f"click-{self.role}-{re.sub(r'[^a-z]+', '-', what.lower())}")

    def report(self) -> str:
        return "\n".join(f"{self.role:10} {what:28} {seconds * 1000:6.0f} ms" for what, seconds in self.times)


@pytest.mark.parametrize("role", ROLES, ids=[role.name for role in ROLES])
def test_every_click_lands_on_its_content(server: str, browser: Any, role: Role) -> None:
    page = open_page(browser, server)
    role.sign_in(page)
    page.wait_for_url("**" + role.home)
    clicks = Clicker(page, role.name)
    if role.staff:
        _menu_and_logo(page, clicks, role)
        _links_inside_pages(page, clicks)
    else:
        page.locator(CONTENT["own page"]).first.wait_for()
        assert page.get_by_role("navigation", name="Main").count() == 0
        for entry in MENU:
            assert page.get_by_role("link", name=entry, exact=True).count() == 0, entry
    protected = page.url
    clicks.click("Sign out", page.get_by_role("link", name="Sign out"), CONTENT["sign-in"])
    assert page.url.endswith("/ui/login")
    print("\n" + clicks.report())
    _signed_out(page, protected)
    page.context.close()


def _menu_and_logo(page: Any, clicks: Clicker, role: Role) -> None:
    menu = page.get_by_role("navigation", name="Main")
    shown = [entry for entry in MENU if menu.get_by_role("link", name=entry, exact=True).count()]
    assert shown == list(role.menu), f"{role.name} sees {shown}"
    for entry in role.menu:
        clicks.click(f"menu {entry}", menu.get_by_role("link", name=entry, exact=True), CONTENT[entry])
        assert page.url.endswith(f"/ui/{entry.lower()}"), page.url
    clicks.click("logo", page.get_by_role("link", name="nextread", exact=True), CONTENT["Overview"])
    assert page.url.endswith("/ui/overview")


def _links_inside_pages(page: Any, clicks: Clicker) -> None:
    top_books = page.locator(".q-card", has=page.get_by_text("Top books")).get_by_role("link")
    clicks.click("overview top book", top_books.first, CONTENT["book"])
    clicks.click("similar book", page.locator(".similar-book").first, CONTENT["book"])

    menu = page.get_by_role("navigation", name="Main")
    clicks.click("menu Students", menu.get_by_role("link", name="Students", exact=True), CONTENT["Students"])
    page.get_by_label("Search students").fill("Ethan")
    student = page.locator(".student-link", has_text="Ethan J.")
    clicks.click("student's staff page", student, CONTENT["student"])
    clicks.click("recommended title", page.locator(".rec-title").first, CONTENT["book"])

    clicks.click("menu Classes", menu.get_by_role("link", name="Classes", exact=True), CONTENT["Classes"])
    clicks.click("class page", page.locator(".class-link").first, CONTENT["class"])
    clicks.click("class's book", page.locator(".class-book").first, CONTENT["book"])


def _signed_out(page: Any, protected: str) -> None:
    """Signed out, a protected page asks for sign-in, and Back shows no data from before."""
    page.go_back()
    # At once, before any reload a restored page might do: the browser kept no copy of the old page.
    assert page.title().startswith("Sign in"), f"Back showed {page.title()} at {page.url}"
    page.locator(CONTENT["sign-in"]).wait_for()
    assert "/ui/login" in page.url
    page.goto(protected)
    page.locator(CONTENT["sign-in"]).wait_for()
    assert "/ui/login?next=" in page.url
