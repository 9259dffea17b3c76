"""Who is calling and what they may do, for every interface: REST, the dashboard and MCP.

A caller is a :class:`Principal`: the tenant every query is scoped to, a role and how it was
authenticated (an API key, a dashboard account, or the operator who started ``nextread mcp``). The
roles' rights are one table, :data:`RULES`, asked through :func:`may` and :func:`require`.

API keys over HTTP are checked against the database at most every ``AUTH_CACHE_SECONDS`` per process
(:class:`KeyCache`): the hot path saves a query per request, and a revoked key stops working within
that bound. Dashboard pages resolve their sign-in again on every load instead, so a disabled account or
revoked key is locked out on its next click.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from cachetools import TTLCache
from sqlalchemy.orm import Session

from nextread.freshness import Freshness
from nextread.services.errors import NotAllowedError
from nextread.store.accounts import Taught, find_account, sign_in_with_password, taught_by
from nextread.store.tenants import ROLES as API_KEY_ROLES
from nextread.store.tenants import find_api_key, hash_key

# Roles: an API key is ``read`` or ``admin``; a dashboard account is ``admin``, ``librarian``,
# ``teacher`` or ``student``. An API key signed in to the dashboard keeps its role.
ADMIN = "admin"
LIBRARIAN = "librarian"
TEACHER = "teacher"
READER = "read"
STUDENT = "student"

# How a principal was authenticated.
BY_API_KEY = "api_key"
BY_ACCOUNT = "account"
BY_OPERATOR = "operator"

# Actions.
READ = "read"
"""See the school's catalog, readers, classes and recommendations."""
WRITE = "write"
"""Change the school's data: API writes, imports, catalog edits, training, reading marks for anyone."""
CONFIGURE = "configure"
"""Change the school's settings on the dashboard."""

RULES: dict[str, frozenset[str]] = {
    ADMIN: frozenset({READ, WRITE, CONFIGURE}),
    LIBRARIAN: frozenset({READ, WRITE}),
    TEACHER: frozenset({READ}),
    READER: frozenset({READ}),
    STUDENT: frozenset(),
}
"""What each role may do in its whole tenant. A teacher reads the catalog and the school's aggregate
pages; which students and classes they see is :data:`CLASS_RULES`."""
CLASS_RULES: dict[str, frozenset[str]] = {
    TEACHER: frozenset({READ, WRITE}),
}
"""What a role limited to its classes (:attr:`Principal.scope`) may do about those classes and their
students, and nothing about any other: a teacher records reading and builds class lists for their own
classes. Catalog edits, imports, training and settings stay with librarians and admins (tenant-wide
``WRITE`` / ``CONFIGURE``): they change every class's recommendations, not only the teacher's."""
OWN_PAGES = frozenset({READ, WRITE})
"""What a student may do about themselves only (their page, their reading marks)."""

AUTH_CACHE_SECONDS = 10.0
"""A revoked API key stops working within this bound in every process."""
KEY_CACHE_ENTRIES = 10_000


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant every query is scoped to, their role and how they signed in. A
    student's principal also names their reader (``user_pk``, ``user_external_id``); a teacher's, the
    classes they teach and those classes' students (``scope``), read again on every page load."""

    tenant_id: int
    tenant_slug: str
    role: str
    via: str = BY_API_KEY
    name: str = ""
    user_pk: int | None = None
    user_external_id: str | None = None
    scope: Taught | None = None

    @property
    def classes(self) -> frozenset[int] | None:
        """The classes (``groups`` primary keys) lists are limited to; None: the whole school."""
        return None if self.scope is None else self.scope.group_pks


class AccessDenied(NotAllowedError):
    """The principal may not do this; the message says why, for a 403 or a tool error."""


def may(
    principal: Principal, action: str, student_id: str | None = None, group_id: str | None = None
) -> bool:
    """Whether ``principal`` may do ``action``; with ``student_id``, about that student (a student may
    read and mark their own reading, no one else's; a teacher, their classes' students'); with
    ``group_id``, about that class."""
    scope = principal.scope
    if scope is not None and (student_id is not None or group_id is not None):
        mine = (student_id is None or student_id in scope.student_ids) and (
            group_id is None or group_id in scope.group_ids
        )
        return mine and action in CLASS_RULES.get(principal.role, frozenset())
    if action in RULES.get(principal.role, frozenset()):
        return True
    own = principal.role == STUDENT and principal.user_external_id is not None
    return own and student_id == principal.user_external_id and action in OWN_PAGES


def require(
    principal: Principal, action: str, student_id: str | None = None, group_id: str | None = None
) -> Principal:
    """``principal`` when it :func:`may` do ``action``; else :class:`AccessDenied`."""
    if may(principal, action, student_id, group_id):
        return principal
    if principal.scope is not None and (student_id is not None or group_id is not None):
        about = "student" if student_id is not None else "class"
        raise AccessDenied(f"this account may only {action} about its own classes, not this {about}")
    if principal.via == BY_API_KEY and action == WRITE:
        raise AccessDenied("this API key is read-only; writes need an admin key")
    if principal.via == BY_OPERATOR and action == WRITE:
        raise AccessDenied("this MCP session is read-only; start `nextread mcp --role admin` to write")
    raise AccessDenied(f"the {principal.role} role may not {action} here")


def require_writer(principal: Principal) -> None:
    """Changes to the catalog, readers, classes and models."""
    require(principal, WRITE)


def require_configurer(principal: Principal) -> None:
    """Changes to the school's settings and accounts."""
    require(principal, CONFIGURE)


def require_recorder(principal: Principal, user_id: str) -> None:
    """A reader's interactions are recorded by a writer, or by the reader themself (a student's own
    dashboard account); the refusal names the student, as the student page's buttons are pressed."""
    if not may(principal, WRITE, student_id=user_id):
        raise AccessDenied("this account may not record choices for this student")


def role_label(principal: Principal) -> str:
    """The role as the dashboard shows it: a read key signed in there is a viewer."""
    return "viewer" if principal.role == READER else principal.role


def principal_of_key(session: Session, key: str) -> Principal | None:
    """The principal of a valid, unrevoked API key (read from the database, uncached)."""
    return principal_of_key_hash(session, hash_key(key))


def principal_of_key_hash(session: Session, key_hash: str) -> Principal | None:
    row = find_api_key(session, key_hash)
    if row is None:
        return None
    return Principal(row.tenant_id, row.slug, row.role, BY_API_KEY, f"API key {row.name}")


def principal_of_account(session: Session, account_id: int) -> Principal | None:
    """The principal of an enabled dashboard account."""
    row = find_account(session, account_id)
    if row is None:
        return None
    account = row.UiAccount
    return Principal(
        account.tenant_id,
        row.slug,
        account.role,
        BY_ACCOUNT,
        account.username,
        account.user_id,
        row.external_id,
        taught_by(session, account.id) if account.role == TEACHER else None,
    )


def sign_in(session: Session, username: str, password: str) -> tuple[int, Principal] | None:
    """The account id and principal for a right username and password, else None."""
    account = sign_in_with_password(session, username, password)
    principal = principal_of_account(session, account.id) if account is not None else None
    return (account.id, principal) if account is not None and principal is not None else None


def operator_principal(tenant_id: int, tenant_slug: str, role: str) -> Principal:
    """Whoever starts ``nextread mcp`` on stdio can read the database anyway, so they name the tenant
    and an API key role."""
    if role not in API_KEY_ROLES:
        raise ValueError(f"must be one of {', '.join(API_KEY_ROLES)}, got {role!r}")
    return Principal(tenant_id, tenant_slug, role, BY_OPERATOR, "operator")


class KeyCache:
    """API key → principal (None: unknown or revoked), per process, for at most ``ttl_seconds``.

    At most ``max_entries`` keys are kept; when full, the least recently used one makes room (one
    entry at a time, so a flood of wrong keys never drops the valid ones all at once)."""

    def __init__(
        self,
        ttl_seconds: float = AUTH_CACHE_SECONDS,
        max_entries: int = KEY_CACHE_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        entries = TTLCache(maxsize=max_entries, ttl=ttl_seconds, timer=clock)
        self.checks: Freshness[str, Principal | None] = Freshness(lambda: ttl_seconds, entries, clock)

    def principal(self, session: Session, key: str, recheck: bool = False) -> Principal | None:
        """The key's principal, from the database when not checked lately (or at once with ``recheck``)."""
        hit = None if recheck else self.checks.fresh(key)
        if hit is not None:
            return hit.value
        return self.checks.check(key, partial(principal_of_key, session, key))

    def known(self, key: str) -> Principal | None:
        """The principal of a valid key checked lately, without the database; None when the key is
        invalid or not checked lately. Lets a cache hit be answered on the event loop."""
        hit = self.checks.fresh(key)
        return None if hit is None else hit.value

    def due(self, key: str) -> bool:
        """Past half of ``ttl_seconds``: time to re-check the key ahead of expiry."""
        return self.checks.due(key)
