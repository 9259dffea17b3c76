"""The student page as a 6–11-year-old uses it on a shared tablet, in Debian's Chromium: pressing the
buttons with a finger and with the keyboard, hearing where a book went, finding it in "My books",
asking for more books; big buttons with readable colours; no sideways scrolling on a phone; axe-core
clean for the student and for the staff who open the page. Screenshots go to artifacts/screenshots."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.ui.browser_kit import (
    DESKTOP,
    PHONE,
    axe_violations,
    describe,
    open_page,
    shoot,
    sign_in,
    wider_than_viewport,
)
from tests.ui.conftest import ADMIN_KEY, READ_KEY, STUDENT

MIN_TARGET_PX = 44
MIN_CONTRAST = 4.5
# Each button's size and the contrast of its text on its own background, as the browser paints them.
MEASURE_BUTTONS = """() => {
  const channel = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const rgb = css => css.match(/[\\d.]+/g).map(Number);
  const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const background = el => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c;
    }
    return [255, 255, 255];
  };
  return [...document.querySelectorAll('button, a.big-link')].filter(el => el.offsetParent).map(el => {
    const box = el.getBoundingClientRect();
    const [fg, bg] = [luminance(rgb(getComputedStyle(el).color)), luminance(background(el))];
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    return {name: (el.getAttribute('data-action') || el.innerText).trim().split('\\n').pop(),
            width: Math.round(box.width), height: Math.round(box.height),
            contrast: Math.round(ratio * 100) / 100};
  });
}"""
# The colour a button is painted with, read back from a screenshot of it (Quasar lays a translucent
# layer over a focused or hovered button, which no computed style shows): a pixel left of the icon.
PAINTED = """async (png) => {
  const img = new Image();
  img.src = 'data:image/png;base64,' + png;
  await img.decode();
  const canvas = Object.assign(document.createElement('canvas'), {width: img.width, height: img.height});
  const context = canvas.getContext('2d');
  context.drawImage(img, 0, 0);
  const [r, g, b] = context.getImageData(8, Math.floor(img.height / 2), 1, 1).data;
  const channel = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const l = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  return Math.round(105 / (l * 100 + 5) * 100) / 100;  // against its white text
}"""
FOCUS_RING = """() => {
  const el = document.activeElement, style = getComputedStyle(el);
  return {visible: el.matches(':focus-visible'), style: style.outlineStyle,
          width: parseFloat(style.outlineWidth), action: el.getAttribute('data-action'),
          item: el.closest('[data-item]')?.getAttribute('data-item')};
}"""


def _as_student(browser: Any, server: str, viewport: dict[str, int] = DESKTOP) -> Any:
    page = open_page(browser, server, viewport)
    sign_in(page, STUDENT[0], STUDENT[1])
    page.wait_for_url(f"**/ui/read/{STUDENT[2]}")
    page.locator("[data-item]").first.wait_for()
    return page


def _as_staff(browser: Any, server: str, key: str, viewport: dict[str, int] = DESKTOP) -> Any:
    """Signed in with an API key, from the student's staff page to their own page by its link."""
    page = open_page(browser, server, viewport)
    sign_in(page, key=key)
    page.wait_for_url("**/ui/overview")
    page.goto(f"/ui/students/{STUDENT[2]}")
    page.get_by_role("link", name="Open the student's own page").click()
    page.wait_for_url(f"**/ui/read/{STUDENT[2]}")
    page.locator("[data-item]").first.wait_for()
    return page


def _open(browser: Any, server: str, who: str, viewport: dict[str, int]) -> Any:
    if who == "student":
        return _as_student(browser, server, viewport)
    return _as_staff(browser, server, ADMIN_KEY, viewport)


def _ids(page: Any) -> list[str]:
    return [card.get_attribute("data-item") for card in page.locator("[data-item]").all()]


def _focus_settles(page: Any, action: str, position: int | None = None) -> dict[str, Any]:
    """Where focus is once the page has moved it: on ``action``'s button, and with ``position``, in the
    card now at that place (the pressed button itself stays focused until the new list is drawn)."""
    card = (
        ""
        if position is None
        else f" && el.closest('[data-item]') === document.querySelectorAll('[data-item]')[{position}]"
    )
    page.wait_for_function(
        f"(() => {{ const el = document.activeElement;"
        f" return el?.getAttribute('data-action') === '{action}'{card}; }})()"
    )
    return page.evaluate(FOCUS_RING)


def test_like_by_keyboard_says_where_the_book_went_and_keeps_the_place(server: str, browser: Any) -> None:
    page = _as_student(browser, server)
    before = _ids(page)
    title = page.locator("[data-item] .book-title").nth(1).inner_text()
    page.locator("[data-item]").nth(1).locator("[data-action=save]").focus()
    page.keyboard.press("Tab")  # from "I want to read this" to "Like", as a child tabbing along
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text="Added to your liked books")).to_contain_text(title)
    expect(page.get_by_test_id("liked-books")).to_contain_text(title)
    assert before[1] not in _ids(page)
    # The book that moved into the liked book's place, not the top of the page.
    ring = _focus_settles(page, "like", position=1)
    assert ring["item"] == _ids(page)[1], ring
    assert ring["visible"] and ring["style"] == "solid" and ring["width"] >= 2, ring
    shoot(page, "student-liked-keyboard-desktop")
    second = _ids(page)[1]
    page.keyboard.press("Enter")  # the next book, straight away, without finding the place again
    expect(page.get_by_role("status")).not_to_contain_text(title)
    expect(page.locator(f"[data-item='{second}']")).to_have_count(0)  # liked: gone from the list
    assert _focus_settles(page, "like", position=1)["item"] == _ids(page)[1]
    page.context.close()


def _reasons_cite_other_books_with_one_stop(page: Any) -> None:
    for card in page.locator("[data-item]").all():
        title, reason = card.locator(".book-title").inner_text(), card.locator(".book-reason").inner_text()
        assert title not in reason, reason
        assert not reason.endswith(("..", "!.", "?.")), reason


def test_saved_and_shared_books_never_give_themselves_as_reason(server: str, browser: Any) -> None:
    page = _as_student(browser, server)
    card = page.locator("[data-item]").first
    saved = card.locator(".book-title").inner_text()
    card.locator("[data-action=save]").click()
    expect(page.get_by_role("status")).to_contain_text(f"Saved to your books to read: {saved}")
    expect(page.get_by_test_id("saved-books")).to_contain_text(saved)
    _reasons_cite_other_books_with_one_stop(page)
    card = page.locator("[data-item]").nth(2)
    book, title = card.get_attribute("data-item"), card.locator(".book-title").inner_text()
    card.locator("[data-action=share]").click()
    expect(page.get_by_role("status")).to_contain_text(f"Shared with your class: {title}")
    ring = _focus_settles(page, "share")
    assert ring["item"] == (book if book in _ids(page) else _ids(page)[2]), ring
    _reasons_cite_other_books_with_one_stop(page)
    shoot(page, "student-saved-desktop")
    page.reload()  # the shelf is stored, not only shown in this tab
    expect(page.get_by_test_id("saved-books")).to_contain_text(saved)
    page.context.close()


def test_show_more_books_adds_the_next_ones_and_moves_the_keyboard_there(server: str, browser: Any) -> None:
    page = _as_student(browser, server)
    first = _ids(page)
    assert len(first) == 8
    page.get_by_test_id("show-more").focus()
    page.keyboard.press("Enter")
    expect(page.locator("[data-item]")).to_have_count(16)
    assert _ids(page)[:8] == first
    assert len(set(_ids(page))) == 16
    ring = _focus_settles(page, "save")
    assert ring["item"] == _ids(page)[8] and ring["visible"], ring
    expect(page.get_by_role("status")).to_contain_text("8 more books")
    page.context.close()


@pytest.mark.parametrize(("who", "viewport"), [("student", DESKTOP), ("admin", PHONE)])
def test_buttons_are_big_with_readable_colours(server: str, browser: Any, who: str, viewport: dict) -> None:
    page = _open(browser, server, who, viewport)
    measured = page.evaluate(MEASURE_BUTTONS)
    by_name = {}
    for button in measured:
        by_name.setdefault(button["name"], button)
    print(f"student page buttons ({who}, {viewport['width']} px):", by_name)
    assert {"save", "like", "dismiss", "share", "Show more books", "Sign out"} <= set(by_name)
    small = [b for b in measured if b["width"] < MIN_TARGET_PX or b["height"] < MIN_TARGET_PX]
    faint = [b for b in measured if b["contrast"] < MIN_CONTRAST]
    assert not small, small
    assert not faint, faint
    page.context.close()


def test_focused_and_hovered_buttons_keep_their_contrast(server: str, browser: Any) -> None:
    page = _as_student(browser, server)
    card = page.locator("[data-item]").first
    painted = {}
    for action in ("save", "like", "dismiss", "share"):
        button = card.locator(f"[data-action={action}]")
        button.hover()
        button.focus()
        page.wait_for_timeout(800)  # Quasar fades the layer in
        png = base64.b64encode(button.screenshot(animations="disabled")).decode()
        painted[action] = page.evaluate(PAINTED, png)
    print("focused and hovered buttons:", painted)
    assert all(ratio >= MIN_CONTRAST for ratio in painted.values()), painted
    page.context.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1440", "390"])
@pytest.mark.parametrize("who", ["student", "admin"])
def test_axe_finds_nothing_serious(server: str, browser: Any, who: str, viewport: dict) -> None:
    page = _open(browser, server, who, viewport)
    page.wait_for_timeout(500)
    violations = axe_violations(page)
    shoot(page, f"student-page-{who}-{viewport['width']}")
    assert violations == [], describe(violations)
    if viewport == PHONE:
        assert wider_than_viewport(page) == []
        lefts = {round(card.bounding_box()["x"]) for card in page.locator("[data-item]").all()}
        assert len(lefts) == 1, f"cards do not stack on a phone: {lefts}"
    page.context.close()


def test_read_only_key_sees_no_buttons_that_would_fail(server: str, browser: Any) -> None:
    page = _as_staff(browser, server, READ_KEY)
    expect(page.get_by_test_id("read-only-note")).to_contain_text("read-only")
    assert page.locator("[data-action]").count() == 0
    expect(page.get_by_test_id("show-more")).to_be_visible()  # looking is still allowed
    violations = axe_violations(page)
    shoot(page, "student-page-read-only-desktop")
    assert violations == [], describe(violations)
    page.context.close()


def test_on_a_phone_a_tapped_like_is_announced_within_the_screen(server: str, browser: Any) -> None:
    page = _as_student(browser, server, PHONE)
    card = page.locator("[data-item]").nth(3)
    title = card.locator(".book-title").inner_text()
    card.locator("[data-action=like]").click()
    status = page.get_by_role("status").filter(has_text="Added to your liked books")
    expect(status).to_contain_text(title)
    expect(page.get_by_test_id("liked-books")).to_contain_text(title)
    box = status.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    assert wider_than_viewport(page) == []
    shoot(page, "student-liked-phone")
    page.context.close()
