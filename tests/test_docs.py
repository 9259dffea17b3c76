"""The docs stay true: every setting is documented, CI runs the README's test command, the README stays a
short front page, and no link in the README or the reference pages leads nowhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from markdown.extensions.toc import slugify

from nextread.config import Settings

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
README_MAX_CHARS = 12_000

FENCED_BLOCK = re.compile(r"^```.*?^```", re.S | re.M)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.M)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)


def _prose(path: Path) -> str:
    """The file without its code blocks, where brackets and parentheses are code, not links."""
    return FENCED_BLOCK.sub("", path.read_text(encoding="utf-8"))


def _anchors(path: Path) -> set[str]:
    """The ids MkDocs gives the file's headings (code spans and emphasis marks do not count)."""
    return {slugify(re.sub(r"[`*]", "", title), "-") for title in HEADING.findall(_prose(path))}


def _relative_links(path: Path) -> list[str]:
    return [target for target in LINK.findall(_prose(path)) if not EXTERNAL.match(target)]


def test_every_setting_is_documented_in_the_configuration_docs() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text()
    missing = [name for name in Settings.variables() if f"`NEXTREAD_{name.upper()}`" not in page]
    assert missing == []


def test_the_readme_links_the_configuration_docs() -> None:
    assert "(docs/configuration.md)" in (ROOT / "README.md").read_text()


def test_ci_runs_the_readme_test_command() -> None:
    readme = README.read_text()
    assert "bash scripts/test.sh" in readme
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_the_readme_is_a_front_page_not_a_manual() -> None:
    assert len(README.read_text(encoding="utf-8")) < README_MAX_CHARS


def test_the_readme_links_every_reference_page() -> None:
    linked = {(README.parent / target.split("#")[0]).resolve() for target in _relative_links(README)}
    assert [page.name for page in PAGES if page.resolve() not in linked] == []


@pytest.mark.parametrize("source", [README, *PAGES], ids=lambda path: path.relative_to(ROOT).as_posix())
def test_every_relative_link_points_to_an_existing_file_and_heading(source: Path) -> None:
    broken = []
    for target in _relative_links(source):
        file_part, _, anchor = target.partition("#")
        linked = (source.parent / file_part).resolve() if file_part else source
        if not linked.is_file():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            broken.append(f"{target}: no heading with the id {anchor!r}")
    assert broken == []
