"""Who is looking at a page, and whether they may (the rules: :mod:`nextread.services.access`).

The browser's NiceGUI session only holds a pointer (an account id or an API key's SHA-256, never the
key); every page load resolves it against the database again, so a disabled account or revoked key is
locked out on its next click."""

from __future__ import annotations

from fastapi.responses import HTMLResponse, RedirectResponse, Response
from nicegui import app

from nextread.services.access import (
    STUDENT,
    Principal,
    may,
    principal_of_account,
    principal_of_key_hash,
    sign_in,
)
from nextread.store.tenants import hash_key
from nextread.ui.context import db, url

AUTH_KEY = "auth"


Pointer = dict[str, object]


def check_password(username: str, password: str) -> tuple[Principal, Pointer] | None:
    """Database work only (safe off the event loop); :func:`remember` then stores the pointer."""
    with db() as session:
        signed_in = sign_in(session, username, password)
    if signed_in is None:
        return None
    account_id, principal = signed_in
    return principal, {"account": account_id}


def check_key(key: str) -> tuple[Principal, Pointer] | None:
    digest = hash_key(key.strip())
    with db() as session:
        principal = principal_of_key_hash(session, digest)
    return (principal, {"key_hash": digest}) if principal is not None else None


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
        return RedirectResponse(url("/login"))
    if may(identity, action, student_id):
        return identity
    return HTMLResponse(
        f"<h1>Not allowed</h1><p>This page is not available to your account.</p>"
        f"<p><a href='{home_of(identity)}'>Go to your page</a></p>",
        status_code=403,
    )
