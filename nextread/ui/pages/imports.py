"""Import: pick a file, see what it would do (a dry run that stores nothing), then import it or cancel;
watch it land, read the row-level report and download the rejected rows to fix and upload again.
Runs the same importer as ``nextread import``.

The upload streams to a file under the data dir (``nextread.ui.uploads``) that stays there between the
preview and the confirm, and is deleted once it is imported or cancelled; only the rejected rows stay,
for the download, until the next sweep of old uploads. Messages name the file as it was picked, never
where the server saved it."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.responses import Response
from nicegui import run, ui

from nextread.services.access import WRITE, Principal
from nextread.services.imports import (
    ACCEPTED_SUFFIXES,
    FileError,
    ImportPreview,
    ImportReport,
    RowError,
    accepted_type,
    import_file,
    preview_file,
    suggested_mapping,
)
from nextread.ui.auth import guard
from nextread.ui.context import api_app, settings
from nextread.ui.layout import frame
from nextread.ui.uploads import UPLOADS, FileInput

KINDS = ["items", "users", "groups", "interactions"]
MAPPINGS = ["default", "goodbooks"]
UI_BATCH_ROWS = 500
SHOWN_ERRORS = 100
KEEP_UPLOADS_SECONDS = 24 * 3600
ACCEPTED_TEXT = (
    "CSV or other delimited text (.csv, .tsv, .txt, .dat), JSON lines (.jsonl, .ndjson, .json) or Parquet"
)
CELL_CHARS = 80


@dataclass
class Upload:
    """A saved upload waiting for its confirm: ``name`` as picked, ``path`` where the server keeps it."""

    path: Path
    name: str

    def public(self, text: str) -> str:
        """``text`` with the server's paths replaced by the file's own name."""
        return text.replace(str(self.path), self.name).replace(str(self.path.parent), "")

    def discard(self) -> None:
        shutil.rmtree(self.path.parent, ignore_errors=True)


@dataclass
class Job:
    """One upload's import, shared between the worker thread and the page's progress timer."""

    upload: Upload
    kind: str
    mapping: str
    total: int
    read: int = 0
    report: ImportReport | None = None
    error: str | None = None
    done: bool = False
    rejected_path: Path = field(init=False)

    def __post_init__(self) -> None:
        suffix = ".jsonl" if self.upload.path.suffix.lower() in {".jsonl", ".ndjson", ".json"} else ".csv"
        self.rejected_path = self.upload.path.with_name(f"rejected-{Path(self.upload.name).stem}{suffix}")

    @property
    def fraction(self) -> float:
        return 1.0 if self.done else min(self.read / self.total, 0.99) if self.total else 0.0


def forget_old_uploads(root: Path, keep_seconds: float = KEEP_UPLOADS_SECONDS) -> None:
    """Rejected rows are only needed while someone looks at the report, and a preview nobody confirmed
    or cancelled (a closed tab) is abandoned."""
    if not root.exists():
        return
    cutoff = time.time() - keep_seconds
    for folder in root.iterdir():
        if folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)


def run_preview(upload: Upload, kind: str, mapping: str, tenant_id: int) -> ImportPreview:
    return preview_file(
        api_app().state.session_factory,
        tenant_id,
        upload.path,
        kind,
        mapping,
        batch_size=UI_BATCH_ROWS,
        settings=settings(),
    )


def run_import(job: Job, tenant_id: int) -> None:
    def progress(report: ImportReport) -> None:
        job.read = report.read

    try:
        job.report = import_file(
            api_app().state.session_factory,
            tenant_id,
            job.upload.path,
            job.kind,
            job.mapping,
            batch_size=UI_BATCH_ROWS,
            settings=settings(),
            rejected_path=job.rejected_path,
            on_batch=progress,
        )
    except (FileError, ValueError) as exc:
        job.error = job.upload.public(exc.reason if isinstance(exc, FileError) else str(exc))
    finally:
        job.done = True


def file_problem(upload: Upload, exc: FileError) -> str:
    where = f" (line {exc.line})" if exc.line is not None else ""
    return f"Could not read {upload.name}{where}: {upload.public(exc.reason)}"


def refused_type(name: str) -> str:
    suffix = Path(name).suffix or "no extension"
    return (
        f"{name} was not read: its type ({suffix}) is not one nextread can import. Accepted: {ACCEPTED_TEXT}."
    )


def cell(value: Any) -> str:
    if isinstance(value, dict):
        text = ", ".join(f"{key}={item}" for key, item in value.items())
    else:
        text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def error_list(errors: list[RowError], total: int) -> None:
    """Rejected rows as a list rather than a table: a reason is long, and a table wider than a phone
    scrolls sideways."""
    ui.label(f"Rejected rows ({total:,})").classes("text-lg font-semibold").props(
        'role="heading" aria-level="3"'
    )
    with ui.element("ul").classes("w-full list-none pl-0").props('data-testid="import-errors"'):
        for error in errors[:SHOWN_ERRORS]:
            with ui.element("li").classes("py-1 border-b border-gray-200 break-words"):
                ui.label(f"Line {error.line} · {error.field}: {error.reason}")
    if total > SHOWN_ERRORS:
        ui.label(f"The first {SHOWN_ERRORS} are shown.").classes("text-sm text-gray-700")


@ui.page("/import")
def import_page() -> Response | None:
    identity = guard(WRITE)
    if not isinstance(identity, Principal):
        return identity
    frame(identity, "Import")
    ui.label(
        "Pick a file to see what it holds and what it would change. Nothing is stored until you press "
        "Import; bad rows are reported by line and the good rows are imported."
    ).classes("max-w-3xl")
    with ui.row().classes("flex-wrap gap-4 items-end"):
        kind = ui.select(KINDS, value="items", label="The file holds").classes("w-48")
        mapping = ui.select(MAPPINGS, value="default", label="Column mapping").classes("w-48")
    state: dict[str, Any] = {"upload": None, "job": None}
    limit = settings().intake.max_upload_bytes
    data_dir = settings().store.data_dir

    def show_error(text: str) -> None:
        status.set_text("")
        problem.set_text(text)
        problem.visible = True

    def picked(name: str, size: int, refused: str) -> None:
        problem.visible = False
        if refused == "type" or not accepted_type(name):
            show_error(refused_type(name))
        elif refused == "size":
            show_error(f"{name} was not read: it is {size:,} bytes, over the limit of {limit:,} bytes.")
        else:
            status.set_text(f"Reading {name}…")

    async def saved(path: Path, name: str) -> None:
        upload = Upload(path, name)
        if state["job"] is not None and not state["job"].done:
            upload.discard()
            show_error(f"{name} was not read: wait for the import that is running to finish.")
            return
        if not accepted_type(name):
            upload.discard()
            show_error(refused_type(name))
            return
        await run.io_bound(forget_old_uploads, data_dir / UPLOADS)
        discard_pending()
        state["upload"] = upload
        await preview()

    def refused(reason: str) -> None:
        show_error(f"Could not upload the file: {reason}")

    def discard_pending() -> None:
        if state["upload"] is not None:
            state["upload"].discard()
            state["upload"] = None

    async def preview() -> None:
        upload: Upload | None = state["upload"]
        if upload is None:
            return
        problem.visible = False
        preview_area.clear()
        report_area.clear()
        status.set_text(f"Checking {upload.name}…")
        try:
            result = await run.io_bound(run_preview, upload, kind.value, mapping.value, identity.tenant_id)
        except FileError as exc:
            better = await run.io_bound(suggested_mapping, upload.path, kind.value, mapping.value)
            show_error(file_problem(upload, exc))
            if better is None:
                discard_pending()
                picker.clear_choice()
                return
            with preview_area:
                offer_mapping(better)
            return
        show_preview(upload, result)

    def offer_mapping(name: str) -> None:
        with ui.row().classes("items-center gap-2 flex-wrap"):
            ui.label(f"The columns fit the {name} mapping.")
            ui.button(f"Use the {name} mapping", on_click=lambda: mapping.set_value(name)).props(
                'data-testid="use-suggested-mapping"'
            )

    def show_preview(upload: Upload, result: ImportPreview) -> None:
        report = result.report
        status.set_text(
            f"Preview of {upload.name}: {report.read:,} read, {report.new:,} new, {result.updated:,} "
            f"updated, {report.unchanged:,} unchanged, {report.rejected:,} rejected. Nothing is stored yet."
        )
        with preview_area, ui.card().classes("w-full max-w-4xl").props('data-testid="import-preview"'):
            ui.label(f"Preview of {upload.name}").classes("text-lg font-semibold").props(
                'role="heading" aria-level="2"'
            )
            with ui.row().classes("gap-x-6 gap-y-1 flex-wrap"):
                for label, count in (
                    ("records read", report.read),
                    ("new", report.new),
                    ("updated", result.updated),
                    ("unchanged", report.unchanged),
                    ("rejected", report.rejected),
                ):
                    ui.label(f"{count:,} {label}").props(f'data-testid="preview-{label.split()[0]}"')
            if result.suggested_mapping:
                offer_mapping(result.suggested_mapping)
            for note in result.warnings():
                ui.label(upload.public(note)).classes("text-amber-900 bg-amber-50 px-2 py-1 rounded")
            show_columns(result)
            show_sample(result)
            if report.errors:
                error_list(report.errors, report.rejected)
            with ui.row().classes("gap-2 flex-wrap"):
                confirm = ui.button(
                    f"Import {plural(result.records, 'record')}" if result.records else "Nothing to import",
                    on_click=lambda: start_import(upload, result),
                ).props('data-testid="import-confirm"')
                confirm.enabled = result.records > 0
                ui.button("Cancel", on_click=cancel).props('flat data-testid="import-cancel"')

    def show_columns(result: ImportPreview) -> None:
        ui.label(f"Column mapping ({result.mapping})").classes("font-semibold").props(
            'role="heading" aria-level="3"'
        )
        with (
            ui.element("ul")
            .classes("list-none pl-0 flex flex-wrap gap-x-4")
            .props('data-testid="preview-columns"')
        ):
            for source, target in result.columns:
                with ui.element("li"):
                    ui.label(f"{source} → {target}")

    def show_sample(result: ImportPreview) -> None:
        if not result.sample:
            return
        ui.label("First rows as they will be stored").classes("font-semibold").props(
            'role="heading" aria-level="3"'
        )
        with ui.column().classes("w-full gap-2").props('data-testid="preview-sample"'):
            for line, record in result.sample:
                with ui.element("div").classes("w-full border rounded p-2 break-words"):
                    ui.label(f"Line {line}").classes("text-sm text-gray-700")
                    ui.label("; ".join(f"{k}: {cell(v)}" for k, v in record.items()))

    def cancel() -> None:
        upload: Upload | None = state["upload"]
        discard_pending()
        preview_area.clear()
        picker.clear_choice()
        if upload is not None:
            status.set_text(f"Cancelled: nothing from {upload.name} was stored.")

    async def start_import(upload: Upload, result: ImportPreview) -> None:
        if state["upload"] is not upload:
            return
        state["upload"] = None
        preview_area.clear()
        job = Job(upload, kind.value, result.mapping, result.report.read)
        state["job"] = job
        progress.set_value(0)
        progress.visible = True
        status.set_text(f"Importing {upload.name}…")
        try:
            await run.io_bound(run_import, job, identity.tenant_id)
        finally:
            upload.path.unlink(missing_ok=True)
            picker.clear_choice()
        show_report(job)

    def tick() -> None:
        job = state["job"]
        if job is not None and not job.done:
            progress.set_value(job.fraction)
            status.set_text(f"Importing {job.upload.name}: {job.read:,} of {job.total:,} rows")

    def show_report(job: Job) -> None:
        progress.visible = False  # the status line says how it ended; a bar mid-animation looked unfinished
        if job.error or job.report is None:
            show_error(f"Could not import {job.upload.name}: {job.error}")
            return
        report = job.report
        status.set_text(
            f"{job.upload.name}: read {report.read:,}, imported {report.written:,}, unchanged "
            f"{report.unchanged:,}, rejected {report.rejected:,} in {report.duration:.1f} s"
        )
        with report_area:
            if not report.errors:
                ui.label("No rejected rows.").classes("text-green-800")
                return
            error_list(report.errors, report.rejected)
            ui.button(
                "Download rejected rows",
                icon="download",
                on_click=lambda: ui.download(job.rejected_path, job.rejected_path.name),
            )

    with ui.column().classes("gap-1 w-full max-w-xl"):
        label = ui.element("label").classes("font-semibold")
        label._text = "File to import"
        picker = FileInput(ACCEPTED_SUFFIXES, limit, data_dir, picked, saved, refused)
        picker.classes(
            "w-full max-w-full file:mr-3 file:rounded file:border-0 file:bg-indigo-700 file:px-4 file:py-2"
            " file:text-white file:cursor-pointer"
        ).props('data-testid="import-file" aria-describedby="import-types"')
        label.props(f'for="c{picker.id}"')
        ui.label(f"Accepted: {ACCEPTED_TEXT}; up to {limit / 2**20:,.0f} MB.").classes(
            "text-sm text-gray-700"
        ).props('id="import-types"')
    progress = ui.linear_progress(value=0, show_value=False).props('aria-label="import progress"')
    progress.visible = False
    status = ui.label("").props('role="status" aria-live="polite" data-testid="import-status"')
    problem = (
        ui.label("").classes("text-red-800 font-semibold").props('role="alert" data-testid="import-problem"')
    )
    problem.visible = False
    preview_area = ui.column().classes("w-full")
    report_area = ui.column().classes("w-full")
    kind.on_value_change(preview)
    mapping.on_value_change(preview)
    ui.timer(0.3, tick)
    return None
