"""The sign-in page in Debian's Chromium: a deep link survives signing in, and a lockout after repeated
wrong passwords holds across two ``nextread serve`` processes that share a real Redis, as in production."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import REDIS_URL
from tests.ui.browser_kit import axe_violations, describe, open_page, serve, shoot, sign_in
from tests.ui.conftest import LIBRARIAN, STUDENT

LOCKED = "Too many attempts; try again in 1 minute."


def test_a_deep_link_opened_signed_out_is_where_sign_in_lands(server: str, browser: Any) -> None:
    page = open_page(browser, server)
    page.goto("/ui/students/st-001")
    page.wait_for_url("**/ui/login?next=/ui/students/st-001")
    sign_in(page, *LIBRARIAN)
    page.wait_for_url("**/ui/students/st-001")
    page.get_by_role("heading", name="Ethan J.").wait_for()
    page.context.close()


def test_sign_in_never_leads_off_the_dashboard(server: str, browser: Any) -> None:
    page = open_page(browser, server)
    page.goto("/ui/login?next=https://evil.example/ui/x")
    sign_in(page, *STUDENT[:2])
    page.wait_for_url(f"**/ui/read/{STUDENT[2]}")
    assert page.url.startswith(server)
    page.context.close()


def _attempt(page: Any, username: str, password: str, expect: str) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_role("alert").filter(has_text=expect).wait_for()


def test_a_lockout_on_one_server_holds_on_another_sharing_redis(
    demo_school: Path, tmp_path: Path, browser: Any, redis_prefix: str
) -> None:
    shared = {"NEXTREAD_CACHE_URL": REDIS_URL, "NEXTREAD_CACHE_KEY_PREFIX": redis_prefix}
    with (
        serve(demo_school, tmp_path / "a", **shared) as first,
        serve(demo_school, tmp_path / "b", **shared) as second,
    ):
        page = open_page(browser, first)
        page.goto("/ui/login")
        for _ in range(4):
            _attempt(page, LIBRARIAN[0], "a-wrong-guess", "That did not match an account or key.")
        _attempt(page, LIBRARIAN[0], "a-wrong-guess", LOCKED)
        _attempt(page, LIBRARIAN[0], LIBRARIAN[1], LOCKED)
        shoot(page, "sign-in-locked")
        assert not (violations := axe_violations(page)), describe(violations)
        elsewhere = open_page(browser, second)
        elsewhere.goto("/ui/login")
        _attempt(elsewhere, LIBRARIAN[0], LIBRARIAN[1], LOCKED)
        assert "/ui/login" in elsewhere.url
        sign_in(elsewhere, *STUDENT[:2])  # only that username is locked
        elsewhere.wait_for_url(f"**/ui/read/{STUDENT[2]}")
