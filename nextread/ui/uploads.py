"""File uploads of the dashboard, written straight to a folder under the data dir as they arrive.

NiceGUI's own upload route parses the form with Starlette, which spools each file into the system's
temporary directory and hands it to the page to copy; this route parses the multipart body chunk by
chunk with python-multipart and writes the file part to ``<data_dir>/uploads/<random>/``, so memory
stays at one chunk whatever the file's size. The API's body limit (``NEXTREAD_MAX_UPLOAD_BYTES`` for
these routes) cuts an upload off with 413; the partial file is then removed at once.
"""

from __future__ import annotations

import ntpath
import shutil
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO

from fastapi import HTTPException, Request, status
from nicegui import app, background_tasks, ui
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from nextread.sizes import body_too_large

UPLOADS = "uploads"


class _FirstFile:
    """Multipart callbacks that write the first file part to ``folder`` and drop every other part
    unread, so a huge form field costs no memory either."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.name = ""
        self.path: Path | None = None
        self.complete = False
        self._headers: dict[bytes, bytes] = {}
        self._header = [bytearray(), bytearray()]
        self._target: IO[bytes] | None = None

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self._headers.clear,
            "on_header_field": lambda data, start, end: self._header[0].extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._header[1].extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._open_if_file,
            "on_part_data": self._write,
            "on_part_end": self.close,
            "on_end": self._end,
        }

    def _header_end(self) -> None:
        name, value = self._header
        self._headers[bytes(name).strip().lower()] = bytes(value).strip()
        name.clear()
        value.clear()

    def _open_if_file(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition"))
        filename = options.get(b"filename")
        if filename is None or self.path is not None:
            return
        self.name = ntpath.basename(filename.decode("utf-8", errors="replace")) or "upload"
        self.path = self.folder / f"upload{Path(self.name).suffix.lower()}"
        self._target = self.path.open("wb")

    def _write(self, data: bytes, start: int, end: int) -> None:
        if self._target is not None:
            self._target.write(data[start:end])

    def _end(self) -> None:
        self.complete = True

    def close(self) -> None:
        if self._target is not None:
            self._target.close()
            self._target = None


async def save_upload(request: Request, folder: Path) -> tuple[Path, str]:
    """Writes the request's file into ``folder``; returns its path and the name the browser sent."""
    content_type, options = parse_options_header(request.headers.get("content-type"))
    if content_type != b"multipart/form-data" or b"boundary" not in options:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "expected a multipart/form-data file upload")
    target = _FirstFile(folder)
    parser = MultipartParser(options[b"boundary"], target.callbacks())  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"not a readable file upload: {exc}") from exc
    finally:
        target.close()
    if target.path is None or not target.complete:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the upload holds no complete file")
    return target.path, target.name


def new_upload_folder(data_dir: Path) -> Path:
    folder = data_dir / UPLOADS / uuid.uuid4().hex
    folder.mkdir(parents=True)
    return folder


def stream_to_disk(
    upload: ui.upload,
    data_dir: Path,
    on_saved: Callable[[Path, str], Awaitable[None]],
    on_refused: Callable[[str], None],
) -> None:
    """Serve ``upload``'s route with :func:`save_upload` in place of NiceGUI's. ``on_saved`` runs in the
    background with the saved file and its name; ``on_refused`` gets the reason of a refused upload,
    whose folder is already gone."""
    url = upload.props["url"]
    app.remove_route(url)

    @app.post(url)
    async def receive(request: Request) -> dict[str, str]:
        folder = new_upload_folder(data_dir)
        try:
            path, name = await save_upload(request, folder)
        except BaseException as exc:
            shutil.rmtree(folder, ignore_errors=True)
            refusal = body_too_large(exc) or exc
            if isinstance(refusal, HTTPException):
                on_refused(str(refusal.detail))
                raise refusal from None
            raise
        background_tasks.create(on_saved(path, name), name="import-upload")
        return {"upload": "success"}
