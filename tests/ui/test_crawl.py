"""A crawler signs in as the admin, opens every dashboard page it can reach by links, and fails on any link
that answers 4xx/5xx, including links NiceGUI builds in the browser (which a typed address never tests)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urljoin, urlparse

from tests.ui.browser_kit import open_page, sign_in

# One page per kind of address is opened in the browser (every book page looks alike); every link found
# is still requested.
KIND = re.compile(r"/(catalog|students|classes|read)/[^/?]+")
MAX_PAGES = 40


def _links(page: Any, base: str) -> set[str]:
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    return {h.split("#")[0] for h in hrefs if h.startswith(base) and not h.startswith(base + "/docs")}


def _settled_links(page: Any, base: str, seconds: float = 20.0) -> set[str]:
    """The page's links once they stop changing. Tables and cards arrive over the websocket after the
    page has loaded, which "networkidle" does not wait for (read then, every table's links were missed);
    a table says "No data available" and a spinner turns until they have come."""
    seen, steady = _links(page, base), 0
    for _ in range(int(seconds / 0.4)):
        page.wait_for_timeout(400)
        now = _links(page, base)
        waiting = page.locator(".q-table__bottom--nodata, .q-spinner, .q-skeleton").count()
        steady = steady + 1 if now == seen and not waiting else 0
        seen = now
        if steady >= 3:
            break
    return seen


def _kind(address: str) -> str:
    path = urlparse(address).path
    return KIND.sub(lambda m: f"/{m.group(1)}/*", path)


def test_every_link_an_admin_can_reach_answers(server: str, browser: Any) -> None:
    page = open_page(browser, server)
    sign_in(page)
    page.wait_for_url("**/ui/overview")
    to_open, opened_kinds, checked, broken = [page.url], set(), {}, []
    while to_open and len(opened_kinds) < MAX_PAGES:
        address = to_open.pop(0)
        if _kind(address) in opened_kinds:
            continue
        opened_kinds.add(_kind(address))
        page.goto(address)
        page.wait_for_load_state("networkidle")
        assert "/ui/login" not in page.url, f"the crawler was signed out before {address}"
        for link in sorted(_settled_links(page, server)):
            if link.endswith("/logout"):
                continue  # requested last: requesting it signs the crawler out
            if link not in checked:
                checked[link] = page.request.get(link).status
                if checked[link] >= 400:
                    broken.append(f"{link} ({checked[link]}) on {address}")
            if _kind(link) not in opened_kinds:
                to_open.append(urljoin(server, link))
    print(f"crawler: {len(opened_kinds)} kinds of page opened, {len(checked)} links requested")
    print("\n".join(sorted(opened_kinds)))
    assert not broken, "broken links:\n" + "\n".join(broken)
    signed_out = page.request.get(server + "/ui/logout")
    assert signed_out.ok and signed_out.url.endswith("/ui/login")
    assert {
        "/ui/overview",
        "/ui/students",
        "/ui/students/*",
        "/ui/classes",
        "/ui/classes/*",
        "/ui/catalog",
        "/ui/catalog/*",
        "/ui/read/*",
    } <= opened_kinds
