"""The one tabular reader: CSV (any common separator), JSONL and Parquet, for import and evaluation.

``nextread import`` streams rows with :func:`open_rows`; ``nextread evaluate`` loads a whole file as
a table with :func:`read_table` (the same parsing, separator and encoding detection and row checks, so
both accept the same files and reject the same rows). Column aliases live in
:mod:`nextread.ingest.columns`.

Separators: a CSV's separator is whichever of comma, semicolon, tab and bar its first line uses most
outside quotes (Book-Crossing is semicolon-separated, MovieLens 100K tab-separated), or ``::``
(MovieLens 1M's ``.dat`` files, read without quoting), unless given. Encodings: ``utf-8`` is strict
(a line that is not UTF-8 is a row error naming the byte), ``latin-1`` reads any byte, and ``auto``
reads UTF-8 when the whole file is UTF-8 and otherwise Latin-1, saying so in ``RowSource.encoding``
(MovieLens 1M and Book-Crossing are Latin-1). Import defaults to ``utf-8``, evaluation to ``auto``.

Every reader yields ``(line, values)`` pairs one row at a time, so a file of any size is read in
constant memory: no line (nor CSV row spanning lines) longer than ``max_line_bytes`` is ever held.
``values`` is a dict of the row's cells, or a :class:`RowProblem` when the row could not even be read
(bytes that are not UTF-8, a line that is not JSON or over the length limit, a CSV row with bad quoting
or the wrong number of cells, a field over the size limit, a damaged Parquet row group): such a row is
reported and skipped, and the rows after it are still read. Problems that make the whole file
unreadable (missing file, unreadable header, not a Parquet file) raise :class:`FileError` instead.

"line" is the physical line where the row starts for CSV and JSONL (the CSV header is line 1), and the
1-based row number for Parquet.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from collections import deque
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from nextread import sizes

FORMATS = ("csv", "jsonl", "parquet")
EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
# Read-only spellings (an export writes only the formats above): TSV, RecBole's atomic files, MovieLens
# ``u.data`` and ``.dat``, text dumps, and ``.json`` files that hold one object per line.
TAB_EXTENSIONS = frozenset({".tsv", ".tab", ".inter", ".item", ".user"})
READ_EXTENSIONS = {
    **EXTENSIONS,
    **dict.fromkeys(TAB_EXTENSIONS | {".dat", ".data", ".txt"}, "csv"),
    ".json": "jsonl",
}
SEPARATORS = (",", ";", "\t", "|")
DOUBLE_COLON = "::"
# ``::`` is not a separator the csv module can take; each one becomes this control character first.
UNIT_SEPARATOR = "\x1f"
ENCODINGS = ("utf-8", "latin-1", "auto")
ENCODING_SPELLINGS = {"utf8": "utf-8", "latin1": "latin-1", "iso-8859-1": "latin-1", "iso8859-1": "latin-1"}
ENCODING_SCAN_BYTES = 4 * 1024 * 1024
# The csv module aborts the row with a parse error above its limit, so it sits far above the row-level
# limit (max_field_chars): an oversized field is then reported by name instead of as a parse error.
CSV_FIELD_LIMIT = 64 * 1024 * 1024
PARQUET_BATCH_ROWS = 10_000
JSONL_PEEK_LINES = 100
# Large reads: every refill releases the GIL, and with the writer thread busy each release can cost a
# thread switch interval (5 ms), which made small 8 KiB reads dominate a million-row import.
READ_BUFFER = 4 * 1024 * 1024
SKIP_CHUNK = 1024 * 1024
LINE_LIMIT_SETTING = "NEXTREAD_MAX_LINE_BYTES"
DEFAULT_MAX_LINE_BYTES = 1024 * 1024


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


def detect_format(path: Path, explicit: str | None = None, extensions: dict[str, str] = EXTENSIONS) -> str:
    """An explicit format wins, so files with odd extensions (``.txt``, ``.tsv.gz``) still work.
    Readers pass ``READ_EXTENSIONS``; an export names only formats it writes."""
    if explicit:
        fmt = explicit.lower().lstrip(".")
        fmt = "jsonl" if fmt == "ndjson" else fmt
        if fmt not in FORMATS:
            raise FileError(path, f"unknown format {explicit!r}; use one of {', '.join(FORMATS)}")
        return fmt
    fmt = extensions.get(path.suffix.lower())
    if fmt is None:
        raise FileError(
            path, f"cannot tell the format from the extension {path.suffix!r}; use --format csv|jsonl|parquet"
        )
    return fmt


def oversized_field(values: dict[str, Any], max_chars: int) -> RowProblem | None:
    """Huge cells are almost always a broken quote swallowing the rest of the file; reject the row early."""
    found = sizes.oversized_field(values, max_chars)
    if found is None:
        return None
    name, size = found
    return RowProblem(name, sizes.field_limit_reason(size, max_chars), values)


def line_too_long(max_bytes: int) -> str:
    return f"line is longer than the limit of {max_bytes} bytes ({LINE_LIMIT_SETTING})"


@dataclass(frozen=True)
class Encoding:
    """How a file is decoded; ``note`` says why when ``auto`` detection chose Latin-1."""

    name: str = "utf-8"
    note: str | None = None


def resolve_encoding(path: Path, requested: str) -> Encoding:
    """``auto`` scans the whole file once: one stray byte anywhere makes it Latin-1, which reads every
    byte, where strict UTF-8 would reject that byte's row."""
    name = ENCODING_SPELLINGS.get(requested.lower(), requested.lower())
    if name not in ENCODINGS:
        raise FileError(path, f"unknown encoding {requested!r}; use one of {', '.join(ENCODINGS)}")
    if name != "auto":
        return Encoding(name)
    found = first_non_utf8(path)
    if found is None:
        return Encoding("utf-8")
    line, byte = found
    return Encoding("latin-1", f"{path}:{line}: not valid UTF-8 (byte 0x{byte:02x}); read as Latin-1")


def first_non_utf8(path: Path) -> tuple[int, int] | None:
    """The line and value of the first byte that is not UTF-8, or ``None`` when the file is UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines_before = 0
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(ENCODING_SCAN_BYTES)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                return lines_before + exc.object[: exc.start].count(b"\n") + 1, exc.object[exc.start]
            if not chunk:
                return None
            lines_before += chunk.count(b"\n")


def detect_separator(first_line: str, default: str = ",") -> str:
    """The separator the header (or first row) uses most, outside quoted text; ``default`` if none."""
    if DOUBLE_COLON in first_line:
        return DOUBLE_COLON
    unquoted = re.sub(r'"[^"]*"', "", first_line)
    counts = {separator: unquoted.count(separator) for separator in (default, *SEPARATORS)}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else default


@dataclass(frozen=True)
class Dialect:
    """What :func:`sniff` found: the format and, for CSV, the separator and the first line's cells
    (the header, or the first row of a file without one)."""

    format: str
    separator: str = ","
    first_cells: tuple[str, ...] = ()


def sniff(
    path: Path,
    fmt: str | None = None,
    separator: str | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> Dialect:
    """Reads only the first line, so a caller can decide about the header before reading the file."""
    fmt = detect_format(path, fmt, READ_EXTENSIONS)
    if not path.is_file():
        raise FileError(path, "no such file")
    if fmt != "csv":
        return Dialect(fmt)
    with path.open("rb") as handle:
        first = handle.readline(max_line_bytes + 2).removeprefix(codecs.BOM_UTF8)
    text = first.decode("latin-1").rstrip("\r\n")  # any byte, only to find the separator
    default = "\t" if path.suffix.lower() in TAB_EXTENSIONS else ","
    separator = separator or detect_separator(text, default)
    cells = text.split(separator)
    return Dialect(fmt, separator, tuple(cell.strip().strip('"') for cell in cells))


class RowSource:
    """An open file: ``columns`` is known before any row is read, so a mapping can be checked up front."""

    columns: list[str]
    encoding: Encoding = Encoding()

    def __iter__(self) -> Iterator[Row]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> RowSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_rows(
    path: Path,
    fmt: str | None = None,
    max_field_chars: int = 20_000,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    *,
    separator: str | None = None,
    encoding: str = "utf-8",
    column_names: Sequence[str] | None = None,
) -> RowSource:
    """``separator`` (CSV) is detected when not given; ``column_names`` is for a CSV without a header
    line, whose first line is then a row."""
    dialect = sniff(path, fmt, separator, max_line_bytes)
    if dialect.format == "parquet":
        return ParquetSource(path, max_field_chars)
    decoding = resolve_encoding(path, encoding)
    if dialect.format == "jsonl":
        return JsonlSource(path, max_field_chars, max_line_bytes, decoding)
    return CsvSource(path, max_field_chars, max_line_bytes, decoding, dialect.separator, column_names)


class LineTooLong(Exception):
    """Raised by :class:`_BoundedLines` in place of a line over the limit (whose bytes were skipped)."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


class _BoundedLines:
    """Physical lines of a binary file, never more than ``max_bytes`` of one in memory.

    A longer line is skipped to its end in small reads and raises :class:`LineTooLong` in its place;
    reading then goes on with the next line. The first line loses a UTF-8 byte order mark.
    """

    def __init__(self, handle: BinaryIO, max_bytes: int) -> None:
        self._handle = handle
        self.max_bytes = max_bytes
        self.line = 0

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        raw = self._handle.readline(self.max_bytes + 2)  # the limit, then "\r\n" or one byte too many
        if not raw:
            raise StopIteration
        self.line += 1
        if self.line == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        if len(raw) > self.max_bytes and len(raw.rstrip(b"\r\n")) > self.max_bytes:
            if not raw.endswith(b"\n"):
                self._skip_rest_of_line()
            raise LineTooLong(self.line, line_too_long(self.max_bytes))
        return raw

    def _skip_rest_of_line(self) -> None:
        while True:
            chunk = self._handle.readline(SKIP_CHUNK)
            if not chunk or chunk.endswith(b"\n"):
                return


class _Line(NamedTuple):
    number: int
    text: str
    size: int


class _CsvLines:
    """Decoded lines for the csv module, remembering which lines make up the row being parsed, so a
    row that fails (bad quoting, too long) can be rejected alone and its later lines parsed again.

    Lines that are not UTF-8 are decoded with replacement characters so the parser keeps its place;
    the row that contains them is then rejected, naming the line and byte.
    """

    def __init__(self, lines: _BoundedLines, encoding: str, double_colon: bool) -> None:
        self._lines = lines
        self._encoding = encoding
        self._double_colon = double_colon
        self._again: deque[_Line] = deque()
        self.row: list[_Line] = []
        self._row_bytes = 0
        self.bad_lines: dict[int, str] = {}

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = self._again.popleft() if self._again else self._read()
        self.row.append(line)
        self._row_bytes += line.size
        if len(self.row) > 1 and self._row_bytes > self._lines.max_bytes:
            raise LineTooLong(
                self.row[0].number,
                f"the quoted cell that starts here runs on past {self._lines.max_bytes} bytes "
                f"({LINE_LIMIT_SETTING}); is a closing quote missing?",
            )
        return line.text

    def _read(self) -> _Line:
        raw = next(self._lines)
        number = self._lines.line
        try:
            text = raw.decode(self._encoding)
        except UnicodeDecodeError as exc:
            self.bad_lines[number] = _not_utf8(raw, exc)
            text = raw.decode(self._encoding, errors="replace")
        if self._double_colon:
            text = text.replace(DOUBLE_COLON, UNIT_SEPARATOR)
        return _Line(number, text, len(raw))

    def start_row(self) -> None:
        self.row = []
        self._row_bytes = 0

    def read_again_after_first(self) -> None:
        """The failed row's first line is rejected; its other lines are parsed again as rows of their own."""
        self._again.extendleft(reversed(self.row[1:]))


class CsvSource(RowSource):
    """Strict CSV: quotes must be balanced and every row must have as many cells as the header.
    ``::``-separated files (MovieLens) have no quoting."""

    def __init__(
        self,
        path: Path,
        max_field_chars: int,
        max_line_bytes: int,
        encoding: Encoding = Encoding(),
        separator: str = ",",
        column_names: Sequence[str] | None = None,
    ) -> None:
        self.path = path
        self.max_field_chars = max_field_chars
        self.encoding = encoding
        self.separator = separator
        csv.field_size_limit(max(CSV_FIELD_LIMIT, max_field_chars * 4))
        self._handle = path.open("rb", buffering=READ_BUFFER)
        double_colon = separator == DOUBLE_COLON
        self._lines = _CsvLines(_BoundedLines(self._handle, max_line_bytes), encoding.name, double_colon)
        if double_colon:
            self._reader = csv.reader(self._lines, delimiter=UNIT_SEPARATOR, quoting=csv.QUOTE_NONE)
        else:
            self._reader = csv.reader(self._lines, strict=True, delimiter=separator)
        try:
            self.columns = list(column_names) if column_names is not None else self._header()
        except FileError:
            self.close()
            raise

    def _header(self) -> list[str]:
        try:
            header = next(self._reader, None)
        except LineTooLong as exc:
            raise FileError(self.path, exc.reason, 1) from exc
        except csv.Error as exc:
            raise FileError(self.path, f"unreadable header: {exc}", 1) from exc
        if header is None:
            raise FileError(self.path, "the file is empty (expected a header line)")
        if 1 in self._lines.bad_lines:
            raise FileError(self.path, self._lines.bad_lines[1], 1)
        columns = [name.strip() for name in header]
        duplicates = sorted({name for name in columns if columns.count(name) > 1})
        if duplicates:
            raise FileError(self.path, f"duplicate column(s) in the header: {', '.join(duplicates)}", 1)
        return columns

    def __iter__(self) -> Iterator[Row]:
        while True:
            self._lines.start_row()
            try:
                cells = next(self._reader)
            except StopIteration:
                return
            except LineTooLong as exc:
                yield from self._failed_row(exc.line, RowProblem("(line)", exc.reason))
                continue
            except csv.Error as exc:
                yield from self._failed_row(None, RowProblem("(row)", self._quoting(exc)))
                continue
            if cells:
                yield self._lines.row[0].number, self._row(cells)

    def _failed_row(self, line: int | None, problem: RowProblem) -> Iterator[Row]:
        """Only the row's first line is rejected: a stray quote must not take the rows after it along."""
        read = self._lines.row
        if line is not None and (not read or line != read[0].number):
            yield line, problem  # a single over-long line, after the lines of an unfinished row
            if not read:
                return
            problem = RowProblem("(row)", f"a quoted cell that starts here is not closed before line {line}")
        yield read[0].number, problem
        self._lines.read_again_after_first()

    def _quoting(self, exc: csv.Error) -> str:
        read = self._lines.row
        if len(read) > 1:
            return (
                f"bad quoting: the quoted cell that starts here runs on to line {read[-1].number} ({exc}); "
                "is a closing quote missing?"
            )
        return f"bad quoting: {exc}"

    def _row(self, cells: list[str]) -> dict[str, Any] | RowProblem:
        values = dict(zip(self.columns, cells, strict=False))
        bad_lines = self._lines.bad_lines
        for line in self._lines.row if bad_lines else ():
            if line.number in bad_lines:
                return RowProblem("(encoding)", bad_lines.pop(line.number), values)
        if len(cells) != len(self.columns):
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

    def __init__(
        self, path: Path, max_field_chars: int, max_line_bytes: int, encoding: Encoding = Encoding()
    ) -> None:
        self.path = path
        self.max_field_chars = max_field_chars
        self.max_line_bytes = max_line_bytes
        self.encoding = encoding
        self._handle = path.open("rb", buffering=READ_BUFFER)
        try:
            self.columns = self._peek_columns()
        except FileError:
            self.close()
            raise

    def _peek_columns(self) -> list[str]:
        """No columns but an over-long line: the file is not one object per line (or one line is huge)."""
        columns: dict[str, None] = {}
        first_too_long: int | None = None
        for line, values in _limit(self._rows(), JSONL_PEEK_LINES):
            if isinstance(values, dict):
                columns.update(dict.fromkeys(values))
            elif values.field == "(line)" and first_too_long is None:
                first_too_long = line
        if not columns and first_too_long is not None:
            raise FileError(self.path, line_too_long(self.max_line_bytes), first_too_long)
        self._handle.seek(0)
        return list(columns)

    def __iter__(self) -> Iterator[Row]:
        return self._rows()

    def _rows(self) -> Iterator[Row]:
        lines = _BoundedLines(self._handle, self.max_line_bytes)
        while True:
            try:
                raw = next(lines)
            except StopIteration:
                return
            except LineTooLong as exc:
                yield exc.line, RowProblem("(line)", exc.reason)
                continue
            if raw.strip():
                yield lines.line, self._parse(raw)

    def _parse(self, raw: bytes) -> dict[str, Any] | RowProblem:
        try:
            text = raw.decode(self.encoding.name)
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
    """Read one row group at a time: a damaged group rejects its own rows, and the others still land."""

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
        for group in range(self._file.num_row_groups):
            group_rows = self._file.metadata.row_group(group).num_rows
            read = 0
            try:
                for batch in self._file.iter_batches(batch_size=PARQUET_BATCH_ROWS, row_groups=[group]):
                    for values in batch.to_pylist():
                        read += 1
                        yield line + read, oversized_field(values, self.max_field_chars) or values
            except Exception as exc:  # noqa: BLE001 - pyarrow raises OSError, ArrowInvalid… for damaged data
                reason = f"row group {group + 1} of the file is damaged and cannot be read: {exc}"
                for lost in range(read + 1, group_rows + 1):
                    yield line + lost, RowProblem("(file)", " ".join(reason.split()))
            line += group_rows

    def close(self) -> None:
        self._file.close()


# Cells that mean "no value" in a column that is otherwise numbers (as pandas and Arrow read them);
# a text column keeps them as written.
NULL_CELLS = frozenset({"", "NA", "N/A", "n/a", "NULL", "null", "None", "NaN", "nan", "#N/A", "<NA>"})
WHOLE_FILE_FIELD_CHARS = 1_000_000


@dataclass(frozen=True)
class Table:
    """A whole file read by :func:`read_table`, and how it was decoded."""

    table: pa.Table
    encoding: Encoding = Encoding()


def read_table(
    path: Path,
    fmt: str | None = None,
    *,
    separator: str | None = None,
    encoding: str = "auto",
    column_names: Sequence[str] | None = None,
    max_field_chars: int = WHOLE_FILE_FIELD_CHARS,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> Table:
    """The whole file as one table, for evaluation: any row :func:`open_rows` would reject makes the
    file fail, naming the first such line. CSV columns are text (see :func:`infer_types`); JSONL
    columns take their JSON types, a column mixing types becoming text."""
    dialect = sniff(path, fmt, separator, max_line_bytes)
    if dialect.format == "parquet":
        try:
            return Table(pq.read_table(path))
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a file that is not Parquet
            raise FileError(path, f"not a readable Parquet file: {exc}") from exc
    options = {"separator": dialect.separator, "encoding": encoding, "column_names": column_names}
    with open_rows(path, dialect.format, max_field_chars, max_line_bytes, **options) as source:
        rows = _all_rows(source, path)
        columns = dict.fromkeys(source.columns)
        if dialect.format == "jsonl":
            for row in rows:
                columns.update(dict.fromkeys(row))
        arrays = {name: _column([row.get(name) for row in rows]) for name in columns}
        return Table(pa.table(arrays) if arrays else pa.table({}), source.encoding)


def _all_rows(source: RowSource, path: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    first: tuple[int, RowProblem] | None = None
    failed = 0
    for line, values in source:
        if isinstance(values, RowProblem):
            failed += 1
            first = first or (line, values)
        elif not failed:
            rows.append(values)
    if first is not None:
        more = f" ({failed - 1} more row(s) cannot be read)" if failed > 1 else ""
        raise FileError(path, first[1].reason + more, first[0])
    return rows


def _column(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        return pa.array([None if value is None else str(value) for value in values], pa.string())


def infer_types(table: pa.Table, text_columns: Collection[str] = ()) -> pa.Table:
    """Text columns of whole numbers become integers, of numbers floats, of true/false booleans
    (null cells such as ``NA`` and blanks then count as missing); ``text_columns`` (keys such as an
    ISBN, whose leading zeros matter) and any other text stay as written."""
    arrays = [
        column if name in text_columns or not pa.types.is_string(column.type) else _typed(column)
        for name, column in zip(table.column_names, table.columns, strict=True)
    ]
    return pa.table(arrays, names=table.column_names)


def _typed(column: pa.ChunkedArray) -> pa.ChunkedArray:
    cells = pc.if_else(pc.is_in(column, pa.array(sorted(NULL_CELLS))), None, column)
    if cells.null_count == len(cells):
        return column
    for kind in (pa.int64(), pa.float64(), pa.bool_()):
        try:
            return pc.cast(cells, kind)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return column


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
