"""Dashboard accounts: usernames with scrypt-hashed passwords, and the roles the dashboard knows.

scrypt (stdlib ``hashlib.scrypt``) is memory-hard, so a stolen ``ui_accounts`` table is expensive to
brute-force; the parameters are stored with each hash so they can be raised later without breaking
existing accounts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from nextread.store.models import Tenant, UiAccount, User, utcnow

ACCOUNT_ROLES = ("admin", "librarian", "student")
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD_CHARS = 8


class AccountError(ValueError):
    """A request to create an account that cannot be honoured; the message names the field."""


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    encode = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${encode(salt).decode()}${encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    expected = base64.b64decode(digest)
    actual = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
    )
    return hmac.compare_digest(actual, expected)


def create_account(
    session: Session, tenant_id: int, username: str, password: str, role: str, student_id: str | None = None
) -> UiAccount:
    """A student account must name the student (a ``users`` id) it belongs to; staff accounts must not."""
    username = username.strip()
    if not username or len(username) > 64:
        raise AccountError("username: must be 1–64 characters")
    if role not in ACCOUNT_ROLES:
        raise AccountError(f"role: must be one of {', '.join(ACCOUNT_ROLES)}")
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(f"password: must be at least {MIN_PASSWORD_CHARS} characters")
    if session.scalar(select(UiAccount.id).where(UiAccount.username == username)) is not None:
        raise AccountError(f"username: {username!r} is already taken")
    user_pk = None
    if role == "student":
        user_pk = session.scalar(
            select(User.id).where(User.tenant_id == tenant_id, User.external_id == (student_id or ""))
        )
        if user_pk is None:
            raise AccountError(f"student_id: no student {student_id!r} in this school")
    elif student_id:
        raise AccountError("student_id: only student accounts are tied to a student")
    account = UiAccount(
        tenant_id=tenant_id,
        username=username,
        password_hash=hash_password(password),
        role=role,
        user_id=user_pk,
    )
    session.add(account)
    session.flush()
    return account


def sign_in_with_password(session: Session, username: str, password: str) -> UiAccount | None:
    account = session.scalar(
        select(UiAccount).where(UiAccount.username == username.strip(), UiAccount.disabled_at.is_(None))
    )
    if account is None:
        # Same work for an unknown name as for a wrong password: response time does not reveal names.
        verify_password(password, hash_password("not-a-user"))
        return None
    return account if verify_password(password, account.password_hash) else None


def find_account(session: Session, account_id: int) -> Row | None:
    """An enabled account (``UiAccount``), its tenant's ``slug`` and, for a student, their
    ``external_id``; None for an unknown or disabled account."""
    return session.execute(
        select(UiAccount, Tenant.slug, User.external_id)
        .join(Tenant, Tenant.id == UiAccount.tenant_id)
        .outerjoin(User, User.id == UiAccount.user_id)
        .where(UiAccount.id == account_id, UiAccount.disabled_at.is_(None))
    ).first()


def disable_account(session: Session, tenant_id: int, username: str) -> None:
    """Signs the account out on its next click (pages re-check it); the row stays for the record."""
    account = session.scalar(
        select(UiAccount).where(UiAccount.tenant_id == tenant_id, UiAccount.username == username.strip())
    )
    if account is None:
        raise AccountError(f"username: no account {username!r} in this school")
    account.disabled_at = account.disabled_at or utcnow()
    session.flush()


def list_accounts(session: Session, tenant_id: int) -> list[tuple[UiAccount, str | None]]:
    rows = session.execute(
        select(UiAccount, User.external_id)
        .outerjoin(User, User.id == UiAccount.user_id)
        .where(UiAccount.tenant_id == tenant_id)
        .order_by(UiAccount.username)
    )
    return [(row.UiAccount, row.external_id) for row in rows]
