"""A CLI write prints its result only once committed, and a failed commit prints none and fails."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from nextread.cli import app, main
from nextread.config import get_settings
from tests.commit_faults import CommitFault
from tests.conftest import Database


@pytest.fixture
def cli_database(database: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    monkeypatch.setenv("NEXTREAD_DATABASE_URL", database.url)
    monkeypatch.setenv("NEXTREAD_LOG_LEVEL", "WARNING")
    get_settings.cache_clear()
    yield database
    get_settings.cache_clear()


def _keys(database: Database) -> int:
    with database.engine.connect() as connection:
        return connection.scalar(text("SELECT count(*) FROM api_keys"))


def test_a_created_key_is_printed_once_committed_and_never_for_a_failed_commit(
    cli_database: Database, commit_fault: CommitFault
) -> None:
    before = _keys(cli_database)
    commit_fault.set("fail")
    failed = CliRunner().invoke(app, ["keys", "create", "--role", "admin", "--tenant", "riverside"])
    assert failed.exit_code != 0 and "nr_" not in failed.output
    assert _keys(cli_database) == before

    commit_fault.set("slow")
    created = CliRunner().invoke(app, ["keys", "create", "--role", "admin", "--tenant", "riverside"])
    assert created.exit_code == 0 and created.output.strip().startswith("nr_admin_")
    assert _keys(cli_database) == before + 1


def test_the_installed_command_reports_a_failed_commit_in_one_line(
    cli_database: Database,
    commit_fault: CommitFault,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = _keys(cli_database)
    commit_fault.set("fail")
    argv = ["nextread", "keys", "create", "--role", "admin", "--tenant", "riverside"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    error = capsys.readouterr().err
    assert error.startswith("error: ") and "nothing was written" in error
    assert "Traceback" not in error and len(error.strip().splitlines()) == 1
    assert _keys(cli_database) == before
