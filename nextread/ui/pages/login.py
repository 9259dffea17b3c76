"""Sign in with a username and password, or with one of the tenant's API keys."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from nicegui import run, ui

from nextread.services.access import Principal
from nextread.services.lockout import LockedOut
from nextread.ui.auth import (
    Pointer,
    check_key,
    check_password,
    current_identity,
    home_of,
    remember,
    safe_next,
    sign_out,
)
from nextread.ui.context import go, url
from nextread.ui.layout import theme

SignedIn = tuple[Principal, Pointer]


@ui.page("/")
def root() -> Response:
    identity = current_identity()
    return RedirectResponse(home_of(identity) if identity else url("/login"))


@ui.page("/logout")
def logout() -> Response:
    sign_out()
    return RedirectResponse(url("/login"))


@ui.page("/login")
def login(request: Request) -> None:
    """``?next=`` (a dashboard address, see :func:`safe_next`) is where a signed-out visitor was going."""
    ui.page_title("Sign in · nextread")
    theme()
    next_page = safe_next(request.query_params.get("next"))
    client = ui.context.client.ip or "unknown"

    async def attempt(check: Callable[..., SignedIn | None], *args: str) -> None:
        try:
            found = await run.io_bound(check, *args)
        except LockedOut as exc:
            found, problem.text = None, str(exc)
        else:
            problem.text = "" if found else "That did not match an account or key."
        if found is not None:
            identity, pointer = found
            remember(pointer)
            go(next_page or home_of(identity))

    async def with_password() -> None:
        await attempt(check_password, username.value or "", password.value or "")

    async def with_key() -> None:
        await attempt(check_key, key.value or "", client)

    with ui.card().classes("mx-auto mt-12 w-full max-w-md"):
        ui.label("nextread").classes("text-2xl font-bold").props('role="heading" aria-level="1"')
        # Stays on the page (a toast fades before some read it); role=alert has screen readers say it.
        problem = (
            ui.label("").classes("text-red-700 font-medium").props('role="alert"').mark("sign-in-problem")
        )
        with ui.tabs().classes("w-full") as tabs:
            account_tab = ui.tab("Username")
            key_tab = ui.tab("API key")
        with ui.tab_panels(tabs, value=account_tab).classes("w-full"):
            with ui.tab_panel(account_tab):
                username = (
                    ui.input("Username")
                    .props("autofocus autocomplete=username")
                    .classes("w-full")
                    .mark("username")
                )
                password = (
                    ui.input("Password", password=True)
                    .props("autocomplete=current-password")
                    .mark("password")
                )
                password.classes("w-full").on("keydown.enter", with_password)
                ui.button("Sign in", on_click=with_password).classes("w-full mt-2")
            with ui.tab_panel(key_tab):
                key = ui.input("API key", password=True).classes("w-full").mark("api-key")
                key.on("keydown.enter", with_key)
                ui.button("Sign in with key", on_click=with_key).classes("w-full mt-2")
