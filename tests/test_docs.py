"""The docs stay true: every setting is documented; CI runs the README's test command."""

from __future__ import annotations

from pathlib import Path

from nextread.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_documented_in_the_configuration_docs() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text()
    missing = [name for name in Settings.variables() if f"`NEXTREAD_{name.upper()}`" not in page]
    assert missing == []


def test_the_readme_links_the_configuration_docs() -> None:
    assert "(docs/configuration.md)" in (ROOT / "README.md").read_text()


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "bash scripts/test.sh" in readme
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
