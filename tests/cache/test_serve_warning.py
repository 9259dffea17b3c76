"""`nextread serve --workers N` warns when the per-process memory cache would serve stale lists."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import nextread.cli
from nextread.config import get_settings


@pytest.mark.parametrize(
    ("cache_url", "workers", "warned"), [("memory://", 2, True), ("memory://", 1, False)]
)
def test_memory_cache_with_several_workers_warns(
    monkeypatch: pytest.MonkeyPatch, cache_url: str, workers: int, warned: bool
) -> None:
    served: list[int] = []
    monkeypatch.setattr(nextread.cli, "_serve", lambda host, port, workers=1: served.append(workers))
    monkeypatch.setenv("NEXTREAD_CACHE_URL", cache_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(nextread.cli.app, ["serve", "--workers", str(workers)])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert served == [workers]
    assert ("memory:// cache is per process" in result.output) is warned


def test_redis_cache_with_several_workers_does_not_warn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nextread.cli, "_serve", lambda host, port, workers=1: None)
    monkeypatch.setenv("NEXTREAD_CACHE_URL", "redis://127.0.0.1:6379/0")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(nextread.cli.app, ["serve", "--workers", "2"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0 and "per process" not in result.output
