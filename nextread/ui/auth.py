"""Who is looking at a page, and whether they may.

The browser's NiceGUI session only holds a pointer (an account id or an API key's SHA-256, never the
key); every page load resolves it against the database again, so a disabled account or revoked key is
locked out on its next click."""

from __future__ import annotations

from fastapi.responses import HTMLResponse, RedirectResponse, Response
from nicegui import app

from nextread.store.accounts import Identity, account_identity, api_key_identity, sign_in_with_password
from nextread.store.tenants import Principal, hash_key
from nextread.ui.context import db, url

STAFF = ("admin", "librarian", "viewer")
CURATORS = ("admin", "librarian")
ADMINS = ("admin",)
AUTH_KEY = "auth"


Pointer = dict[str, object]


def check_password(username: str, password: str) -> tuple[Identity, Pointer] | None:
    """Database work only (safe off the event loop); :func:`remember` then stores the pointer."""
    with db() as session:
        account = sign_in_with_password(session, username, password)
        identity = account_identity(session, account.id) if account else None
    return (identity, {"account": account.id}) if identity is not None and account is not None else None


def check_key(key: str) -> tuple[Identity, Pointer] | None:
    digest = hash_key(key.strip())
    with db() as session:
        identity = api_key_identity(session, digest)
    return (identity, {"key_hash": digest}) if identity is not None else None


def remember(pointer: Pointer) -> None:
    app.storage.user[AUTH_KEY] = pointer


def sign_out() -> None:
    app.storage.user.pop(AUTH_KEY, None)


def current_identity() -> Identity | None:
    stored = app.storage.user.get(AUTH_KEY) or {}
    with db() as session:
        if "account" in stored:
            return account_identity(session, int(stored["account"]))
        if "key_hash" in stored:
            return api_key_identity(session, str(stored["key_hash"]))
    return None


def home_of(identity: Identity) -> str:
    if identity.role == "student":
        return url(f"/read/{identity.user_external_id}")
    return url("/overview")


def guard(roles: tuple[str, ...], student_id: str | None = None) -> Identity | Response:
    """The signed-in identity when it may open the page; otherwise a redirect to sign-in or a 403.
    ``student_id``: the page belongs to this student, who may open it (and no other student)."""
    identity = current_identity()
    if identity is None:
        return RedirectResponse(url("/login"))
    if identity.role in roles:
        return identity
    if student_id is not None and identity.role == "student" and identity.user_external_id == student_id:
        return identity
    return HTMLResponse(
        f"<h1>Not allowed</h1><p>This page is not available to your account.</p>"
        f"<p><a href='{home_of(identity)}'>Go to your page</a></p>",
        status_code=403,
    )


def principal(identity: Identity) -> Principal:
    """The API principal the page acts as: curators write like an admin key, everyone else reads."""
    role = "admin" if identity.role in CURATORS else "read"
    return Principal(tenant_id=identity.tenant_id, tenant_slug=identity.tenant_slug, role=role)
