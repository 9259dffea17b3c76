"""Streaming readers for CSV, JSONL and Parquet.

Every reader yields ``(line, values)`` pairs one row at a time, so a file of any size is read in
constant memory. ``values`` is a dict of the row's cells, or a :class:`RowProblem` when the row could
not even be read (bytes that are not UTF-8, a line that is not JSON, a field over the size limit): such
a row is reported and skipped, and the rows after it are still read. Problems that make the whole file
unreadable (missing file, unreadable header, not a Parquet file) raise :class:`FileError` instead.

"line" is the physical line where the row starts for CSV and JSONL (the CSV header is line 1), and the
1-based row number for Parquet.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow.parquet as pq

FORMATS = ("csv", "jsonl", "parquet")
EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
# The csv module aborts the row with a parse error above its limit, so it sits far above the row-level
# limit (max_field_chars): an oversized field is then reported by name instead of as a parse error.
CSV_FIELD_LIMIT = 64 * 1024 * 1024
PARQUET_BATCH_ROWS = 10_000
JSONL_PEEK_LINES = 100
# Large reads: every refill releases the GIL, and with the writer thread busy each release can cost a
# thread switch interval (5 ms), which made small 8 KiB reads dominate a million-row import.
READ_BUFFER = 4 * 1024 * 1024


@dataclass(frozen=True)
class RowProblem:
    """Why one row could not be read; ``values`` keeps whatever was decoded, for the rejected-rows file."""

    field: str
    reason: str
    values: dict[str, Any] | None = None


class FileError(Exception):
    """The file cannot be imported at all; the message names the file and, when known, the line."""

    def __init__(self, path: Path | str, reason: str, line: int | None = None) -> None:
        self.path = str(path)
        self.reason = reason
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {reason}")


Row = tuple[int, dict[str, Any] | RowProblem]


def detect_format(path: Path, explicit: str | None = None) -> str:
    """An explicit format wins, so files with odd extensions (``.txt``, ``.tsv.gz``) still work."""
    if explicit:
        fmt = explicit.lower().lstrip(".")
        fmt = "jsonl" if fmt == "ndjson" else fmt
        if fmt not in FORMATS:
            raise FileError(path, f"unknown format {explicit!r}; use one of {', '.join(FORMATS)}")
        return fmt
    fmt = EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise FileError(
            path, f"cannot tell the format from the extension {path.suffix!r}; use --format csv|jsonl|parquet"
        )
    return fmt


def oversized_field(values: dict[str, Any], max_chars: int) -> RowProblem | None:
    """Huge cells are almost always a broken quote swallowing the rest of the file; reject the row early."""
    for name, value in values.items():
        if isinstance(value, str):
            size = len(value)
        elif isinstance(value, list | dict):
            size = len(json.dumps(value, default=str))
        else:
            continue
        if size > max_chars:
            return RowProblem(str(name), f"{size} characters, more than the limit of {max_chars}", values)
    return None


class RowSource:
    """An open file: ``columns`` is known before any row is read, so a mapping can be checked up front."""

    columns: list[str]

    def __iter__(self) -> Iterator[Row]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> RowSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_rows(path: Path, fmt: str | None = None, max_field_chars: int = 20_000) -> RowSource:
    fmt = detect_format(path, fmt)
    if not path.is_file():
        raise FileError(path, "no such file")
    opener = {"csv": CsvSource, "jsonl": JsonlSource, "parquet": ParquetSource}[fmt]
    return opener(path, max_field_chars)


class _DecodedLines:
    """Decodes a binary file line by line as strict UTF-8 and remembers which lines failed.

    Failed lines are decoded with replacement characters so the CSV parser keeps its place; the row that
    contains them is then rejected, naming the line and byte, instead of the whole import crashing.
    """

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self.line = 0
        self.bad_lines: dict[int, str] = {}

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        raw = self._handle.readline()
        if not raw:
            raise StopIteration
        self.line += 1
        if self.line == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.bad_lines[self.line] = _not_utf8(raw, exc)
            return raw.decode("utf-8", errors="replace")


class CsvSource(RowSource):
    def __init__(self, path: Path, max_field_chars: int) -> None:
        self.path = path
        self.max_field_chars = max_field_chars
        csv.field_size_limit(max(CSV_FIELD_LIMIT, max_field_chars * 4))
        self._handle = path.open("rb", buffering=READ_BUFFER)
        self._lines = _DecodedLines(self._handle)
        self._reader = csv.reader(self._lines)
        try:
            header = next(self._reader, None)
        except csv.Error as exc:
            self.close()
            raise FileError(path, f"unreadable header: {exc}", 1) from exc
        if header is None:
            self.close()
            raise FileError(path, "the file is empty (expected a header line)")
        if 1 in self._lines.bad_lines:
            self.close()
            raise FileError(path, self._lines.bad_lines[1], 1)
        self.columns = [name.strip() for name in header]
        duplicates = sorted({name for name in self.columns if self.columns.count(name) > 1})
        if duplicates:
            self.close()
            raise FileError(path, f"duplicate column(s) in the header: {', '.join(duplicates)}", 1)

    def __iter__(self) -> Iterator[Row]:
        last_line = self._reader.line_num
        while True:
            try:
                cells = next(self._reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield self._reader.line_num, RowProblem("(row)", f"CSV parse error: {exc}")
                last_line = self._reader.line_num
                continue
            start, last_line = last_line + 1, self._reader.line_num
            if not cells:
                continue
            yield start, self._row(start, last_line, cells)

    def _row(self, start: int, end: int, cells: list[str]) -> dict[str, Any] | RowProblem:
        values = dict(zip(self.columns, cells, strict=False))
        for line in range(start, end + 1):
            if line in self._lines.bad_lines:
                return RowProblem("(encoding)", self._lines.bad_lines.pop(line), values)
        if len(cells) > len(self.columns):
            return RowProblem(
                "(row)", f"{len(cells)} values but the header has {len(self.columns)} columns", values
            )
        if sum(map(len, cells)) <= self.max_field_chars:  # no single cell can be over the limit
            return values
        return oversized_field(values, self.max_field_chars) or values

    def close(self) -> None:
        self._handle.close()


class JsonlSource(RowSource):
    """One JSON object per line. Columns are those of the first objects (rows may omit optional keys)."""

    def __init__(self, path: Path, max_field_chars: int) -> None:
        self.path = path
        self.max_field_chars = max_field_chars
        self._handle = path.open("rb", buffering=READ_BUFFER)
        self.columns = self._peek_columns()

    def _peek_columns(self) -> list[str]:
        columns: dict[str, None] = {}
        for _, values in _limit(self._rows(), JSONL_PEEK_LINES):
            if isinstance(values, dict):
                columns.update(dict.fromkeys(values))
        self._handle.seek(0)
        return list(columns)

    def __iter__(self) -> Iterator[Row]:
        return self._rows()

    def _rows(self) -> Iterator[Row]:
        for line, raw in enumerate(self._handle, start=1):
            if line == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            if not raw.strip():
                continue
            yield line, self._parse(raw)

    def _parse(self, raw: bytes) -> dict[str, Any] | RowProblem:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return RowProblem("(encoding)", _not_utf8(raw, exc))
        try:
            values = json.loads(text)
        except json.JSONDecodeError as exc:
            return RowProblem("(json)", f"not valid JSON: {exc.msg} at column {exc.colno}")
        if not isinstance(values, dict):
            return RowProblem("(json)", f"expected a JSON object, got {type(values).__name__}")
        return oversized_field(values, self.max_field_chars) or values

    def close(self) -> None:
        self._handle.close()


class ParquetSource(RowSource):
    def __init__(self, path: Path, max_field_chars: int) -> None:
        self.path = path
        self.max_field_chars = max_field_chars
        try:
            self._file = pq.ParquetFile(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a file that is not Parquet
            raise FileError(path, f"not a readable Parquet file: {exc}") from exc
        self.columns = list(self._file.schema_arrow.names)

    def __iter__(self) -> Iterator[Row]:
        line = 0
        for batch in self._file.iter_batches(batch_size=PARQUET_BATCH_ROWS):
            for values in batch.to_pylist():
                line += 1
                yield line, oversized_field(values, self.max_field_chars) or values

    def close(self) -> None:
        self._file.close()


def _not_utf8(raw: bytes, exc: UnicodeDecodeError) -> str:
    return (
        f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
        "save the file as UTF-8 (it may be Latin-1 or Windows-1252)"
    )


def _limit(rows: Iterable[Row], count: int) -> Iterator[Row]:
    for index, row in enumerate(rows):
        if index >= count:
            return
        yield row
