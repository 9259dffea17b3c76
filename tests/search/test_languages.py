"""Languages match by code however a catalogue wrote them, on real goodbooks-10k rows: Goodreads tags most
English books ``eng`` (ISO 639-2), others ``en-US``, ``en-GB`` or ``en-CA``."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from nextread.config import Settings
from nextread.search.languages import language_key, parse_language
from nextread.services.imports import import_file
from nextread.store.tenants import ensure_tenant
from tests.conftest import SHARED_DATA, Database

GOODBOOKS = SHARED_DATA / "goodbooks-10k" / "books.csv"
ROWS = 1000
ENGLISH = {"eng", "en-US", "en-GB", "en-CA", "en"}


@pytest.mark.parametrize("written", ["en", "eng", "EN-us", "en_GB", "English", "english", " en "])
def test_every_way_of_writing_english_is_one_key(written: str) -> None:
    assert language_key(written) == parse_language(written) == "en"


def test_codes_of_other_registers_and_names_in_their_own_language() -> None:
    assert [language_key(code) for code in ("fre", "ger", "spa", "español", "iw")] == [
        "fr",
        "de",
        "es",
        "es",
        "he",
    ]
    # What is not a language still matches itself, as stored; asked for, it is refused.
    assert language_key("Zorblax") == "zorblax" and language_key(None) == ""
    with pytest.raises(ValueError, match="not a language"):
        parse_language("Engish")


@pytest.fixture
def goodbooks(database: Database, settings: Settings, tmp_path: Path) -> Counter[str]:
    """The first goodbooks rows imported as the goodbooks mapping reads them; their language tags."""
    if not GOODBOOKS.is_file():
        pytest.fail(f"goodbooks-10k is missing at {GOODBOOKS}")
    with GOODBOOKS.open(encoding="utf-8") as handle:
        lines = handle.readlines()[: ROWS + 1]
    subset = tmp_path / "books.csv"
    subset.write_text("".join(lines), encoding="utf-8")
    with database.sessions() as session:
        tenant_id = ensure_tenant(session, settings.store.default_tenant).id
        session.commit()
    report = import_file(
        database.sessions, tenant_id, subset, "items", settings=settings, mapping="goodbooks"
    )
    assert report.written == ROWS, report.errors[:3]
    return Counter(row["language_code"] for row in csv.DictReader(lines))


def _all_hits(client: TestClient, language: str) -> tuple[int, list[dict]]:
    hits: list[dict] = []
    while True:
        params = {"q": "books", "language": language, "limit": "100", "offset": str(len(hits))}
        body = client.get("/v1/search", params=params).json()
        hits += body["data"]
        if not body["data"] or len(hits) >= body["total"]:
            return body["total"], hits


def _total(client: TestClient, language: str) -> int:
    return client.get("/v1/search", params={"q": "books", "language": language, "limit": "1"}).json()["total"]


def test_en_finds_books_tagged_eng_en_us_and_en_gb(goodbooks: Counter[str], client: TestClient) -> None:
    english = sum(count for code, count in goodbooks.items() if code in ENGLISH)
    assert goodbooks["eng"] > goodbooks["en-US"] > goodbooks["en-GB"] > 0
    total, hits = _all_hits(client, "en")
    assert total == len(hits) == english
    # Stored as given: the hits still say eng / en-US / en-GB.
    assert {hit["language"] for hit in hits} >= {"eng", "en-US", "en-GB"}
    for other in ("eng", "EN-us", "English"):
        assert _total(client, other) == english
    assert client.get("/v1/search", params={"q": "books", "language": "eng"}).json()["filters"][
        "language"
    ] == ["en"]
    assert _total(client, "es") == goodbooks["spa"] > 0


def test_a_language_that_is_none_is_a_422_naming_it(client: TestClient) -> None:
    response = client.get("/v1/search", params={"q": "books", "language": "en,Engish"})
    assert response.status_code == 422
    assert "language" in response.json()["detail"] and "Engish" in response.json()["detail"]
