"""Mappings and readers on their own (no database): conversions, mapping files, line numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nextread.ingest.mapping import GOODBOOKS, MappingError, load_mapping
from nextread.ingest.readers import FileError, RowProblem, open_rows


def test_goodbooks_mapping_converts_one_row() -> None:
    header = [
        "book_id",
        "goodreads_book_id",
        "isbn",
        "isbn13",
        "authors",
        "original_publication_year",
        "title",
        "language_code",
        "average_rating",
        "ratings_count",
        "image_url",
        "work_id",
    ]
    bound = GOODBOOKS.bind("items", header)
    row = bound.apply(
        {
            "book_id": "7",
            "goodreads_book_id": "5107",
            "isbn": "316769177",
            "isbn13": "9.78031676917e+12",
            "authors": "J.D. Salinger, Someone Else",
            "original_publication_year": "1951.0",
            "title": "Catching Fire (The Hunger Games, #2)",
            "language_code": "",
            "average_rating": "3.79",
            "ratings_count": "2044241",
            "image_url": "https://x/y.jpg",
            "work_id": "3036731",
        }
    )
    assert row == {
        "id": "7",
        "title": "Catching Fire (The Hunger Games, #2)",
        "authors": ["J.D. Salinger", "Someone Else"],
        "isbn": "0316769177",
        "publication_year": 1951,
        "average_rating": "3.79",
        "ratings_count": 2044241,
        "cover_url": "https://x/y.jpg",
        "extra": {"goodreads_book_id": 5107, "work_id": 3036731},
        "series_name": "The Hunger Games",
        "series_position": 2.0,
    }
    assert "isbn13" in bound.ignored


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_a_mapping_file_renames_columns_and_keeps_extras(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"library{suffix}"
    if suffix == ".json":
        path.write_text(
            json.dumps(
                {
                    "kind": "items",
                    "columns": {
                        "Barcode": "id",
                        "Book Title": "title",
                        "Year": {"field": "publication_year", "convert": "int"},
                    },
                    "extra_columns": ["Shelf"],
                }
            )
        )
    else:
        path.write_text(
            'kind = "items"\nextra_columns = ["Shelf"]\n[columns]\nBarcode = "id"\n"Book Title" = "title"\n'
            'Year = { field = "publication_year", convert = "int" }\n'
        )
    mapping = load_mapping(str(path))
    bound = mapping.bind("items", ["Barcode", "Book Title", "Year", "Shelf", "lexile", "Notes"])
    assert bound.apply(
        {"Barcode": "B-1", "Book Title": "Holes", "Year": "1998.0", "Shelf": "A3", "lexile": "660"}
    ) == {
        "id": "B-1",
        "title": "Holes",
        "publication_year": 1998,
        "lexile": "660",
        "extra": {"Shelf": "A3"},
    }
    assert bound.ignored == ["Notes"]


def test_bad_mapping_files_are_clear(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"kind": "books", "columns": {}}))
    with pytest.raises(MappingError, match="'kind' must be one of"):
        load_mapping(str(path))
    path.write_text(json.dumps({"kind": "items", "columns": {"a": {"field": "id", "convert": "magic"}}}))
    with pytest.raises(MappingError, match="unknown converter 'magic'"):
        load_mapping(str(path))
    with pytest.raises(MappingError, match="unknown mapping 'nope'"):
        load_mapping("nope")
    with pytest.raises(MappingError, match="is for items, not users"):
        GOODBOOKS.bind("users", ["book_id"])


def test_csv_lines_count_physical_lines_of_multiline_cells(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text('id,description\n1,"two\nlines"\n\n2,plain\n', encoding="utf-8")
    with open_rows(path) as source:
        assert [line for line, _ in source] == [2, 5]


def test_csv_rows_with_too_many_values_are_row_errors(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text("id,title\n1,a,surplus\n2,b\n", encoding="utf-8")
    with open_rows(path) as source:
        rows = list(source)
    assert isinstance(rows[0][1], RowProblem) and "3 values" in rows[0][1].reason
    assert rows[1] == (3, {"id": "2", "title": "b"})


def test_file_level_problems_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileError, match="no such file"):
        open_rows(tmp_path / "missing.csv")
    with pytest.raises(FileError, match="--format"):
        open_rows(tmp_path / "items.xlsx")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(FileError, match="empty"):
        open_rows(tmp_path / "empty.csv")
    (tmp_path / "fake.parquet").write_text("id,title\n")
    with pytest.raises(FileError, match="Parquet"):
        open_rows(tmp_path / "fake.parquet")
    (tmp_path / "latin.csv").write_bytes("id,tître\n".encode("latin-1"))
    with pytest.raises(FileError, match=r"latin.csv:1: not valid UTF-8"):
        open_rows(tmp_path / "latin.csv")
