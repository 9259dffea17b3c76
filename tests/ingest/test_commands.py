"""``nextread import`` / ``nextread export`` through typer: messages, exit codes, round trip."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from nextread.cli.ingest import export_command, import_command
from nextread.config import get_settings
from tests.conftest import Database

app = typer.Typer()
app.command("import")(import_command)
app.command("export")(export_command)


@pytest.fixture
def cli(database: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("NEXTREAD_DATABASE_URL", database.url)
    monkeypatch.setenv("NEXTREAD_LOG_LEVEL", "WARNING")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_import_reports_rejected_rows_and_exits_zero(cli: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text("id,grade\nst-1,2\nst-2,purple\n", encoding="utf-8")
    errors = tmp_path / "errors.csv"
    result = cli.invoke(app, ["import", str(path), "--kind", "users", "--errors", str(errors)])
    assert result.exit_code == 0, result.output
    assert "1 written" in result.output and "1 rejected" in result.output
    assert f"{path}:3: grade:" in result.output
    assert errors.read_text().startswith("file,line,field,reason")


def test_a_latin1_semicolon_file_imports_with_encoding_auto_and_a_note(
    cli: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "users.csv"
    path.write_bytes("id;interests\nst-1;Jules Verne\nst-2;Les Misérables\n".encode("latin-1"))
    strict = cli.invoke(app, ["import", str(path), "--kind", "users"])
    assert strict.exit_code == 0 and "1 written" in strict.output and f"{path}:3: (encoding)" in strict.output
    result = cli.invoke(app, ["import", str(path), "--kind", "users", "--encoding", "auto"])
    assert result.exit_code == 0, result.output
    assert f"note: {path}:3: not valid UTF-8 (byte 0xe9); read as Latin-1" in result.output
    assert "0 rejected" in result.output


def test_unreadable_files_exit_one_naming_the_file(cli: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text("name\nHoles\n", encoding="utf-8")
    result = cli.invoke(app, ["import", str(path), "--kind", "items"])
    assert result.exit_code == 1
    assert f"error: {path}:1: missing required column(s)" in result.output
    result = cli.invoke(app, ["import", str(tmp_path / "nope.csv"), "--kind", "items"])
    assert result.exit_code == 1 and "no such file" in result.output
    result = cli.invoke(app, ["import", str(path)])
    assert result.exit_code == 1 and "--kind" in result.output


def test_export_then_import_into_another_tenant(cli: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    path.write_text('{"id": "b1", "title": "Holes", "authors": ["Louis Sachar"]}\n', encoding="utf-8")
    assert cli.invoke(app, ["import", str(path), "--kind", "items"]).exit_code == 0
    out = tmp_path / "out.parquet"
    result = cli.invoke(app, ["export", str(out), "--kind", "items"])
    assert result.exit_code == 0 and "exported 1 items" in result.output
    result = cli.invoke(app, ["import", str(out), "--kind", "items", "--tenant", "other"])
    assert result.exit_code == 0 and "1 written" in result.output
    result = cli.invoke(app, ["import", str(out), "--kind", "items", "--tenant", "other"])
    assert "0 written, 1 unchanged" in result.output
