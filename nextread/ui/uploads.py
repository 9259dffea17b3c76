"""File uploads of the dashboard, written straight to a folder under the data dir as they arrive.

:class:`FileInput` is a plain, labelled ``<input type="file">`` that posts the picked file at once:
Quasar's uploader nests its button inside another control and leaves its own input unlabelled, which a
screen reader cannot use (axe: nested-interactive, aria-command-name, label).

NiceGUI's own upload route parses the form with Starlette, which spools each file into the system's
temporary directory and hands it to the page to copy; this route parses the multipart body chunk by
chunk with python-multipart and writes the file part to ``<data_dir>/uploads/<random>/``, so memory
stays at one chunk whatever the file's size. The API's body limit (``NEXTREAD_MAX_UPLOAD_BYTES`` for
these routes) cuts an upload off with 413; the partial file is then removed at once.
"""

from __future__ import annotations

import json
import ntpath
import shutil
import uuid
from collections.abc import Awaitable, Callable, Collection
from pathlib import Path
from typing import IO, Any

from fastapi import HTTPException, Request, status
from nicegui import app, background_tasks, events, ui
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from nextread.sizes import body_too_large
from nextread.ui.context import MOUNT_PATH

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
    url: str,
    data_dir: Path,
    on_saved: Callable[[Path, str], Awaitable[None]],
    on_refused: Callable[[str], None],
) -> None:
    """Serve ``url`` with :func:`save_upload`. ``on_saved`` runs in the background with the saved file
    and its name; ``on_refused`` gets the reason of a refused upload, whose folder is already gone."""

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


# Runs in the browser on each pick: a file of the wrong type or size is named back to the page without
# being sent; any other is posted to the input's own route.
PICKED_JS = """(event) => {
  const file = event.target.files[0];
  if (!file) return;
  const dot = file.name.lastIndexOf('.');
  const suffix = dot < 0 ? '' : file.name.slice(dot).toLowerCase();
  const refused = !%(suffixes)s.includes(suffix) ? 'type' : file.size > %(limit)d ? 'size' : '';
  emit({name: file.name, size: file.size, refused: refused});
  if (refused) { event.target.value = ''; return; }
  const body = new FormData();
  body.append('file', file, file.name);
  fetch(%(url)s, {method: 'POST', body: body}).catch(() => {});
}"""


class FileInput(ui.element):
    """``<input type="file">`` whose pick is streamed to disk (:func:`stream_to_disk`) on a route that
    the body-size limit treats as an upload (``nextread.api.limits.UPLOAD_PATH``). ``on_picked`` hears
    of every pick first (name, size and, when the browser did not send it, ``"type"`` or ``"size"``)."""

    def __init__(
        self,
        suffixes: Collection[str],
        max_bytes: int,
        data_dir: Path,
        on_picked: Callable[[str, int, str], None],
        on_saved: Callable[[Path, str], Awaitable[None]],
        on_refused: Callable[[str], None],
    ) -> None:
        super().__init__("input")
        self.url = f"/_nicegui/client/{self.client.id}/upload/{self.id}"
        self.props(f'type=file accept="{",".join(suffixes)}"')
        script = PICKED_JS % {
            "suffixes": json.dumps(sorted(suffixes)),
            "limit": max_bytes,
            "url": json.dumps(MOUNT_PATH + self.url),
        }

        def picked(event: events.GenericEventArguments) -> None:
            args: dict[str, Any] = event.args
            on_picked(str(args.get("name", "")), int(args.get("size", 0)), str(args.get("refused", "")))

        self.on("change", picked, js_handler=script)
        stream_to_disk(self.url, data_dir, on_saved, on_refused)

    def clear_choice(self) -> None:
        """Forget the picked file, so picking the same one again is a new pick."""
        self.client.run_javascript(f"getHtmlElement({self.id}).value = ''")

    def _handle_delete(self) -> None:
        app.remove_route(self.url)
        super()._handle_delete()
