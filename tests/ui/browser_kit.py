"""What every browser test shares: Debian's Chromium driven by Playwright against a real ``nextread serve``,
signing in as a person would, screenshots to look at, and axe-core's accessibility check.

axe-core comes from the npm registry (``tests/ui/axe``, installed by ``scripts/test.sh``) and is injected
into the page under test; nothing is fetched at test time."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.ui.conftest import ADMIN_KEY

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
DESKTOP, PHONE = {"width": 1440, "height": 900}, {"width": 390, "height": 844}
WAIT_MS = 20_000
# What a page must never have: axe's two worst impact levels.
BLOCKING = ("critical", "serious")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(demo_school: Path, work_dir: Path, **env_overrides: str) -> Iterator[str]:
    """A copy of the demo school served by ``nextread serve`` on a free port; yields its base address."""
    data_dir = work_dir / "school"
    shutil.copytree(demo_school, data_dir)
    port = free_port()
    env = {
        **os.environ,
        "NEXTREAD_DATA_DIR": str(data_dir),
        "NEXTREAD_ADMIN_API_KEY": ADMIN_KEY,
        "NEXTREAD_LOG_LEVEL": "WARNING",
        "NEXTREAD_SCHEDULER_ENABLED": "false",
        "OPENBLAS_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        **env_overrides,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "nextread", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, process)
        yield base
    finally:
        process.terminate()
        try:
            # Shutdown waits for requests still running, such as a cold first recommendation on a loaded
            # machine; the tests are about pages, so a slow exit only ends in a kill.
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def _wait_ready(base: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nextread serve exited: {process.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(base + "/ui/login", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("nextread serve did not become ready in 120 s")


def open_page(browser: Any, base: str, viewport: dict[str, int] = DESKTOP) -> Any:
    """A new page in its own browser context (its own cookies: one person per page)."""
    context = browser.new_context(viewport=viewport, base_url=base)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    return page


def sign_in(
    page: Any, username: str | None = None, password: str | None = None, key: str = ADMIN_KEY
) -> None:
    """Sign in on the sign-in page as a person does: with a username and password, or the API key tab."""
    if "/ui/login" not in page.url:
        page.goto("/ui/login")
    if username is None:
        page.get_by_role("tab", name="API key").click()
        page.get_by_label("API key").fill(key)
        page.get_by_role("button", name="Sign in with key").click()
    else:
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password or "")
        page.get_by_role("button", name="Sign in", exact=True).click()


def menu_entry(page: Any, label: str) -> Any:
    """The header menu's link ``label``, ready to click: on a phone the entries sit behind one Menu
    button, which this opens first, as a person would."""
    nav = page.get_by_role("navigation", name="Main")
    button = nav.get_by_role("button", name="Menu")
    if button.is_visible() and button.get_attribute("aria-expanded") != "true":
        button.click()
    return nav.get_by_role("link", name=label, exact=True)


def shoot(page: Any, name: str) -> Path:
    """A full-page screenshot under ``artifacts/screenshots`` (git-ignored), to look at as a user."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(300)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's critical and serious violations on the page as it is now (WCAG 2.1 A and AA rules)."""
    if not AXE.exists():
        raise RuntimeError(f"{AXE} is missing: run scripts/test.sh (npm ci --prefix tests/ui/axe)")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async () => await axe.run(document, {runOnly: {type: 'tag',"
        " values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})"
    )
    return [v for v in result["violations"] if v.get("impact") in BLOCKING]


def describe(violations: list[dict[str, Any]]) -> str:
    """Readable failure text: each rule, its impact and the first few offending elements."""
    lines = []
    for violation in violations:
        targets = [json.dumps(node["target"]) for node in violation["nodes"][:4]]
        lines.append(f"{violation['impact']} {violation['id']}: {violation['help']} at {', '.join(targets)}")
    return "\n".join(lines)


def wider_than_viewport(page: Any) -> list[str]:
    """Visible elements whose right edge passes the viewport's (what makes a phone scroll sideways)."""
    return page.evaluate(
        """() => {
          const width = document.documentElement.clientWidth;
          const out = [];
          for (const el of document.querySelectorAll('body *')) {
            const box = el.getBoundingClientRect();
            if (box.width === 0 || box.height === 0) continue;
            if (box.right > width + 1) {
              out.push(`${el.tagName.toLowerCase()}.${[...el.classList].slice(0, 3).join('.')} ` +
                       `right=${Math.round(box.right)}`);
            }
          }
          return out.slice(0, 10);
        }"""
    )
