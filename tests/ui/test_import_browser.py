"""The Import page in real Chromium, used as a librarian does: pick a file, read the preview, cancel,
pick again, confirm, then find the imported book in the catalog by clicking. axe-core and the phone
width are checked on the page as it is before a pick and with a preview showing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.ui.browser_kit import (
    PHONE,
    WAIT_MS,
    axe_violations,
    describe,
    open_page,
    shoot,
    sign_in,
    wider_than_viewport,
)
from tests.ui.test_imports import goodbooks_slice


def accessible(page: Any) -> None:
    violations = axe_violations(page)
    assert not violations, describe(violations)


def test_preview_cancel_then_confirm_and_find_the_book(server: str, browser: Any, tmp_path: Path) -> None:
    books = goodbooks_slice(tmp_path / "books.csv")  # the first five rows of goodbooks-10k
    page = open_page(browser, server)
    sign_in(page)
    page.wait_for_url("**/ui/overview")
    page.get_by_role("link", name="Import", exact=True).click()
    page.wait_for_url("**/ui/import")
    page.get_by_label("File to import").wait_for()
    accessible(page)

    page.get_by_label("File to import").set_input_files(str(books))
    problem = page.get_by_test_id("import-problem")
    expect(problem).to_contain_text("Could not read books.csv (line 1): missing required column")
    assert "/uploads/" not in problem.inner_text() and "upload.csv" not in problem.inner_text()
    page.get_by_role("button", name="Use the goodbooks mapping").click()
    preview = page.get_by_test_id("import-preview")
    expect(preview.get_by_test_id("preview-new")).to_have_text("5 new")
    expect(preview.get_by_test_id("preview-columns")).to_contain_text("book_id → id")
    expect(preview.get_by_test_id("preview-sample")).to_contain_text("series_name: The Hunger Games")
    shoot(page, "import-preview-desktop")
    accessible(page)

    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_test_id("import-status")).to_have_text("Cancelled: nothing from books.csv was stored.")
    expect(preview).to_have_count(0)

    page.get_by_label("File to import").set_input_files(str(books))
    expect(preview.get_by_test_id("preview-new")).to_have_text("5 new")  # the cancel stored nothing
    page.get_by_role("button", name="Import 5 records").click()
    expect(page.get_by_test_id("import-status")).to_contain_text("imported 5")
    shoot(page, "import-done-desktop")

    page.get_by_role("link", name="Catalog", exact=True).click()
    page.locator(".catalog-hit").first.wait_for()  # the catalog by title: the page is live
    page.get_by_label("Search the catalog").fill("Hunger Games")
    page.get_by_role("button", name="Search").click()
    hit = page.locator(".catalog-hit", has_text="The Hunger Games (The Hunger Games, #1)")
    hit.first.click(timeout=WAIT_MS * 2)  # the first search loads the embedding model
    page.wait_for_url("**/ui/catalog/1")
    expect(page.get_by_text("Suzanne Collins").first).to_be_visible()
    shoot(page, "import-book-desktop")
    page.context.close()


def test_import_page_on_a_phone_is_accessible_and_fits(server: str, browser: Any, tmp_path: Path) -> None:
    bad = tmp_path / "new books.txt"
    bad.write_text(
        "id\ttitle\tlexile\nph-1\tA Book With A Rather Long Title For A Small Phone Screen\t500\n"
        "ph-2\t\t400\nph-3\tAnother\tnot-a-number-at-all-which-is-a-rather-long-cell-value\n",
        encoding="utf-8",
    )
    page = open_page(browser, server, PHONE)
    sign_in(page)
    page.wait_for_url("**/ui/overview")
    page.goto("/ui/import")
    page.get_by_label("File to import").wait_for()
    page.wait_for_load_state("networkidle")
    assert wider_than_viewport(page) == []
    accessible(page)

    page.get_by_label("File to import").set_input_files(str(bad))
    preview = page.get_by_test_id("import-preview")
    expect(preview.get_by_test_id("preview-rejected")).to_have_text("2 rejected")
    expect(page.get_by_test_id("import-errors")).to_contain_text("Line 3 · title")
    shoot(page, "phone-import-preview")
    assert wider_than_viewport(page) == []
    accessible(page)
    page.context.close()
