"""The layers stay one way down (docs/architecture.md). `lint-imports` (scripts/test.sh) checks the
layer contracts of pyproject.toml; these check what a layers contract cannot: no two packages import
each other, even siblings of one layer, and no module reaches for another package's private names."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "nextread"


def top_level(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_no_two_packages_import_each_other() -> None:
    graph = grimp.build_graph("nextread", cache_dir=None)
    packages = sorted({top_level(module) for module in graph.modules if module != "nextread"})
    both_ways = [
        (a, b)
        for a, b in itertools.combinations(packages, 2)
        if graph.direct_import_exists(importer=a, imported=b, as_packages=True)
        and graph.direct_import_exists(importer=b, imported=a, as_packages=True)
    ]
    assert both_ways == []


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def private_imports(module: str, source: str) -> list[str]:
    """``from nextread.<other package>... import _name`` in ``source``; dunder names are public."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (
            not isinstance(node, ast.ImportFrom)
            or node.level
            or not (node.module or "").startswith("nextread")
        ):
            continue
        if top_level(node.module or "") == top_level(module):
            continue
        private = [a.name for a in node.names if a.name.startswith("_") and not a.name.endswith("__")]
        found += [f"{module}:{node.lineno} {node.module}.{name}" for name in private]
    return found


def test_no_module_imports_a_private_name_from_another_package() -> None:
    found = [
        hit
        for path in sorted(PACKAGE.rglob("*.py"))
        for hit in private_imports(module_name(path), path.read_text())
    ]
    assert found == []


def test_the_check_sees_a_private_import_and_lets_a_package_use_its_own() -> None:
    source = "from nextread.api.deps import _hidden, __version__\nfrom nextread.ui.context import _own\n"
    assert private_imports("nextread.ui.probe", source) == ["nextread.ui.probe:1 nextread.api.deps._hidden"]


ADAPTERS = ("api", "ui", "mcp")
QUERY_BUILDERS = {"select", "func", "text", "or_", "and_", "update", "delete", "insert"}


def query_imports(module: str, source: str) -> list[str]:
    """SQLAlchemy's query builders imported in ``source``: an adapter that has them writes SQL itself
    instead of asking a service (the import-linter contract only sees ``nextread.store.models``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            builders = [a.name for a in node.names if a.name in QUERY_BUILDERS]
            found += [f"{module}:{node.lineno} {node.module}.{name}" for name in builders]
    return found


def test_no_adapter_builds_a_query() -> None:
    found = [
        hit
        for adapter in ADAPTERS
        for path in sorted((PACKAGE / adapter).rglob("*.py"))
        for hit in query_imports(module_name(path), path.read_text())
    ]
    assert found == []


def test_the_check_sees_a_query_builder_and_lets_sessions_and_errors_pass() -> None:
    source = (
        "from sqlalchemy import Engine, select\n"
        "from sqlalchemy.orm import Session\n"
        "from sqlalchemy.exc import DBAPIError\n"
        "from sqlalchemy.sql.expression import or_\n"
    )
    assert query_imports("nextread.ui.probe", source) == [
        "nextread.ui.probe:1 sqlalchemy.select",
        "nextread.ui.probe:4 sqlalchemy.sql.expression.or_",
    ]
