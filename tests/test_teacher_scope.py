"""A teacher account sees and acts for the students of its own classes only, in the rule table and in
the services every interface calls; on both backends."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from nextread.schemas import GroupIn, UserIn
from nextread.services import dashboard, school_settings
from nextread.services.access import (
    CONFIGURE,
    READ,
    WRITE,
    AccessDenied,
    Principal,
    may,
    principal_of_account,
    require_recorder,
    require_writer,
    sign_in,
)
from nextread.services.errors import InvalidError
from nextread.store.accounts import AccountError, create_account, list_accounts, set_account_classes
from nextread.store.db import session_scope
from nextread.store.tenants import ensure_tenant
from nextread.store.writes import upsert_groups, upsert_users
from tests.conftest import Database

PASSWORD = "long-password"


def _school(session: Session) -> int:
    """Two classes: 4A (Ada, Ben) and 4B (Cy)."""
    tenant = ensure_tenant(session, "school")
    upsert_users(
        session,
        tenant.id,
        [UserIn(id=i, display_name=n) for i, n in [("a", "Ada"), ("b", "Ben"), ("c", "Cy")]],
    )
    upsert_groups(
        session,
        tenant.id,
        [GroupIn(id="4a", name="4A", members=["a", "b"]), GroupIn(id="4b", name="4B", members=["c"])],
    )
    return tenant.id


def _teacher(session: Session, tenant_id: int, classes: list[str]) -> Principal:
    account = create_account(session, tenant_id, "ms-hill", PASSWORD, "teacher", classes=classes)
    principal = principal_of_account(session, account.id)
    assert principal is not None
    return principal


def test_a_teacher_sees_and_acts_for_their_own_classes_students_only(database: Database) -> None:
    with session_scope(database.sessions) as session:
        tenant_id = _school(session)
        teacher = _teacher(session, tenant_id, ["4a"])
        assert may(teacher, READ, student_id="a") and may(teacher, WRITE, student_id="b")
        assert not may(teacher, READ, student_id="c") and not may(teacher, WRITE, student_id="c")
        assert may(teacher, READ, group_id="4a") and not may(teacher, READ, group_id="4b")
        # The catalog and the school's aggregate pages, yes; catalog writes, imports and settings, no.
        assert may(teacher, READ) and not may(teacher, WRITE) and not may(teacher, CONFIGURE)
        with pytest.raises(AccessDenied):
            require_writer(teacher)
        require_recorder(teacher, "a")
        with pytest.raises(AccessDenied, match="may not record choices for this student"):
            require_recorder(teacher, "c")

        students = dashboard.search_students(session, tenant_id, "", classes=teacher.classes)
        assert [row["id"] for row in students.rows] == ["a", "b"] and students.total == 2
        assert dashboard.search_students(session, tenant_id, "cy", classes=teacher.classes).total == 0
        assert [row["id"] for row in dashboard.list_classes(session, tenant_id, teacher.classes)] == ["4a"]
        assert dashboard.class_name(session, tenant_id, "4a", teacher.classes) == "4A"
        assert dashboard.class_name(session, tenant_id, "4b", teacher.classes) is None
        assert dashboard.find_student(session, teacher, "a").display_name == "Ada"
        with pytest.raises(AccessDenied, match="not this student"):
            dashboard.find_student(session, teacher, "c")
        with pytest.raises(AccessDenied):
            dashboard.history(session, teacher, "c")


def test_a_librarian_still_sees_the_whole_school(database: Database) -> None:
    with session_scope(database.sessions) as session:
        tenant_id = _school(session)
        account = create_account(session, tenant_id, "libby", PASSWORD, "librarian")
        librarian = principal_of_account(session, account.id)
        assert librarian is not None and librarian.classes is None
        assert may(librarian, WRITE, student_id="c") and may(librarian, READ, group_id="4b")
        assert dashboard.search_students(session, tenant_id, "", classes=librarian.classes).total == 3
        assert len(dashboard.list_classes(session, tenant_id, librarian.classes)) == 2


def test_new_classes_apply_on_the_teachers_next_sign_in_check(database: Database) -> None:
    with session_scope(database.sessions) as session:
        tenant_id = _school(session)
        username = _teacher(session, tenant_id, []).name
        assert not may(_again(session, "ms-hill"), READ, student_id="a")  # no classes yet: no students
        set_account_classes(session, tenant_id, username, ["4b"])
        teacher = _again(session, "ms-hill")
        assert may(teacher, READ, student_id="c") and not may(teacher, READ, student_id="a")
        [row] = [row for row in list_accounts(session, tenant_id) if row.account.username == "ms-hill"]
        assert row.classes == [("4b", "4B")] and row.account.last_sign_in_at is not None


def _again(session: Session, username: str) -> Principal:
    signed_in = sign_in(session, username, PASSWORD)
    assert signed_in is not None
    return signed_in[1]


@pytest.mark.parametrize(
    ("role", "classes", "message"),
    [
        ("librarian", ["4a"], "^classes: only teacher accounts"),
        ("teacher", ["4a", "no-such-class"], "^classes: no class 'no-such-class'"),
    ],
)
def test_classes_are_refused_for_other_roles_and_unknown_classes(
    database: Database, role: str, classes: list[str], message: str
) -> None:
    with session_scope(database.sessions) as session:
        tenant_id = _school(session)
        with pytest.raises(AccountError, match=message):
            create_account(session, tenant_id, "x-account", PASSWORD, role, classes=classes)


def test_admins_list_disable_enable_and_assign_classes(database: Database) -> None:
    with session_scope(database.sessions) as session:
        tenant_id = _school(session)
        admin = Principal(tenant_id, "school", "admin")
        school_settings.add_account(session, admin, "ms-hill", PASSWORD, "teacher", None, ["4a"])
        [row] = school_settings.accounts(session, tenant_id)
        assert (row["role"], row["classes"], row["last_sign_in"], row["status"]) == (
            "teacher",
            ["4a"],
            "never",
            "active",
        )
        school_settings.remove_account(session, admin, "ms-hill")
        assert sign_in(session, "ms-hill", PASSWORD) is None
        school_settings.restore_account(session, admin, "ms-hill")
        assert sign_in(session, "ms-hill", PASSWORD) is not None
        school_settings.assign_classes(session, admin, "ms-hill", ["4a", "4b"])
        assert school_settings.accounts(session, tenant_id)[0]["class_names"] == "4A, 4B"
        with pytest.raises(InvalidError, match="no class"):
            school_settings.assign_classes(session, admin, "ms-hill", ["nope"])
        teacher = _again(session, "ms-hill")
        with pytest.raises(AccessDenied):
            school_settings.assign_classes(session, teacher, "ms-hill", ["4a"])
