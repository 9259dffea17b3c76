"""The command line: every command documents itself, and the admin commands work on a real database."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nextread.cli import app
from nextread.config import get_settings
from nextread.demo import load_demo
from nextread.services import school_settings
from nextread.store.db import make_engine, make_session_factory, session_scope, upgrade
from nextread.store.tenants import ensure_tenant

COMMANDS = [
    [],
    ["serve"],
    ["demo"],
    ["train"],
    ["import"],
    ["export"],
    ["evaluate"],
    ["db"],
    ["db", "upgrade"],
    ["keys"],
    ["keys", "create"],
    ["accounts"],
    ["accounts", "create"],
    ["mcp"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "nextread")
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_python_dash_m_works() -> None:
    result = subprocess.run([sys.executable, "-m", "nextread", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "demo" in result.stdout


def test_upgrade_key_and_train_on_a_fresh_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEXTREAD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("NEXTREAD_LOG_LEVEL", "WARNING")
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
        created = runner.invoke(app, ["keys", "create", "--role", "admin", "--tenant", "riverside"])
        assert created.exit_code == 0
        assert created.output.strip().startswith("nr_admin_")
        bad_role = runner.invoke(app, ["keys", "create", "--role", "owner"])
        assert bad_role.exit_code != 0
        assert "--role" in bad_role.output
        from nextread.cli import prepare_demo

        prepare_demo(get_settings())
        trained = runner.invoke(app, ["train"])
        assert trained.exit_code == 0, trained.output
        assert "trained version 2" in trained.output
    finally:
        get_settings.cache_clear()


def test_accounts_create_makes_a_teacher_of_named_classes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEXTREAD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("NEXTREAD_LOG_LEVEL", "WARNING")
    get_settings.cache_clear()
    runner = CliRunner()
    teacher = ["accounts", "create", "ms-hill", "--role", "teacher"]
    try:
        engine = make_engine(get_settings().store.database_url)
        upgrade(engine)
        with session_scope(make_session_factory(engine)) as session:
            tenant_id = ensure_tenant(session, get_settings().store.default_tenant).id
            load_demo(session, tenant_id)  # its classes, untrained
        unknown = runner.invoke(
            app, [*teacher, "--classes", "class-1,no-such"], input="a-long-password\n" * 2
        )
        assert unknown.exit_code != 0 and "no-such" in unknown.output and "--classes" in unknown.output
        created = runner.invoke(
            app, [*teacher, "--classes", "class-1, class-2"], input="a-long-password\n" * 2
        )
        assert created.exit_code == 0, created.output
        assert "account ms-hill (teacher) created, teaching class-1, class-2" in created.output
        with session_scope(make_session_factory(engine)) as session:
            [row] = school_settings.accounts(session, tenant_id)
        engine.dispose()
        assert (row["role"], row["classes"]) == ("teacher", ["class-1", "class-2"])
    finally:
        get_settings.cache_clear()


# What only some commands need; none of it may load for ``--help`` (a new user's first command).
HEAVY_FOR_HELP = [
    "scipy.stats",
    "scipy.sparse",
    "pyarrow",
    "mcp",
    "openai",
    "torch",
    "sentence_transformers",
    "alembic",
    "httpx",
    "uvicorn",
    "nextread.evaluate.models",
    "nextread.services.training",
    "nextread.services.event_pipeline",
    "nextread.mcp.server",
]
LOADED_MODULES_AFTER_HELP = """
import json, runpy, sys
sys.argv = ["nextread", "--help"]
try:
    runpy.run_module("nextread", run_name="__main__")
except SystemExit as stop:
    assert not stop.code, stop.code
print(json.dumps(sorted(sys.modules)))
"""


def test_help_imports_no_heavy_module() -> None:
    result = subprocess.run(
        [sys.executable, "-c", LOADED_MODULES_AFTER_HELP], capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(result.stdout.splitlines()[-1]))
    assert "Usage" in result.stdout
    assert [name for name in HEAVY_FOR_HELP if name in loaded] == []
