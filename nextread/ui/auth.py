"""Who is looking at a page, and whether they may (the rules: :mod:`nextread.services.access`).

The browser's NiceGUI session only holds a pointer (an account id or an API key's SHA-256, never the
key); every page load resolves it against the database again, so a disabled account or revoked key is
locked out on its next click."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from fastapi.responses import HTMLResponse, RedirectResponse, Response
from nicegui import app, ui

from nextread.services.access import (
    STUDENT,
    Principal,
    may,
    principal_of_account,
    principal_of_key_hash,
    sign_in,
    sign_in_with_key,
)
from nextread.store.tenants import hash_key
from nextread.ui.context import MOUNT_PATH, db, lockout, url

AUTH_KEY = "auth"


Pointer = dict[str, object]


def check_password(username: str, password: str) -> tuple[Principal, Pointer] | None:
    """Database work only (safe off the event loop); :func:`remember` then stores the pointer.
    Raises :class:`~nextread.services.lockout.LockedOut` after too many failures for the username."""
    with db() as session:
        signed_in = sign_in(session, username, password, lockout())
    if signed_in is None:
        return None
    account_id, principal = signed_in
    return principal, {"account": account_id}


def check_key(key: str, client: str) -> tuple[Principal, Pointer] | None:
    """Like :func:`check_password`, wrong keys counted per ``client`` address."""
    with db() as session:
        principal = sign_in_with_key(session, key, client, lockout())
    return (principal, {"key_hash": hash_key(key.strip())}) if principal is not None else None


def remember(pointer: Pointer) -> None:
    app.storage.user[AUTH_KEY] = pointer


def sign_out() -> None:
    app.storage.user.pop(AUTH_KEY, None)


def current_identity() -> Principal | None:
    stored = app.storage.user.get(AUTH_KEY) or {}
    with db() as session:
        if "account" in stored:
            return principal_of_account(session, int(stored["account"]))
        if "key_hash" in stored:
            return principal_of_key_hash(session, str(stored["key_hash"]))
    return None


def home_of(identity: Principal) -> str:
    if identity.role == STUDENT:
        return url(f"/read/{identity.user_external_id}")
    return url("/overview")


def guard(action: str, student_id: str | None = None) -> Principal | Response:
    """The signed-in principal when it may do ``action`` on the page; otherwise a redirect to sign-in
    or a 403. ``student_id``: the page belongs to this student, who may open it (and no other student)."""
    identity = current_identity()
    if identity is None:
        return RedirectResponse(login_address(_this_page()))
    if may(identity, action, student_id):
        return identity
    return HTMLResponse(
        f"<h1>Not allowed</h1><p>This page is not available to your account.</p>"
        f"<p><a href='{home_of(identity)}'>Go to your page</a></p>",
        status_code=403,
    )


def login_address(next_page: str | None) -> str:
    """The sign-in page, asked to come back to ``next_page`` (a dashboard address) afterwards."""
    return url("/login") + (f"?next={quote(next_page, safe='/')}" if next_page else "")


def safe_next(next_page: str | None) -> str | None:
    """``next_page`` when it is a dashboard page on this site, else None: a link to the sign-in page must
    not send a person elsewhere after they sign in (``//evil.example``, ``https://…``, ``/\\evil``)."""
    if not next_page or "\\" in next_page or any(ord(c) < 32 for c in next_page):
        return None
    parts = urlsplit(next_page)
    if parts.scheme or parts.netloc or not parts.path.startswith(MOUNT_PATH + "/"):
        return None
    if parts.path.rstrip("/") in {url("/login"), url("/logout")}:
        return None
    return next_page


def _this_page() -> str | None:
    request = ui.context.client.request
    if request is None:
        return None
    query = f"?{request.url.query}" if request.url.query else ""
    return safe_next(request.url.path + query)
