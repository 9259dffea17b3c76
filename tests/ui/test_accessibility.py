"""axe-core on every dashboard page, for every role that may open it, at desktop and phone width.

One signed-in browser context per role and width walks the pages by clicking, as a person does (the menu,
then the links inside pages); on each page it waits for the content, times click → content, saves a
screenshot, runs axe (0 critical and 0 serious allowed) and, at 390 px, looks for anything wider than the
screen. A page that fails does not stop the walk: every failure of a role and width is collected into one
message, and a table page / role / width / critical / serious (axe rules broken) / ms is printed and
saved to ``artifacts/axe-table.txt`` for the closing note."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.ui.browser_kit import (
    DESKTOP,
    PHONE,
    SHOTS,
    WAIT_MS,
    axe_violations,
    describe,
    menu_entry,
    open_page,
    shoot,
    sign_in,
    wider_than_viewport,
)
from tests.ui.conftest import LIBRARIAN, READ_KEY, STUDENT, TEACHER

Page = Any


def _menu(label: str) -> Callable[[Page], None]:
    """Click a header menu entry; on a phone, open the Menu button first."""

    return lambda page: menu_entry(page, label).click()


def _first(selector: str) -> Callable[[Page], None]:
    return lambda page: page.locator(selector).first.click()


def _text(text: str) -> Callable[[Page], None]:
    return lambda page: page.get_by_role("link", name=text).click()


def _print_two(page: Page) -> None:
    """Tick two of the class's books, then print them as a reading list."""
    checks = page.get_by_role("checkbox")
    checks.nth(0).click()
    checks.nth(1).click()
    page.get_by_test_id("print-list").click()


@dataclass(frozen=True)
class Step:
    name: str
    go: Callable[[Page], None]
    content: str  # a selector that is there once the page's content is
    after: str | None = None  # the step this one is reached from (skipped when it was not reached)
    back: bool = False  # a page without the staff menu: the browser's Back button leads on


STAFF_READ = [
    Step("overview", _menu("Overview"), "text=Active students (30 days)"),
    Step("students", _menu("Students"), ".student-link"),
    Step("a student", _first(".student-link"), ".rec-title", after="students"),
    Step("student page", _text("Open the student's own page"), "[data-item]", after="a student", back=True),
    Step("classes", _menu("Classes"), ".class-link"),
    Step("a class", _first(".class-link"), ".class-book", after="classes"),
    Step("printed list", _print_two, ".reading-list-item", after="a class"),
    Step("catalog", _menu("Catalog"), ".catalog-hit"),
    Step("a book", _first(".catalog-hit"), ".similar-book", after="catalog"),
]
IMPORT = Step("import", _menu("Import"), "input[type=file]")
SETTINGS = Step("settings", _menu("Settings"), "[data-testid=save-settings]")
ROLES: dict[str, tuple[Callable[[Page], None], list[Step]]] = {
    "admin": (lambda page: sign_in(page), [*STAFF_READ, IMPORT, SETTINGS]),
    "librarian": (lambda page: sign_in(page, *LIBRARIAN), [*STAFF_READ, IMPORT]),
    "teacher": (lambda page: sign_in(page, *TEACHER[:2]), STAFF_READ),
    "read-only": (lambda page: sign_in(page, key=READ_KEY), STAFF_READ),
    "student": (lambda page: sign_in(page, STUDENT[0], STUDENT[1]), []),
}
WIDTHS = {"1440": DESKTOP, "390": PHONE}
# A student lands on their own page after signing in: that is the page, and the time, checked for them.
STUDENT_HOME = Step("student page", lambda page: None, "[data-item]")
# One file per test worker (scripts/test.sh runs two): each holds the walks that worker ran.
TABLE = SHOTS.parent / f"axe-table-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.txt"
RESULTS: list[tuple[str, str, str, str, str, str]] = []


@pytest.fixture(scope="module", autouse=True)
def axe_table() -> Iterator[None]:
    """After the walks: the table of every page, role and width, printed and kept next to the screenshots."""
    yield
    rows = [("page", "role", "width", "critical", "serious", "ms to content"), *RESULTS]
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    table = "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows)
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    TABLE.write_text(table + "\n", encoding="utf-8")
    print("\n" + table)


@dataclass
class Walk:
    page: Page
    role: str
    width: str
    failures: list[str]
    unreached: set[str]  # pages whose content never showed: the pages reached from them are skipped

    def check(self, step: Step, started: float) -> None:
        """Wait for the content, then time, photograph, axe-check and (phone) width-check the page."""
        try:
            self.page.locator(step.content).first.wait_for(timeout=WAIT_MS)
        except Exception as exc:  # noqa: BLE001  (a timeout or a vanished page: recorded, walk goes on)
            self.unreached.add(step.name)
            self.fail(step, f"content {step.content!r} never showed ({type(exc).__name__})")
            RESULTS.append((step.name, self.role, self.width, "-", "-", "timeout"))
            return
        elapsed_ms = (time.monotonic() - started) * 1000
        shoot(self.page, f"a11y-{self.role}-{self.width}-{step.name.replace(' ', '-')}")
        violations = axe_violations(self.page)
        counts = {level: sum(v["impact"] == level for v in violations) for level in ("critical", "serious")}
        RESULTS.append(
            (
                step.name,
                self.role,
                self.width,
                str(counts["critical"]),
                str(counts["serious"]),
                f"{elapsed_ms:.0f}",
            )
        )
        if violations:
            self.fail(step, describe(violations))
        if self.width == "390":
            wide = wider_than_viewport(self.page)
            if wide:
                self.fail(step, "wider than the screen: " + "; ".join(wide))

    def fail(self, step: Step, why: str) -> None:
        self.failures.append(f"[{step.name} · {self.role} · {self.width}px] {why}")

    def visit(self, step: Step) -> None:
        if step.after in self.unreached:
            self.unreached.add(step.name)
            self.fail(step, f"not reached: {step.after} did not show")
            RESULTS.append((step.name, self.role, self.width, "-", "-", "skipped"))
            return
        started = time.monotonic()
        try:
            step.go(self.page)
        except Exception as exc:  # noqa: BLE001
            self.unreached.add(step.name)
            self.fail(step, f"could not click there ({type(exc).__name__}: {str(exc).splitlines()[0]})")
            RESULTS.append((step.name, self.role, self.width, "-", "-", "no link"))
            return
        self.check(step, started)
        if step.back:
            self.page.go_back()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("role", ROLES)
def test_every_page_passes_axe(server: str, browser: Any, role: str, width: str) -> None:
    page = open_page(browser, server, WIDTHS[width])
    walk = Walk(page, role, width, [], set())
    try:
        page.goto("/ui/login")
        walk.check(Step("login", lambda p: None, "text=Sign in"), time.monotonic())
        sign_in_as, steps = ROLES[role]
        started = time.monotonic()
        sign_in_as(page)
        if role == "student":
            walk.check(STUDENT_HOME, started)
        else:
            page.wait_for_url("**/ui/overview")
        for step in steps:
            walk.visit(step)
    finally:
        page.context.close()
    assert not walk.failures, f"{len(walk.failures)} failures:\n" + "\n".join(walk.failures)


def _heights(page: Page, selector: str) -> list[float]:
    return page.eval_on_selector_all(selector, "els => els.map(e => e.getBoundingClientRect().height)")


def test_phone_menu_is_one_button_that_opens_by_keyboard(server: str, browser: Any) -> None:
    """At 390 px the entries wrapped to three lines: now one Menu button (a disclosure), the logo and
    Sign out in one 24-px-or-taller row; at 1440 px the entries stay a row of links."""
    page = open_page(browser, server, PHONE)
    sign_in(page)
    page.wait_for_url("**/ui/overview")
    nav = page.get_by_role("navigation", name="Main")
    button = nav.get_by_role("button", name="Menu")
    catalog = nav.get_by_role("link", name="Catalog", exact=True)
    header = page.locator(".q-header")
    assert header.bounding_box()["height"] < 70, "one line"
    assert button.get_attribute("aria-expanded") == "false" and not catalog.is_visible()
    assert page.get_by_role("link", name="Sign out").is_visible()
    assert page.get_by_role("link", name="nextread").is_visible()
    button.focus()
    page.keyboard.press("Enter")
    expect(catalog).to_be_visible()
    expect(button).to_have_attribute("aria-expanded", "true")
    assert min(_heights(page, ".nr-nav-links a")) >= 44
    shoot(page, "menu-open-390")
    catalog.focus()
    page.keyboard.press("Escape")
    expect(catalog).to_be_hidden()
    expect(button).to_have_attribute("aria-expanded", "false")
    button.click()
    catalog.click()
    page.locator(".catalog-hit").first.wait_for()
    page.context.close()

    desk = open_page(browser, server, DESKTOP)
    sign_in(desk)
    desk.wait_for_url("**/ui/overview")
    assert not desk.get_by_role("button", name="Menu").is_visible()
    assert desk.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").is_visible()
    assert min(_heights(desk, ".q-header a")) >= 24
    desk.context.close()
