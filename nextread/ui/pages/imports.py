"""Import: upload a CSV, JSONL or Parquet file, watch it land, read the row-level report and download
the rejected rows to fix and upload again. Runs the same importer as ``nextread import``.

The upload streams to a file under the data dir (``nextread.ui.uploads``) that is deleted once the
import has run; only the rejected rows stay, for the download, until the next sweep of old uploads."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from fastapi.responses import Response
from nicegui import run, ui

from nextread.ingest.readers import FileError
from nextread.services.access import WRITE, Principal
from nextread.services.imports import ImportReport, import_file
from nextread.ui.auth import guard
from nextread.ui.context import api_app, settings
from nextread.ui.layout import frame
from nextread.ui.uploads import UPLOADS, stream_to_disk

KINDS = ["items", "users", "groups", "interactions"]
MAPPINGS = ["default", "goodbooks"]
UI_BATCH_ROWS = 500
SHOWN_ERRORS = 500
KEEP_UPLOADS_SECONDS = 24 * 3600
ERROR_COLUMNS = [
    {"name": name, "label": name.capitalize(), "field": name, "align": "left"}
    for name in ("line", "field", "reason")
]


@dataclass
class Job:
    """One upload's import, shared between the worker thread and the page's progress timer."""

    path: Path
    kind: str
    mapping: str
    total: int
    name: str = ""
    """The file's name as uploaded (``path`` is where it was saved)."""
    read: int = 0
    report: ImportReport | None = None
    error: str | None = None
    done: bool = False
    rejected_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.name = self.name or self.path.name
        suffix = ".jsonl" if self.path.suffix.lower() in {".jsonl", ".ndjson"} else ".csv"
        self.rejected_path = self.path.with_name(f"rejected-{Path(self.name).stem}{suffix}")

    @property
    def fraction(self) -> float:
        return 1.0 if self.done else min(self.read / self.total, 0.99) if self.total else 0.0


def count_rows(path: Path) -> int:
    """Rows to expect, for the progress bar: Parquet knows; text files are counted by lines. A Parquet
    file that cannot be opened counts 0: the import itself reports why."""
    if path.suffix.lower() == ".parquet":
        try:
            return pq.ParquetFile(path).metadata.num_rows
        except (pa.ArrowException, OSError):
            return 0
    with path.open("rb") as handle:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    return max(lines - (1 if path.suffix.lower() == ".csv" else 0), 1)


def forget_old_uploads(root: Path, keep_seconds: float = KEEP_UPLOADS_SECONDS) -> None:
    """Rejected rows are only needed while someone looks at the report (uploads themselves are deleted
    after their import)."""
    if not root.exists():
        return
    cutoff = time.time() - keep_seconds
    for folder in root.iterdir():
        if folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)


def run_import(job: Job, tenant_id: int) -> None:
    def progress(report: ImportReport) -> None:
        job.read = report.read

    try:
        job.report = import_file(
            api_app().state.session_factory,
            tenant_id,
            job.path,
            job.kind,
            job.mapping,
            batch_size=UI_BATCH_ROWS,
            settings=settings(),
            rejected_path=job.rejected_path,
            on_batch=progress,
        )
    except (FileError, ValueError) as exc:
        job.error = str(exc)
    finally:
        job.done = True


@ui.page("/import")
def import_page() -> Response | None:
    identity = guard(WRITE)
    if not isinstance(identity, Principal):
        return identity
    frame(identity, "Import")
    ui.label("CSV, JSONL or Parquet. Bad rows are reported by line; the good rows are imported.")
    with ui.row().classes("flex-wrap gap-4 items-end"):
        kind = ui.select(KINDS, value="items", label="The file holds").classes("w-48")
        mapping = ui.select(MAPPINGS, value="default", label="Column mapping").classes("w-48")
    progress = ui.linear_progress(value=0, show_value=False).props('aria-label="import progress"')
    progress.visible = False
    status = ui.label("").props('role="status" aria-live="polite" data-testid="import-status"')
    report_area = ui.column().classes("w-full")
    state: dict[str, Any] = {"job": None}

    async def uploaded(path: Path, name: str) -> None:
        try:
            await run.io_bound(forget_old_uploads, settings().store.data_dir / UPLOADS)
            job = Job(path, kind.value, mapping.value, await run.io_bound(count_rows, path), name)
            state["job"] = job
            progress.visible = True
            status.set_text(f"Importing {name}…")
            report_area.clear()
            await run.io_bound(run_import, job, identity.tenant_id)
        finally:
            path.unlink(missing_ok=True)
        show_report(job)

    def refused(reason: str) -> None:
        status.set_text(f"Could not upload the file: {reason}")

    def tick() -> None:
        job = state["job"]
        if job is not None and not job.done:
            progress.set_value(job.fraction)
            status.set_text(f"Importing {job.name}: {job.read:,} of about {job.total:,} rows")

    def show_report(job: Job) -> None:
        progress.set_value(1.0)
        if job.error or job.report is None:
            status.set_text(f"Could not import {job.name}: {job.error}")
            return
        report = job.report
        status.set_text(
            f"{job.name}: read {report.read:,}, imported {report.written:,}, unchanged "
            f"{report.unchanged:,}, rejected {report.rejected:,} in {report.duration:.1f} s"
        )
        with report_area:
            if report.ignored_columns:
                ui.label("Ignored columns: " + ", ".join(report.ignored_columns)).classes("text-sm")
            if not report.errors:
                ui.label("No rejected rows.").classes("text-green-700")
                return
            ui.label(f"Rejected rows ({report.rejected:,})").classes("text-lg font-semibold")
            rows = [
                {"line": e.line, "field": e.field, "reason": e.reason} for e in report.errors[:SHOWN_ERRORS]
            ]
            ui.table(columns=ERROR_COLUMNS, rows=rows, pagination=20).classes("w-full").props(
                'data-testid="import-errors"'
            )
            ui.button(
                "Download rejected rows",
                icon="download",
                on_click=lambda: ui.download(job.rejected_path, job.rejected_path.name),
            )

    limit = settings().intake.max_upload_bytes
    upload = (
        ui.upload(
            label="Choose a file",
            auto_upload=True,
            max_file_size=limit,
            on_rejected=lambda: refused(f"it is larger than the limit of {limit:,} bytes"),
        )
        .props('accept=".csv,.jsonl,.ndjson,.parquet" data-testid="import-upload"')
        .classes("w-full max-w-xl")
    )
    stream_to_disk(upload, settings().store.data_dir, uploaded, refused)
    ui.timer(0.3, tick)
    return None
