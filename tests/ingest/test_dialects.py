"""The shared reader: separators, encodings, headerless files, whole-file tables and column aliases."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from nextread.evaluate.data import DataError, load_interactions
from nextread.ingest.columns import column_key, find_alias
from nextread.ingest.mapping import DEFAULT, GOODBOOKS, MappingError
from nextread.ingest.readers import FileError, RowProblem, infer_types, open_rows, read_table, sniff


def rows_of(path: Path, **options: object) -> list[tuple[int, object]]:
    with open_rows(path, **options) as source:  # type: ignore[arg-type]
        return list(source)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("items.csv", 'id;title\n1;"Matilda; a novel"\n2;Holes\n'),
        ("items.tsv", "id\ttitle\n1\tMatilda; a novel\n2\tHoles\n"),
        ("items.txt", "id|title\n1|Matilda; a novel\n2|Holes\n"),
    ],
)
def test_the_separator_is_detected_from_the_header(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    assert rows_of(path) == [
        (2, {"id": "1", "title": "Matilda; a novel"}),
        (3, {"id": "2", "title": "Holes"}),
    ]


def test_double_colon_files_read_without_quoting(tmp_path: Path) -> None:
    path = tmp_path / "movies.dat"
    path.write_text('1::"Toy Story" (1995)::Animation\n2::Heat (1995)::Action\n', encoding="utf-8")
    dialect = sniff(path)
    assert dialect.separator == "::" and dialect.first_cells == ("1", 'Toy Story" (1995)', "Animation")
    rows = rows_of(path, column_names=["item_id", "title", "genres"])
    assert rows[0] == (1, {"item_id": "1", "title": '"Toy Story" (1995)', "genres": "Animation"})
    assert len(rows) == 2


def test_strict_utf8_rejects_the_row_and_auto_reads_latin1_saying_so(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes("id,title\n1,Holes\n2,Les Misérables\n".encode("latin-1"))
    strict = rows_of(path)
    assert strict[0] == (2, {"id": "1", "title": "Holes"})
    problem = strict[1][1]
    assert isinstance(problem, RowProblem) and "not valid UTF-8 (byte 0xe9" in problem.reason
    with open_rows(path, encoding="auto") as source:
        assert source.encoding.name == "latin-1"
        assert source.encoding.note == f"{path}:3: not valid UTF-8 (byte 0xe9); read as Latin-1"
        assert list(source)[1] == (3, {"id": "2", "title": "Les Misérables"})
    assert rows_of(path, encoding="latin1")[1] == (3, {"id": "2", "title": "Les Misérables"})
    utf8 = tmp_path / "utf8.csv"
    utf8.write_text("id,title\n1,Les Misérables\n", encoding="utf-8")
    with open_rows(utf8, encoding="auto") as source:
        assert source.encoding.name == "utf-8" and source.encoding.note is None
    with pytest.raises(FileError, match="unknown encoding 'ebcdic'"):
        open_rows(utf8, encoding="ebcdic")


def test_a_whole_file_table_fails_on_the_first_bad_row_naming_its_line(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text('user,item\na,1\nb,"2\nc,3,4\nd,5\n', encoding="utf-8")
    with pytest.raises(FileError, match=r"ratings.csv:3: bad quoting.*\(1 more row\(s\) cannot be read\)"):
        read_table(path)
    with pytest.raises(DataError, match=r"ratings.csv:3: bad quoting"):
        load_interactions(path)


def test_whole_file_tables_type_their_columns_and_keep_keys_as_text(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text("isbn,count,score,flag,label\n0345,1,2.5,true,NA\n0999,NULL,,false,x\n", encoding="utf-8")
    table = infer_types(read_table(path).table, text_columns={"isbn"})
    assert table.column("isbn").to_pylist() == ["0345", "0999"]
    assert table.column("count").type == pa.int64() and table.column("count").to_pylist() == [1, None]
    assert table.column("score").to_pylist() == [2.5, None]
    assert table.column("flag").to_pylist() == [True, False]
    assert table.column("label").to_pylist() == ["NA", "x"]  # text keeps what was written
    lines = tmp_path / "events.jsonl"
    lines.write_text(
        json.dumps({"id": 1, "tags": ["a"]}) + "\n" + json.dumps({"id": "b2", "extra": 3}) + "\n"
    )
    table = read_table(lines).table
    assert table.column_names == ["id", "tags", "extra"] and table.column("id").to_pylist() == ["1", "b2"]


def test_import_and_evaluate_read_the_same_semicolon_latin1_file(tmp_path: Path) -> None:
    path = tmp_path / "BX-Book-Ratings.csv"
    lines = ['"User-ID";"ISBN";"Book-Rating"'] + [f'"276725";"03454{n}X";"8"' for n in range(5)]
    path.write_bytes("\n".join([*lines, '"276725";"Müller";"9"']).encode("latin-1"))
    with open_rows(path, encoding="auto") as source:
        assert source.columns == ["User-ID", "ISBN", "Book-Rating"]
        assert [values for _, values in source][-1] == {
            "User-ID": "276725",
            "ISBN": "Müller",
            "Book-Rating": "9",
        }
    data = load_interactions(path, threshold=8)
    assert data.matrix.shape == (1, 6)
    assert data.read_notes == (f"{path}:7: not valid UTF-8 (byte 0xfc); read as Latin-1",)


def test_required_fields_come_under_their_aliases_and_optional_ones_do_not() -> None:
    bound = DEFAULT.bind("interactions", ["userId", "Book-ID", "event", "rating"])
    assert {(c.source, c.target) for c in bound.columns} == {
        ("userId", "user_id"),
        ("Book-ID", "item_id"),
        ("event", "type"),
    }
    assert bound.ignored == ["rating"]  # an optional field keeps its own name only
    own = DEFAULT.bind("interactions", ["user_id", "user", "item_id", "type"])
    assert ("user_id", "user_id") in {(c.source, c.target) for c in own.columns} and own.ignored == ["user"]
    with pytest.raises(MappingError, match="missing required column.*'title'"):
        DEFAULT.bind("items", ["id", "name"])  # a name is as often a person's as a book's
    with pytest.raises(MappingError, match="missing required column"):
        GOODBOOKS.bind("items", ["id", "name"])  # a named mapping says exactly which columns it reads


def test_column_keys_ignore_case_and_punctuation() -> None:
    assert column_key("User-ID") == "user_id" and column_key("userId") == "userid"
    assert find_alias("interactions", "item_id", ["rating", "movieId"]) == "movieId"
    assert find_alias("interactions", "item_id", ["rating"]) is None
