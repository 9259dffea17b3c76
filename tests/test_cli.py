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
