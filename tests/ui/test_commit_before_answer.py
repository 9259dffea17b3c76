"""The dashboard says "Saved" only for what is committed, and says so when a commit fails."""

from __future__ import annotations

from pathlib import Path

import pytest
from nicegui.testing.user import User

from nextread.store.db import UNAVAILABLE
from tests.commit_faults import CommitFault
from tests.ui.conftest import LIBRARIAN
from tests.ui.test_pages import _item, run_as_user, sign_in


def test_a_staff_pick_is_confirmed_once_committed_and_a_failed_commit_says_so(
    school_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fault = CommitFault(monkeypatch)  # the demo school is SQLite

    async def scenario(user: User, app: object) -> None:
        book = "bk-0001"
        await sign_in(user, LIBRARIAN[0], LIBRARIAN[1])
        await user.open(f"/ui/catalog/{book}")
        await user.should_see(marker="staff-pick", retries=40)
        fault.set("slow")
        user.find(marker="staff-pick").click()
        await user.should_see("Staff pick on", retries=300)
        assert _item(app, book).staff_pick  # a session of its own sees it the moment it is confirmed

        fault.set("fail")
        user.find(marker="staff-pick").click()
        await user.should_see(UNAVAILABLE.message, retries=300)
        await user.should_not_see("Staff pick off")
        assert _item(app, book).staff_pick

    run_as_user(school_copy, scenario)
