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
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Row, delete, select
from sqlalchemy.orm import Session

from nextread.store.models import AccountClass, Group, GroupMember, Tenant, UiAccount, User, utcnow

ACCOUNT_ROLES = ("admin", "librarian", "teacher", "student")
TEACHER = "teacher"
# Group members with these roles teach or run the class; the others are its readers.
NON_READER_ROLES = frozenset({"teacher", "staff", "librarian"})
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
    session: Session,
    tenant_id: int,
    username: str,
    password: str,
    role: str,
    student_id: str | None = None,
    classes: Iterable[str] = (),
) -> UiAccount:
    """A student account must name the student (a ``users`` id) it belongs to; staff accounts must not.
    A teacher account may name the classes (``groups`` ids) it teaches; no other role teaches one."""
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
    classes = list(classes)
    if classes and role != TEACHER:
        raise AccountError("classes: only teacher accounts teach classes")
    group_pks = _group_pks(session, tenant_id, classes)
    account = UiAccount(
        tenant_id=tenant_id,
        username=username,
        password_hash=hash_password(password),
        role=role,
        user_id=user_pk,
    )
    session.add(account)
    session.flush()
    session.add_all(AccountClass(account_id=account.id, group_id=pk) for pk in group_pks)
    session.flush()
    return account


def _group_pks(session: Session, tenant_id: int, group_ids: list[str]) -> list[int]:
    """The classes' primary keys; an unknown id is refused by name rather than silently dropped, since
    a teacher missing a class would find its students refused."""
    found = dict(
        session.execute(
            select(Group.external_id, Group.id).where(
                Group.tenant_id == tenant_id, Group.external_id.in_(group_ids)
            )
        ).all()
    )
    missing = [group_id for group_id in group_ids if group_id not in found]
    if missing:
        raise AccountError(f"classes: no class {', '.join(map(repr, missing))} in this school")
    return sorted({found[group_id] for group_id in group_ids})


def set_account_classes(session: Session, tenant_id: int, username: str, group_ids: Iterable[str]) -> None:
    """The classes a teacher account teaches from now on (the account sees the change on its next click)."""
    account = _account(session, tenant_id, username)
    if account.role != TEACHER:
        raise AccountError("classes: only teacher accounts teach classes")
    group_pks = _group_pks(session, tenant_id, list(group_ids))
    session.execute(delete(AccountClass).where(AccountClass.account_id == account.id))
    session.add_all(AccountClass(account_id=account.id, group_id=pk) for pk in group_pks)
    session.flush()


@dataclass(frozen=True)
class Taught:
    """What a teacher account covers: its classes (primary and external ids) and their readers."""

    group_pks: frozenset[int]
    group_ids: frozenset[str]
    student_ids: frozenset[str]


def taught_by(session: Session, account_id: int) -> Taught:
    groups = session.execute(
        select(Group.id, Group.external_id)
        .join(AccountClass, AccountClass.group_id == Group.id)
        .where(AccountClass.account_id == account_id)
    ).all()
    pks = frozenset(row.id for row in groups)
    students = session.scalars(
        select(User.external_id)
        .join(GroupMember, GroupMember.user_id == User.id)
        .where(GroupMember.group_id.in_(pks), GroupMember.role.not_in(NON_READER_ROLES))
    )
    return Taught(pks, frozenset(row.external_id for row in groups), frozenset(students))


def sign_in_with_password(session: Session, username: str, password: str) -> UiAccount | None:
    account = session.scalar(
        select(UiAccount).where(UiAccount.username == username.strip(), UiAccount.disabled_at.is_(None))
    )
    if account is None:
        # Same work for an unknown name as for a wrong password: response time does not reveal names.
        verify_password(password, hash_password("not-a-user"))
        return None
    if not verify_password(password, account.password_hash):
        return None
    account.last_sign_in_at = utcnow()
    session.flush()
    return account


def find_account(session: Session, account_id: int) -> Row | None:
    """An enabled account (``UiAccount``), its tenant's ``slug`` and, for a student, their
    ``external_id``; None for an unknown or disabled account."""
    return session.execute(
        select(UiAccount, Tenant.slug, User.external_id)
        .join(Tenant, Tenant.id == UiAccount.tenant_id)
        .outerjoin(User, User.id == UiAccount.user_id)
        .where(UiAccount.id == account_id, UiAccount.disabled_at.is_(None))
    ).first()


def _account(session: Session, tenant_id: int, username: str) -> UiAccount:
    account = session.scalar(
        select(UiAccount).where(UiAccount.tenant_id == tenant_id, UiAccount.username == username.strip())
    )
    if account is None:
        raise AccountError(f"username: no account {username!r} in this school")
    return account


def disable_account(session: Session, tenant_id: int, username: str) -> None:
    """Signs the account out on its next click (pages re-check it); the row stays for the record."""
    account = _account(session, tenant_id, username)
    account.disabled_at = account.disabled_at or utcnow()
    session.flush()


def enable_account(session: Session, tenant_id: int, username: str) -> None:
    """Undoes :func:`disable_account`: the same password signs in again."""
    _account(session, tenant_id, username).disabled_at = None
    session.flush()


@dataclass(frozen=True)
class AccountRow:
    account: UiAccount
    student_id: str | None
    classes: list[tuple[str, str]]
    """``(group id, name)`` of each class a teacher account teaches."""


def list_accounts(session: Session, tenant_id: int) -> list[AccountRow]:
    rows = session.execute(
        select(UiAccount, User.external_id)
        .outerjoin(User, User.id == UiAccount.user_id)
        .where(UiAccount.tenant_id == tenant_id)
        .order_by(UiAccount.username)
    ).all()
    taught: dict[int, list[tuple[str, str]]] = {}
    for account_id, group_id, name in session.execute(
        select(AccountClass.account_id, Group.external_id, Group.name)
        .join(Group, Group.id == AccountClass.group_id)
        .where(Group.tenant_id == tenant_id)
        .order_by(Group.name)
    ):
        taught.setdefault(account_id, []).append((group_id, name))
    return [AccountRow(row.UiAccount, row.external_id, taught.get(row.UiAccount.id, [])) for row in rows]
