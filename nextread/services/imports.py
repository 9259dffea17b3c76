"""Import a file of items, users, groups or interactions into one tenant.

The file is streamed: rows are read, mapped and validated one at a time, and valid rows are written in
batches of ``batch_size``, one transaction per batch. A crash therefore leaves whole batches behind, and
because every write is idempotent (upserts that skip unchanged rows, interactions keyed by ``event_id``)
running the same import again finishes the job without duplicating anything.

Rejected rows never stop the import: each is reported with its file, line, field and reason, and the
good rows around it still land. Only a file that cannot be read at all raises :class:`FileError`, and
that always happens before the first row is written.
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
from nextread.ingest.mapping import KINDS, BoundMapping, ConversionError, Mapping, MappingError, load_mapping
from nextread.ingest.readers import FileError, RowProblem, open_rows
from nextread.observability import IMPORT_DURATION, IMPORT_ROWS, get_logger
from nextread.store.db import session_scope
from nextread.store.writes import (
    IdCache,
    WriteResult,
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
    settings = settings or get_settings()
    path = Path(path)
    if kind not in KINDS:
        raise FileError(path, f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    started = time.perf_counter()
    report = ImportReport(file=str(path), kind=kind)
    try:
        spec = load_mapping(mapping)
    except MappingError as exc:
        raise FileError(path, str(exc)) from exc
    limits = settings.intake.max_field_chars, settings.intake.max_line_bytes
    with open_rows(path, fmt, *limits, encoding=encoding) as source:
        report.encoding_note = source.encoding.note
        bound = _bind(spec, kind, source.columns, path)
        report.ignored_columns = bound.ignored
        sinks = _Sinks(report, errors_path, rejected_path, source.columns)
        writer = _BatchWriter(kind, settings, session_factory, tenant_id, sinks, on_batch)
        try:
            _run(source, bound, KINDS[kind], writer, batch_size, sinks)
        finally:
            try:
                writer.close()
            finally:
                sinks.close()
    report.errors.sort(key=lambda error: error.line)
    report.duration = time.perf_counter() - started
    _record(report)
    return report


def _bind(spec: Mapping, kind: str, columns: list[str], path: Path) -> BoundMapping:
    try:
        return spec.bind(kind, columns)
    except MappingError as exc:
        raise FileError(path, str(exc), 1) from exc


class _BatchWriter:
    """Writes each batch in its own transaction, in file order, so a crash leaves a prefix of whole
    batches.

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
    ) -> None:
        self._on_batch = on_batch
        self._cache = IdCache() if kind == "interactions" else None
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
        self._overlap = self._dialect == "postgresql"
        self._in_flight: tuple[Future[WriteResult], list[_Pending]] | None = None

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
        batch.append(_Pending(line, parsed, values))
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
