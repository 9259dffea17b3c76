"""End to end in real headless Chromium against a real ``nextread serve`` with the demo school.

Screenshots of every page at desktop and 390-px phone width go to ``artifacts/screenshots/``
(git-ignored). Without /usr/bin/chromium the tests skip locally and fail with CI=true."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.ui.browser_kit import PHONE, WAIT_MS, open_page, shoot, sign_in
from tests.ui.conftest import STUDENT

# The goal is under a second; the bound leaves room for a loaded shared CI machine.
UPDATE_SECONDS = 3.0


def _titles(page, selector: str) -> list[str]:  # type: ignore[no-untyped-def]
    return page.locator(selector).all_inner_texts()


def test_librarian_journey(server: str, browser: object, tmp_path: Path) -> None:
    page = open_page(browser, server)
    sign_in(page)
    page.wait_for_url("**/ui/overview")
    page.get_by_text("Active students (30 days)").wait_for()
    shoot(page, "overview-desktop")

    page.goto("/ui/catalog")
    page.locator(".catalog-hit").first.wait_for()  # the catalog by title, before any search
    page.get_by_label("Search the catalog").fill("glass slipper")
    page.get_by_role("button", name="Search").click()
    # A title far down the alphabet: only the search itself can put it first. The first search loads
    # the embedding model, which under a full test run's load takes longer than expect's 5 s default.
    expect(page.locator(".catalog-hit").first).to_have_text("Where Is the Glass Slipper?", timeout=WAIT_MS)
    shoot(page, "catalog-desktop")
    page.locator(".catalog-hit").first.click()
    page.get_by_text("Similar books").wait_for()
    page.locator(".similar-book").first.wait_for()
    shoot(page, "book-desktop")

    page.goto("/ui/students")
    page.get_by_label("Search students").fill("Ethan")
    page.locator(".student-link", has_text="Ethan J.").click()
    page.wait_for_url("**/ui/students/st-001")
    page.locator(".rec-title").first.wait_for()
    before = _titles(page, ".rec-title")
    page.get_by_text("Weights (try them out").click()
    # Keyboard, not mouse. Focus only once the expansion has finished opening: focused mid-animation,
    # the keys went nowhere on a loaded machine and the slider stayed at 0.50.
    track = page.get_by_test_id("weight-cf").locator(".q-slider__track-container")
    track.wait_for(state="visible")
    expect(track).to_be_in_viewport()
    track.focus()
    expect(track).to_be_focused()
    for _ in range(10):
        page.keyboard.press("ArrowLeft")
    expect(page.get_by_test_id("weight-cf")).to_have_attribute("aria-valuenow", "0")
    page.wait_for_function(
        "before => JSON.stringify([...document.querySelectorAll('.rec-title')].map(e => e.innerText))"
        " !== JSON.stringify(before)",
        arg=before,
    )
    assert _titles(page, ".rec-title") != before
    shoot(page, "student-staff-desktop")

    page.goto("/ui/classes")
    page.locator(".class-link").first.click()
    page.locator(".class-book").first.wait_for()
    checks = page.get_by_role("checkbox")
    checks.nth(0).click()
    checks.nth(1).click()
    chosen = _titles(page, ".class-book")[:2]
    shoot(page, "class-desktop")
    page.get_by_test_id("print-list").click()
    page.get_by_test_id("reading-list").wait_for()
    listed = " ".join(_titles(page, ".reading-list-item"))
    assert all(title in listed for title in chosen)
    page.emulate_media(media="print")
    assert not page.locator(".q-header").is_visible()
    page.emulate_media(media="screen")
    shoot(page, "reading-list-desktop")

    bad = tmp_path / "books.csv"
    bad.write_text(
        "id,title,lexile\nnew-1,A Good Book,500\nnew-2,,400\nnew-3,Another Good Book,not-a-number\n",
        encoding="utf-8",
    )
    page.goto("/ui/import")
    page.get_by_label("File to import").set_input_files(str(bad))
    page.get_by_test_id("import-preview").wait_for()
    page.get_by_role("button", name="Import 1 record").click()
    expect(page.get_by_test_id("import-status")).to_contain_text("imported 1")
    status = page.get_by_test_id("import-status").inner_text()
    assert "imported 1" in status and "rejected 2" in status
    report = page.get_by_test_id("import-errors").inner_text()
    assert "title" in report and "lexile" in report
    shoot(page, "import-desktop")

    page.goto("/ui/settings")
    page.get_by_test_id("save-settings").wait_for()
    shoot(page, "settings-desktop")


def test_student_likes_a_book_and_the_list_updates(server: str, browser: object) -> None:
    page = open_page(browser, server)
    sign_in(page, STUDENT[0], STUDENT[1])
    page.wait_for_url(f"**/ui/read/{STUDENT[2]}")
    cards = page.locator("[data-item]")
    cards.first.wait_for()
    first = cards.first.get_attribute("data-item")
    assert page.locator("img:not([alt])").count() == 0
    shoot(page, "student-page-desktop")
    started = time.monotonic()
    cards.first.locator("[data-action=like]").click()
    page.wait_for_function("id => !document.querySelector(`[data-item='${id}']`)", arg=first)
    elapsed = time.monotonic() - started
    print(f"student page: Like to updated list in {elapsed:.2f} s")
    assert elapsed < UPDATE_SECONDS
    page.get_by_text("You liked it").wait_for()
    # Keyboard only: focus the next card's "I want to read this" and press Enter.
    cards.first.locator("[data-action=save]").focus()
    page.keyboard.press("Enter")
    page.get_by_text("Saved for later").first.wait_for()
    page.goto("/ui/students")
    assert "Not allowed" in page.content()
    page.goto("/ui/read/st-002")
    assert "Not allowed" in page.content()


@pytest.fixture(scope="module")
def phone(server: str, browser: object):  # type: ignore[no-untyped-def]
    """One signed-in phone-sized page for all the phone screenshots (sign-in is not what they test)."""
    page = open_page(browser, server, PHONE)
    sign_in(page)
    page.wait_for_url("**/ui/overview")
    yield page
    page.context.close()


@pytest.mark.parametrize(
    "path",
    [
        "/ui/overview",
        "/ui/students",
        "/ui/students/st-001",
        "/ui/classes",
        "/ui/catalog",
        "/ui/import",
        "/ui/settings",
        "/ui/read/st-001",
    ],
)
def test_phone_width_screenshots(phone, path: str) -> None:  # type: ignore[no-untyped-def]
    phone.goto(path)
    phone.wait_for_load_state("networkidle")
    phone.wait_for_timeout(1000)
    width = phone.evaluate("document.documentElement.scrollWidth")
    shoot(phone, "phone" + path.replace("/", "-"))
    assert width <= PHONE["width"] + 40, f"{path} scrolls sideways on a phone ({width}px)"


def test_api_docs_render_with_no_network(server: str, browser: object) -> None:
    """Every request the docs page makes outside this server is refused, as it would fail offline."""
    page = open_page(browser, server)
    elsewhere: list[str] = []

    def this_server_only(route) -> None:  # type: ignore[no-untyped-def]
        if route.request.url.startswith(server + "/"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", this_server_only)
    page.goto("/docs")
    page.locator(".opblock").first.wait_for()
    assert page.locator(".opblock").count() >= 20, "the API's operations are listed"
    expect(page.get_by_text("/v1/items/{item_id}").first).to_be_visible()
    shoot(page, "api-docs")
    assert elsewhere == []
    page.context.close()
