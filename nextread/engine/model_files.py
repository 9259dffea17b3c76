"""Model files that cannot run code: a folder holding ``manifest.json``, the arrays in ``arrays.npz``
(read with ``allow_pickle=False``) and text files such as LightGBM's ``model.txt``.

The manifest carries a format version, when the files were written, the caller's metadata (training
settings among them), the model tree (kinds and parameters, naming its arrays and texts) and the
SHA-256 of every other file. Reading refuses an unknown format version, a missing file, a file whose
checksum differs and a model tree that names data the files do not hold, each with an error naming
the file: a model that loads is the model that was written.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from nextread.engine.protocol import SavedModel

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
ARRAYS = "arrays.npz"


class ModelFileError(ValueError):
    """A model folder that is not what its manifest says, or that this nextread cannot read."""


def write_model_files(
    folder: Path, metadata: dict[str, Any], arrays: dict[str, np.ndarray], model: SavedModel | None
) -> None:
    """Write ``folder`` whole or not at all: into a sibling temporary folder first, renamed at the end,
    so a reader never sees half a model. ``arrays`` are the caller's own (e.g. index maps), stored
    beside the model's under ``data/``."""
    tree, model_arrays, texts = (None, {}, {}) if model is None else _flatten(model, "model/")
    all_arrays = {f"data/{name}": value for name, value in arrays.items()} | model_arrays
    for name, value in all_arrays.items():
        if np.asarray(value).dtype.hasobject:
            raise TypeError(f"array {name!r} holds Python objects; model files hold numbers only")
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    np.savez(partial / ARRAYS, **all_arrays)  # type: ignore[arg-type]
    for file_name, text in texts.items():
        (partial / file_name).write_text(text, encoding="utf-8")
    files = [ARRAYS, *texts]
    manifest = {
        "format_version": FORMAT_VERSION,
        "created": datetime.now(UTC).isoformat(),
        "metadata": metadata,
        "arrays": sorted(arrays),
        "model": tree,
        "files": {name: _sha256(partial / name) for name in files},
    }
    (partial / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(partial, folder)


def read_model_files(folder: Path) -> tuple[dict[str, Any], dict[str, np.ndarray], SavedModel | None]:
    """The metadata, the caller's arrays and the model written by :func:`write_model_files`, after
    every check in the module docstring."""
    manifest = _manifest(folder)
    files = manifest["files"]
    for name, expected in files.items():
        path = _inside(folder, name)
        if not path.is_file():
            raise ModelFileError(f"{path}: missing (listed in {folder / MANIFEST})")
        if _sha256(path) != expected:
            raise ModelFileError(f"{path}: checksum differs from {folder / MANIFEST}; the file was changed")
    if ARRAYS not in files:
        raise ModelFileError(f"{folder / MANIFEST}: lists no {ARRAYS}")
    with np.load(folder / ARRAYS, allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    texts = {
        name: (folder / name).read_text(encoding="utf-8") for name in files if name not in (ARRAYS, MANIFEST)
    }
    try:
        data = {name: arrays[f"data/{name}"] for name in manifest["arrays"]}
        model = None if manifest["model"] is None else _unflatten(manifest["model"], arrays, texts)
    except (KeyError, TypeError) as missing:
        raise ModelFileError(f"{folder / MANIFEST}: names data the files do not hold ({missing})") from None
    return manifest["metadata"], data, model


def _manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.is_file():
        raise ModelFileError(f"{path}: missing; {folder} is not a model folder")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        version = manifest.get("format_version") if isinstance(manifest, dict) else None
        raise ModelFileError(
            f"{path}: format version {version!r} is not one this nextread reads ({FORMAT_VERSION})"
        )
    expected = {"created": str, "metadata": dict, "arrays": list, "files": dict}
    for key, kind in expected.items():
        if not isinstance(manifest.get(key), kind):
            raise ModelFileError(f"{path}: {key!r} is missing or not a {kind.__name__}")
    if "model" not in manifest:
        raise ModelFileError(f"{path}: 'model' is missing")
    return manifest


def _inside(folder: Path, name: str) -> Path:
    """A file the manifest lists, which must be a plain name in the folder: never a path elsewhere."""
    if not isinstance(name, str) or Path(name).name != name or name in ("", ".", "..", MANIFEST):
        raise ModelFileError(f"{folder / MANIFEST}: lists {name!r}, which is not a file of the folder")
    return folder / name


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _flatten(model: SavedModel, prefix: str) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, str]]:
    """The model tree for the manifest, its arrays keyed ``prefix + name`` and its texts as files
    named after the same path (the top model's ``model`` text is ``model.txt``)."""
    arrays = {f"{prefix}{name}": value for name, value in model.arrays.items()}
    files = {name: _text_file(prefix, name) for name in model.texts}
    texts = {files[name]: text for name, text in model.texts.items()}
    parts = {}
    for name, part in model.parts.items():
        parts[name], part_arrays, part_texts = _flatten(part, f"{prefix}{name}/")
        arrays |= part_arrays
        texts |= part_texts
    tree = {
        "kind": model.kind,
        "params": model.params,
        "arrays": {name: f"{prefix}{name}" for name in model.arrays},
        "texts": files,
        "parts": parts,
    }
    return tree, arrays, texts


def _text_file(prefix: str, name: str) -> str:
    return (prefix.removeprefix("model/") + name).replace("/", ".") + ".txt"


def _unflatten(tree: dict[str, Any], arrays: dict[str, np.ndarray], texts: dict[str, str]) -> SavedModel:
    return SavedModel(
        kind=tree["kind"],
        params=dict(tree["params"]),
        arrays={name: arrays[key] for name, key in tree["arrays"].items()},
        texts={name: texts[file_name] for name, file_name in tree["texts"].items()},
        parts={name: _unflatten(part, arrays, texts) for name, part in tree["parts"].items()},
    )
