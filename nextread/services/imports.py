"""Import a file of items, users, groups or interactions into one tenant.

The file is streamed: rows are read, mapped and validated one at a time, and valid rows are written in
batches of ``batch_size``, one transaction per batch. A crash therefore leaves whole batches behind, and
because every write is idempotent (upserts that skip unchanged rows, interactions keyed by ``event_id``)
running the same import again finishes the job without duplicating anything.

Rejected rows never stop the import: each is reported with its file, line, field and reason, and the
good rows around it still land. Only a file that cannot be read at all raises :class:`FileError`, and
that always happens before the first row is written.

:func:`preview_file` is the same import as a dry run, so a person can see what a file will do before
anything is stored: every batch is written in a transaction that is rolled back, which makes the
counts of new, updated, unchanged and rejected rows the database's own answer, not a guess.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import text
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from nextread.config import Settings, get_settings
from nextread.ingest.mapping import (
    KINDS,
    BoundMapping,
    ConversionError,
    Mapping,
    MappingError,
    load_mapping,
    suggest_mapping,
)
from nextread.ingest.readers import READ_EXTENSIONS, FileError, RowProblem, open_rows, sniff
from nextread.observability import IMPORT_DURATION, IMPORT_ROWS, get_logger
from nextread.store.db import session_scope
from nextread.store.models import Group, Item, User
from nextread.store.writes import (
    IdCache,
    WriteResult,
    resolve_ids,
    upsert_groups,
    upsert_items,
    upsert_users,
    write_interactions,
)

log = get_logger("nextread.ingest")
KEEP_ERRORS = 10_000
# SQLite's default 2 MB page cache thrashes once the interactions' indexes outgrow it, and every batch
# then re-reads index pages from the OS; 64 MB keeps a million-row import in memory.
SQLITE_CACHE_KIB = 64 * 1024
# The default checkpoint (every 1000 WAL pages) ran, with an fsync, after nearly every batch commit.
SQLITE_CHECKPOINT_PAGES = 16_384
MAX_ERRORS_PER_ROW = 5
SAMPLE_ROWS = 5
# File types an upload may have: the readers' own list (``.txt`` and ``.dat`` are read as delimited text).
ACCEPTED_SUFFIXES = tuple(READ_EXTENSIONS)
# Suffixes read as delimited text although nothing in the name says so; such a file must show a separator.
PLAIN_TEXT_SUFFIXES = frozenset({".txt", ".dat", ".data"})
STORED = {"items": Item, "users": User, "groups": Group}
Writer = Callable[[Session, int, Sequence[Any]], WriteResult]


@dataclass(frozen=True)
class RowError:
    file: str
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.reason}"


@dataclass
class ImportReport:
    """``written`` rows were inserted or changed, ``unchanged`` were already stored as they are."""

    file: str
    kind: str
    read: int = 0
    written: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[RowError] = field(default_factory=list)
    errors_truncated: bool = False
    ignored_columns: list[str] = field(default_factory=list)
    duration: float = 0.0
    encoding_note: str | None = None
    """Set when ``encoding="auto"`` found the file is not UTF-8 and read it as Latin-1."""
    new: int = 0
    """Of ``written``, the records not stored before; counted by a dry run (:func:`preview_file`) only."""

    def add_error(self, error: RowError) -> None:
        if len(self.errors) < KEEP_ERRORS:
            self.errors.append(error)
        else:
            self.errors_truncated = True

    def write_errors_csv(self, path: Path) -> None:
        """The kept errors (the first ``KEEP_ERRORS``); pass ``errors_path`` to ``import_file`` for all."""
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(ERROR_COLUMNS)
            writer.writerows((e.file, e.line, e.field, e.reason) for e in self.errors)

    def summary(self) -> str:
        return (
            f"{self.file}: read {self.read}, written {self.written}, unchanged {self.unchanged}, "
            f"rejected {self.rejected} in {self.duration:.1f}s"
        )


ERROR_COLUMNS = ("file", "line", "field", "reason")


@dataclass
class _Pending:
    line: int
    model: BaseModel
    raw: dict[str, Any]


class _Sinks:
    """Streams errors and rejected raw rows to files as they happen: a huge bad file costs no memory."""

    def __init__(
        self, report: ImportReport, errors_path: Path | None, rejected_path: Path | None, columns: list[str]
    ) -> None:
        self.report = report
        self._handles: list[IO[str]] = []
        self._errors = self._csv(errors_path, list(ERROR_COLUMNS)) if errors_path else None
        self._rejected: Callable[[dict[str, Any]], None] | None = None
        if rejected_path is not None:
            self._rejected = self._rejected_writer(rejected_path, columns)

    def _open(self, path: Path) -> IO[str]:
        handle = path.open("w", newline="", encoding="utf-8")
        self._handles.append(handle)
        return handle

    def _csv(self, path: Path, header: list[str]) -> Any:
        writer = csv.writer(self._open(path))
        writer.writerow(header)
        return writer

    def _rejected_writer(self, path: Path, columns: list[str]) -> Callable[[dict[str, Any]], None]:
        """Same columns as the source when written as CSV, so the rows can be fixed and imported again."""
        if path.suffix.lower() in {".jsonl", ".ndjson"}:
            handle = self._open(path)
            return lambda raw: handle.write(json.dumps(raw, default=str, ensure_ascii=False) + "\n") and None
        writer = csv.DictWriter(self._open(path), fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        return lambda raw: writer.writerow({k: _cell(v) for k, v in raw.items()}) and None

    def reject(self, line: int, problems: list[tuple[str, str]], raw: dict[str, Any] | None) -> None:
        self.report.rejected += 1
        for name, reason in problems:
            error = RowError(self.report.file, line, name, reason)
            self.report.add_error(error)
            if self._errors is not None:
                self._errors.writerow((error.file, error.line, error.field, error.reason))
        if self._rejected is not None and raw is not None:
            self._rejected(raw)

    def close(self) -> None:
        for handle in self._handles:
            handle.close()


def _cell(value: Any) -> Any:
    return json.dumps(value, default=str, ensure_ascii=False) if isinstance(value, list | dict) else value


def import_file(
    session_factory: sessionmaker[Session],
    tenant_id: int,
    path: Path | str,
    kind: str,
    mapping: str | Path | Mapping = "default",
    batch_size: int = 5000,
    settings: Settings | None = None,
    *,
    fmt: str | None = None,
    errors_path: Path | None = None,
    rejected_path: Path | None = None,
    on_batch: Callable[[ImportReport], None] | None = None,
    encoding: str = "utf-8",
) -> ImportReport:
    """Raises :class:`FileError` (before writing anything) when the file or mapping cannot be used.
    ``on_batch`` sees the report after each written batch (a progress bar). ``encoding`` is strict
    UTF-8 by default (a row that is not is rejected, naming the byte); ``latin-1`` or ``auto`` (see
    :mod:`nextread.ingest.readers`) read a file saved in Latin-1."""
    run = _Run(session_factory, tenant_id, Path(path), kind, mapping, batch_size, settings, fmt, encoding)
    report = run.execute(errors_path=errors_path, rejected_path=rejected_path, on_batch=on_batch)
    _record(report)
    return report


@dataclass
class ImportPreview:
    """What :func:`import_file` would do with the file: the dry run's report (``written`` split into
    ``report.new`` and :attr:`updated`), the columns as mapped and the first valid rows as they would
    be stored."""

    report: ImportReport
    mapping: str
    columns: list[tuple[str, str]]
    """(the file's column, our field), in the file's order; extra columns map to ``extra.<name>``."""
    sample: list[tuple[int, dict[str, Any]]]
    """(line, record) of the first valid rows: the fields the file fills (its id first), not defaults."""
    suggested_mapping: str | None = None

    @property
    def updated(self) -> int:
        return self.report.written - self.report.new

    @property
    def records(self) -> int:
        """Rows the import would store or find already stored: the N of "Import N records"."""
        return self.report.written + self.report.unchanged

    def warnings(self) -> list[str]:
        notes = []
        if self.suggested_mapping:
            notes.append(
                f"The columns fit the {self.suggested_mapping!r} mapping better than {self.mapping!r}."
            )
        if self.report.ignored_columns:
            notes.append("Ignored columns (not in the mapping): " + ", ".join(self.report.ignored_columns))
        if self.report.encoding_note:
            notes.append(self.report.encoding_note)
        if self.report.errors_truncated:
            notes.append(f"Only the first {KEEP_ERRORS:,} rejected rows are listed.")
        return notes


def preview_file(
    session_factory: sessionmaker[Session],
    tenant_id: int,
    path: Path | str,
    kind: str,
    mapping: str | Path | Mapping = "default",
    batch_size: int = 5000,
    settings: Settings | None = None,
    *,
    fmt: str | None = None,
    encoding: str = "utf-8",
    sample_rows: int = SAMPLE_ROWS,
) -> ImportPreview:
    """A dry run of :func:`import_file` that leaves the database as it was. Raises :class:`FileError`
    for the same files; a delimited-text suffix (``.txt``) whose first line has no separator is refused
    here too, since read as one column it could only fail later with a less helpful message."""
    path = Path(path)
    _check_plain_text(path, fmt)
    run = _Run(session_factory, tenant_id, path, kind, mapping, batch_size, settings, fmt, encoding)
    run.sample_rows = sample_rows
    report = run.execute(dry_run=True)
    bound = run.bound
    columns = [(c.source, c.target) for c in bound.columns] + [(n, f"extra.{n}") for n in bound.extra_columns]
    order = {name: index for index, name in enumerate(run.header)}
    columns.sort(key=lambda pair: order.get(pair[0], len(order)))
    return ImportPreview(
        report=report,
        mapping=run.spec.name,
        columns=columns,
        sample=run.sample,
        suggested_mapping=suggest_mapping(kind, run.header, run.spec.name),
    )


def suggested_mapping(path: Path | str, kind: str, current: str, *, fmt: str | None = None) -> str | None:
    """A built-in mapping that fits the file's header better than ``current`` (which may not fit at
    all): what to offer when :func:`preview_file` refused the file's columns."""
    path = Path(path)
    try:
        with open_rows(path, fmt) as source:
            return suggest_mapping(kind, source.columns, current)
    except FileError:
        return None


def accepted_type(name: str) -> bool:
    return Path(name).suffix.lower() in ACCEPTED_SUFFIXES


def _check_plain_text(path: Path, fmt: str | None) -> None:
    if fmt is not None or path.suffix.lower() not in PLAIN_TEXT_SUFFIXES:
        return
    dialect = sniff(path)
    if len(dialect.first_cells) < 2:
        raise FileError(
            path,
            "a text file is read like a CSV, but its first line has no comma, semicolon, tab or | "
            "between column names",
            1,
        )


class _Run:
    """One pass over a file, written for real or rehearsed."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        tenant_id: int,
        path: Path,
        kind: str,
        mapping: str | Path | Mapping,
        batch_size: int,
        settings: Settings | None,
        fmt: str | None,
        encoding: str,
    ) -> None:
        if kind not in KINDS:
            raise FileError(path, f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        try:
            self.spec = load_mapping(mapping)
        except MappingError as exc:
            raise FileError(path, str(exc)) from exc
        self.sessions = session_factory
        self.tenant_id = tenant_id
        self.path = path
        self.kind = kind
        self.batch_size = batch_size
        self.settings = settings or get_settings()
        self.fmt = fmt
        self.encoding = encoding
        self.header: list[str] = []
        self.bound = BoundMapping((), (), None)
        self.sample_rows = 0
        self.sample: list[tuple[int, dict[str, Any]]] = []

    def execute(
        self,
        *,
        dry_run: bool = False,
        errors_path: Path | None = None,
        rejected_path: Path | None = None,
        on_batch: Callable[[ImportReport], None] | None = None,
    ) -> ImportReport:
        started = time.perf_counter()
        report = ImportReport(file=str(self.path), kind=self.kind)
        limits = self.settings.intake.max_field_chars, self.settings.intake.max_line_bytes
        with open_rows(self.path, self.fmt, *limits, encoding=self.encoding) as source:
            report.encoding_note = source.encoding.note
            self.header = source.columns
            self.bound = _bind(self.spec, self.kind, source.columns, self.path)
            report.ignored_columns = self.bound.ignored
            sinks = _Sinks(report, errors_path, rejected_path, source.columns)
            writer = _BatchWriter(
                self.kind, self.settings, self.sessions, self.tenant_id, sinks, on_batch, dry_run=dry_run
            )
            try:
                _run(source, self.bound, KINDS[self.kind], writer, self.batch_size, sinks, self._keep)
            finally:
                try:
                    writer.close()
                finally:
                    sinks.close()
        report.errors.sort(key=lambda error: error.line)
        report.duration = time.perf_counter() - started
        return report

    def _keep(self, pending: _Pending) -> None:
        if len(self.sample) < self.sample_rows:
            record = pending.model.model_dump(exclude_unset=True, exclude_none=True, mode="json")
            self.sample.append(
                (pending.line, {"id": record.pop("id")} | record if "id" in record else record)
            )


def _bind(spec: Mapping, kind: str, columns: list[str], path: Path) -> BoundMapping:
    try:
        return spec.bind(kind, columns)
    except MappingError as exc:
        raise FileError(path, str(exc), 1) from exc


class _BatchWriter:
    """Writes each batch in its own transaction, in file order, so a crash leaves a prefix of whole
    batches.

    A dry run writes each batch in a transaction that is always rolled back, after counting which of
    its records are not stored yet, so the report holds the database's own answer and nothing stays.

    On PostgreSQL the write runs on a background thread while the caller parses and validates the next
    batch: the server then inserts while Python parses, and the driver waits on the network without the
    GIL a few times per batch. On SQLite the driver releases and re-takes the GIL for every row it steps,
    which against a busy parser thread costs more than the overlap gains, so batches are written inline.
    At most one batch is in flight either way, so memory stays bounded.
    """

    def __init__(
        self,
        kind: str,
        settings: Settings,
        session_factory: sessionmaker[Session],
        tenant_id: int,
        sinks: _Sinks,
        on_batch: Callable[[ImportReport], None] | None = None,
        *,
        dry_run: bool = False,
    ) -> None:
        self._on_batch = on_batch
        self._kind = kind
        self._dry_run = dry_run
        # A rehearsal's new users vanish with its rollback, so their ids must not be remembered.
        self._cache = IdCache() if kind == "interactions" and not dry_run else None
        self._write: Writer = (
            partial(
                write_interactions, auto_create_users=settings.intake.auto_create_users, id_cache=self._cache
            )
            if kind == "interactions"
            else {"items": upsert_items, "users": upsert_users, "groups": upsert_groups}[kind]
        )
        self._sessions = session_factory
        self._tenant_id = tenant_id
        self._sinks = sinks
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nextread-import")
        self._dialect = _dialect(session_factory)
        self._overlap = self._dialect == "postgresql" and not dry_run
        self._in_flight: tuple[Future[WriteResult], list[_Pending]] | None = None
        self._new = 0

    def submit(self, batch: list[_Pending]) -> None:
        self.wait()
        if self._overlap:
            self._in_flight = (self._pool.submit(self._write_batch, batch), batch)
        else:
            done: Future[WriteResult] = Future()
            done.set_result(self._write_batch(batch))
            self._in_flight = (done, batch)

    def wait(self) -> None:
        if self._in_flight is None:
            return
        future, batch = self._in_flight
        self._in_flight = None
        result = future.result()
        report = self._sinks.report
        report.written += result.written
        report.unchanged += result.unchanged
        report.new += self._new
        self._new = 0
        for index, (name, reason) in sorted(result.errors.items()):
            pending = batch[index]
            self._sinks.reject(pending.line, [(name, reason)], pending.raw)
        if self._on_batch is not None:
            self._on_batch(report)

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)

    def _write_batch(self, batch: list[_Pending]) -> WriteResult:
        try:
            return self._in_transaction([pending.model for pending in batch])
        except (IntegrityError, DataError) as exc:
            # A value the database refuses although the model accepted it: isolate the row(s) one by one
            # so the rest of the batch still lands and the culprit is reported with its line.
            log.warning("import batch refused by the database; retrying row by row", error=str(exc.orig))
            return self._write_rows(batch)

    def _in_transaction(self, models: list[BaseModel]) -> WriteResult:
        if self._dry_run:
            return self._rehearse(models)
        try:
            with session_scope(self._sessions) as session:
                if self._dialect == "sqlite":
                    session.execute(text(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}"))
                    session.execute(text(f"PRAGMA wal_autocheckpoint = {SQLITE_CHECKPOINT_PAGES}"))
                return self._write(session, self._tenant_id, models)
        except BaseException:
            if self._cache is not None:
                self._cache.items.clear()
                self._cache.users.clear()
            raise

    def _rehearse(self, models: list[BaseModel]) -> WriteResult:
        session = self._sessions()
        try:
            stored = STORED.get(self._kind)
            ids = {model.id for model in models} if stored is not None else set()  # type: ignore[attr-defined]
            known = resolve_ids(session, stored, self._tenant_id, ids) if stored is not None else {}
            result = self._write(session, self._tenant_id, models)
            # Interactions are only ever inserted: every one written is new.
            self._new += len(ids - known.keys()) if stored is not None else result.written
            return result
        finally:
            session.rollback()
            session.close()

    def _write_rows(self, batch: list[_Pending]) -> WriteResult:
        total = WriteResult()
        for index, pending in enumerate(batch):
            try:
                result = self._in_transaction([pending.model])
            except (IntegrityError, DataError) as exc:
                total.errors[index] = ("(row)", f"refused by the database: {str(exc.orig).splitlines()[0]}")
                continue
            total.written += result.written
            total.unchanged += result.unchanged
            if 0 in result.errors:
                total.errors[index] = result.errors[0]
        return total


def _dialect(session_factory: sessionmaker[Session]) -> str:
    bind = session_factory.kw.get("bind")
    return bind.dialect.name if bind is not None else ""


def _run(
    source: Any,
    bound: BoundMapping,
    model: type[BaseModel],
    writer: _BatchWriter,
    batch_size: int,
    sinks: _Sinks,
    keep: Callable[[_Pending], None],
) -> None:
    report = sinks.report
    batch: list[_Pending] = []
    for line, values in source:
        report.read += 1
        if isinstance(values, RowProblem):
            sinks.reject(line, [(values.field, values.reason)], values.values)
            continue
        parsed = _validate(bound, model, values)
        if isinstance(parsed, list):
            sinks.reject(line, parsed, values)
            continue
        pending = _Pending(line, parsed, values)
        keep(pending)
        batch.append(pending)
        if len(batch) >= batch_size:
            writer.submit(batch)
            batch = []
    if batch:
        writer.submit(batch)


def _validate(
    bound: BoundMapping, model: type[BaseModel], values: dict[str, Any]
) -> BaseModel | list[tuple[str, str]]:
    """The API's own model decides what a valid row is; its messages become the report's reasons."""
    try:
        parsed = model.model_validate(bound.apply(values))
    except ConversionError as exc:
        return [(exc.field, exc.reason)]
    except ValidationError as exc:
        return [
            (".".join(str(part) for part in error["loc"]) or "(row)", error["msg"])
            for error in exc.errors()[:MAX_ERRORS_PER_ROW]
        ]
    except (OverflowError, OSError) as exc:  # a number too large for a date, say; one row, not the file
        return [("(row)", f"value out of range: {exc}")]
    return parsed


def _record(report: ImportReport) -> None:
    for outcome in ("written", "unchanged", "rejected"):
        IMPORT_ROWS.labels(kind=report.kind, outcome=outcome).inc(getattr(report, outcome))
    IMPORT_DURATION.labels(kind=report.kind).observe(report.duration)
    log.info(
        "import finished",
        file=report.file,
        kind=report.kind,
        read=report.read,
        written=report.written,
        unchanged=report.unchanged,
        rejected=report.rejected,
        seconds=round(report.duration, 3),
    )
