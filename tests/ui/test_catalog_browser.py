"""The catalog in Chromium as a librarian uses it, at desktop and phone width: a level range read as a person
reads it, every result reachable through the pager, stacked rows on a phone, and axe-core clean."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.ui.browser_kit import (
    DESKTOP,
    PHONE,
    WAIT_MS,
    axe_violations,
    describe,
    open_page,
    shoot,
    sign_in,
    wider_than_viewport,
)

# The demo's dragon books at grade 1.0–1.5, which "level 1 to 2" used to leave out.
EARLY_GRADE_1_DRAGONS = {
    "Scorch #4: The Stormy Mountain",
    "Pip the Dragon #2: The Stormy Mountain",
    "Scorch #5: The Sky Castle",
    "Pip the Dragon and the Hidden Cave",
    "The Hidden Cave",
}
CATALOG_SIZE = 300
# WCAG 2.2 target size (minimum).
TOUCH = 24


def _open_catalog(page: Any) -> None:
    """Signed in, through the menu as a person goes there (a collapsed phone menu is opened first)."""
    page.wait_for_url("**/ui/overview")
    link = page.get_by_role("link", name="Catalog", exact=True)
    if not link.is_visible():
        page.get_by_role("button", name=re.compile("menu", re.IGNORECASE)).first.click()
    link.click()
    page.wait_for_url("**/ui/catalog")
    expect(page.get_by_text(f"of {CATALOG_SIZE} books")).to_be_visible()


def _search(page: Any, text: str, level_from: str = "", level_to: str = "") -> str:
    """Search as typed, then wait for the pager to count the new results; returns its label."""
    pager = _pager_label(page)
    before = pager.text_content()
    page.get_by_label("Search the catalog").fill(text)
    page.get_by_test_id("level-from").fill(level_from)
    page.get_by_test_id("level-to").fill(level_to)
    page.get_by_role("button", name="Search", exact=True).click()
    expect(pager).not_to_have_text(before, timeout=WAIT_MS)
    return pager.text_content()


def _pager_label(page: Any) -> Any:
    """The pager's "1–20 of 33 books" (the live region a screen reader announces)."""
    return page.get_by_role("navigation", name="books pages").locator("[aria-live]")


def _every_page(page: Any) -> list[tuple[str, str]]:
    """(title, level) of every result, clicking Next until the pager says the last is shown."""
    rows: list[tuple[str, str]] = []
    pager = _pager_label(page)
    while True:
        label = pager.text_content()
        titles = page.locator(".catalog-hit").all_inner_texts()
        levels = page.locator("td.cell-level").all_inner_texts()
        rows += list(zip(titles, levels, strict=True))
        shown = re.search(r"(\d+)–(\d+) of (\d+)", label)
        if shown is None or shown[2] == shown[3]:
            return rows
        page.get_by_role("button", name="Next page of books").click()
        expect(pager).not_to_have_text(label, timeout=WAIT_MS)


def _no_blocking_violations(page: Any, name: str) -> None:
    shoot(page, name)
    violations = axe_violations(page)
    assert not violations, f"{name}:\n{describe(violations)}"


def test_level_one_to_two_finds_every_dragon_book_of_grades_one_and_two(server: str, browser: object) -> None:
    page = open_page(browser, server, DESKTOP)
    sign_in(page)
    _open_catalog(page)
    # Browsing (no words) shows levels as the search does: "grade 2.9", not a bare 2.9.
    browsed = page.locator("td.cell-level").all_inner_texts()
    assert browsed and all(level.startswith("grade ") for level in browsed if level)
    _no_blocking_violations(page, "catalog-browse-desktop")

    label = _search(page, "dragons", "1", "2")
    rows = _every_page(page)
    assert re.search(rf"of {len(rows)} books", label), label
    titles = {title for title, _ in rows}
    assert titles >= EARLY_GRADE_1_DRAGONS, sorted(EARLY_GRADE_1_DRAGONS - titles)
    assert all(re.fullmatch(r"grade [12]\.\d", level) for _, level in rows), rows

    _no_blocking_violations(page, "catalog-search-desktop")
    page.locator(".catalog-hit").first.click()
    page.get_by_text("Similar books").wait_for()
    _no_blocking_violations(page, "book-desktop")


def test_every_dragon_book_is_reachable_through_the_pager(server: str, browser: object) -> None:
    page = open_page(browser, server, DESKTOP)
    sign_in(page)
    _open_catalog(page)
    page.get_by_label("Tag").fill("dragons")
    label = _search(page, "")
    assert "1–20 of 33 books" in label
    assert len({title for title, _ in _every_page(page)}) == 33


@pytest.mark.parametrize("viewport", [PHONE], ids=["phone"])
def test_the_catalog_on_a_phone(server: str, browser: object, viewport: dict[str, int]) -> None:
    page = open_page(browser, server, viewport)
    sign_in(page)
    _open_catalog(page)
    _search(page, "dragons", "1", "2")
    assert wider_than_viewport(page) == []
    targets = (
        page.locator(".catalog-hit").all()
        + page.get_by_role("navigation", name="books pages").get_by_role("button").all()
    )
    small = [box for box in (target.bounding_box() for target in targets) if box["height"] < TOUCH]
    assert not small, small
    _no_blocking_violations(page, "catalog-phone")
    page.locator(".catalog-hit").first.click()
    page.get_by_text("Similar books").wait_for()
    assert wider_than_viewport(page) == []
    _no_blocking_violations(page, "book-phone")
