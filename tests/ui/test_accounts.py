"""Accounts in real Chromium: an admin creates a teacher for one class and disables accounts from the
accounts list; the teacher sees only their class and its students; axe-core finds nothing critical or
serious on the settings page at desktop and phone width."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.ui.browser_kit import (
    DESKTOP,
    PHONE,
    axe_violations,
    describe,
    menu_entry,
    open_page,
    shoot,
    sign_in,
)

TEACHER = ("ms-hill", "apples-and-chalk")
CLASS, OTHER_CLASS, OTHER_STUDENT = "Mr. Okafor's 1st Grade", "Ms. Lee's Kindergarten", "st-001"


def _settings(page: Any) -> None:
    """Signed in as admin, through the menu to the settings page's accounts list."""
    sign_in(page)
    page.wait_for_url("**/ui/overview")
    menu_entry(page, "Settings").click()
    page.get_by_role("button", name="Create account").wait_for()


def _create_teacher(page: Any) -> None:
    page.get_by_label("Username").fill(TEACHER[0])
    page.get_by_label("Password (8+ characters)").fill(TEACHER[1])
    page.get_by_label("Role").click()
    page.get_by_role("option", name="teacher").click()
    page.get_by_label("Classes taught").click()
    page.get_by_role("option", name=CLASS).click()
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_test_id(f"account-row-{TEACHER[0]}")).to_contain_text(CLASS)


def _disable(page: Any, username: str) -> None:
    page.get_by_role("button", name=f"Disable {username}").click()
    dialog = page.get_by_role("dialog", name=f"Disable the account {username}?")
    expect(dialog).to_contain_text("signed out on its next click")
    shoot(page, "settings-disable-dialog-desktop")
    assert axe_violations(page) == [], describe(axe_violations(page))
    dialog.get_by_role("button", name="Disable", exact=True).click()
    expect(page.get_by_text(f"Account {username} disabled")).to_be_visible()
    expect(page.get_by_test_id(f"account-row-{username}")).to_contain_text("disabled")


def _assign(page: Any, username: str, another: str) -> None:
    """Adds a class to a teacher's through the row's Classes dialog."""
    page.get_by_role("button", name=f"Classes {username} teaches").click()
    dialog = page.get_by_role("dialog", name=f"Classes {username} teaches")
    dialog.get_by_label("Classes taught").click()
    page.get_by_role("option", name=another).click()
    page.keyboard.press("Escape")
    # Quasar's open option menu itself fails aria-required-children; the dialog at rest is checked.
    expect(page.get_by_role("listbox")).to_have_count(0)
    assert axe_violations(page) == [], describe(axe_violations(page))
    dialog.get_by_role("button", name="Save classes").click()
    expect(page.get_by_test_id(f"account-row-{username}")).to_contain_text(another)


def test_a_teacher_sees_their_class_only_until_an_admin_disables_them(server: str, browser: object) -> None:
    admin = open_page(browser, server)
    _settings(admin)
    _create_teacher(admin)
    violations = axe_violations(admin)
    shoot(admin, "settings-accounts-desktop")
    assert violations == [], describe(violations)

    teacher = open_page(browser, server)
    sign_in(teacher, *TEACHER)
    teacher.wait_for_url("**/ui/overview")
    nav = teacher.get_by_role("navigation", name="Main")
    assert (
        nav.get_by_role("link", name="Import").count()
        == nav.get_by_role("link", name="Settings").count()
        == 0
    )
    nav.get_by_role("link", name="Classes").click()
    classes = teacher.locator(".class-link")
    expect(classes).to_have_text([CLASS])
    nav.get_by_role("link", name="Students").click()
    teacher.locator(".student-link").first.wait_for()
    shoot(teacher, "students-teacher-desktop")
    in_class = teacher.locator("tbody tr td:nth-child(4)").all_inner_texts()
    assert in_class and set(in_class) == {CLASS}
    teacher.get_by_label("Search students").fill("Ethan")  # Ethan J. is in another class
    expect(teacher.locator(".student-link")).to_have_count(0)
    teacher.get_by_label("Search students").fill("")
    teacher.locator(".student-link").first.click()
    teacher.locator(".rec-title").first.wait_for()
    # A colleague's link to a student of another class: the address answers, the page does not.
    refused = teacher.goto(f"/ui/students/{OTHER_STUDENT}")
    assert refused is not None and refused.status == 403
    expect(teacher.get_by_role("heading", name="Not allowed")).to_be_visible()
    shoot(teacher, "student-refused-teacher-desktop")

    _assign(admin, TEACHER[0], OTHER_CLASS)
    teacher.get_by_role("link", name="Go to your page").click()
    teacher.get_by_role("navigation", name="Main").get_by_role("link", name="Students").click()
    teacher.get_by_label("Search students").fill("Ethan")  # his class is now one of hers
    teacher.locator(".student-link", has_text="Ethan J.").click()
    teacher.wait_for_url(f"**/ui/students/{OTHER_STUDENT}")
    teacher.locator(".rec-title").first.wait_for()

    _disable(admin, TEACHER[0])
    # The next click after being disabled asks for sign-in.
    teacher.get_by_role("navigation", name="Main").get_by_role("link", name="Classes").click()
    teacher.wait_for_url("**/ui/login**")
    sign_in(teacher, *TEACHER)
    expect(teacher.get_by_text("That did not match an account or key.")).to_be_visible()
    assert "/ui/login" in teacher.url


def test_settings_accounts_list_passes_axe_on_a_phone(server: str, browser: object) -> None:
    for viewport, name in ((PHONE, "phone"), (DESKTOP, "desktop")):
        page = open_page(browser, server, viewport)
        _settings(page)
        page.get_by_role("button", name="Disable libby").wait_for()
        violations = axe_violations(page)
        shoot(page, f"settings-accounts-{name}")
        assert violations == [], describe(violations)
