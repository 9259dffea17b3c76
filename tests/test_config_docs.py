"""docs/configuration.md is generated from the settings' field descriptions and must not go stale."""

from __future__ import annotations

import runpy
from pathlib import Path

from nextread.config import Settings

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = runpy.run_path(str(ROOT / "scripts" / "gen_config_docs.py"))


def test_configuration_docs_match_the_settings() -> None:
    written = (ROOT / "docs" / "configuration.md").read_text()
    assert written == GENERATOR["render"](), (
        "docs/configuration.md is stale: run python scripts/gen_config_docs.py"
    )


def test_every_group_and_setting_has_a_description() -> None:
    assert [name for name, group in Settings.groups().items() if not (group.__doc__ or "").strip()] == []
    assert [name for name, field in Settings.variables().items() if not field.description] == []


def test_the_page_shows_each_variable_with_its_type_default_and_bounds() -> None:
    page = GENERATOR["render"]()
    assert "| `NEXTREAD_LLM_WEIGHT` | number, ≥ 0, ≤ 1 | `0.4` |" in page
    assert "| `NEXTREAD_LOG_FORMAT` | one of `json`, `console` | `json` |" in page
    assert "| `NEXTREAD_DATABASE_URL` | text | *(empty)* |" in page
    assert "## Open Library settings" in page and "## LLM settings" in page
