"""One embedder per process, even when a training and a search ask for it at the same moment."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from nextread.config import Settings
from nextread.embed import select as select_module
from nextread.embed.select import get_embedder


@pytest.fixture
def empty_cache() -> Iterator[None]:
    select_module._embedder.cache_clear()
    yield
    select_module._embedder.cache_clear()  # never leave the slow stand-in cached for other tests


def test_concurrent_first_calls_load_the_model_once(
    monkeypatch: pytest.MonkeyPatch, empty_cache: None
) -> None:
    loads: list[int] = []
    loading = threading.Event()

    class SlowToLoad:
        """Stands in for the local model, whose load takes seconds: the window a second caller hits."""

        dimension = 3

        def __init__(self, threads: int = 0) -> None:
            loads.append(threads)
            loading.set()
            threading.Event().wait(0.5)

    monkeypatch.setattr(select_module, "LocalEmbedder", SlowToLoad)
    got: list[object] = []
    first = threading.Thread(target=lambda: got.append(get_embedder(Settings())))
    first.start()
    assert loading.wait(10)
    second = threading.Thread(target=lambda: got.append(get_embedder(Settings())))
    second.start()
    first.join()
    second.join()
    assert len(loads) == 1
    assert got[0] is got[1]
