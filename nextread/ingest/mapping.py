"""Column mappings: which column of someone else's file fills which of our fields.

A mapping turns one raw row (a dict of the file's columns) into a dict of our field names, which is then
validated by the same pydantic model the REST API uses (``nextread.schemas``).

Built-in mappings
-----------------
``default``
    Our own field names (what ``nextread export`` writes), for every kind. Lists (``authors``, ``tags``,
    ``members``) may be a JSON array, ``a|b`` or ``a, b``; ``extra`` may be a JSON object. An
    interaction's ``user_id``, ``item_id`` and ``type`` may also come under one of their aliases
    (``userId``, ``User-ID``, ``book_id``, ``event``…, the table in :mod:`nextread.ingest.columns` that
    ``nextread evaluate`` reads too).
``goodbooks``
    ``books.csv`` of goodbooks-10k (items): ``book_id`` → ``id``, ``title``, ``authors`` (comma
    separated), ``isbn`` (zero-padded to 10 characters; ``isbn13`` is ignored because the file stores it
    in lossy float notation such as ``9.78043902348e+12``), ``original_publication_year`` (``2008.0``) →
    ``publication_year``, ``language_code`` → ``language``, ``average_rating``, ``ratings_count``,
    ``image_url`` → ``cover_url``; ``goodreads_book_id``, ``best_book_id`` and ``work_id`` are kept in
    ``extra``, and the series in titles such as ``Catching Fire (The Hunger Games, #2)`` fills
    ``series_name`` and ``series_position``.

Mapping files
-------------
A small JSON or TOML file::

    {"kind": "items",
     "columns": {"Barcode": "id", "Book Title": "title",
                 "Year": {"field": "publication_year", "convert": "int"}},
     "extra_columns": ["Shelf"]}

``columns`` maps *their* column to *our* field, optionally with a named converter (see ``CONVERTERS``).
Columns already named like one of our fields need no entry. ``extra_columns`` are copied into the
``extra`` object (items, users and groups). Any other column is ignored and listed in the report.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from nextread.ingest.columns import find_alias
from nextread.schemas import GroupIn, InteractionIn, ItemIn, UserIn

Converter = Callable[[Any], Any]
KINDS: dict[str, type[BaseModel]] = {
    "items": ItemIn,
    "users": UserIn,
    "groups": GroupIn,
    "interactions": InteractionIn,
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "items": ("id", "title"),
    "users": ("id",),
    "groups": ("id", "name"),
    "interactions": ("user_id", "item_id", "type"),
}
LIST_FIELDS = {"authors", "tags", "members"}
SERIES_IN_TITLE = re.compile(r"\(([^()]+?),?\s*#(\d+(?:\.\d+)?)[^()]*\)\s*$")


class MappingError(ValueError):
    """A mapping that cannot be used with this file or kind; raised before any row is written."""


def json_or_text(value: Any) -> Any:
    """Our exports write lists and objects as JSON in CSV cells; anything else passes through as typed."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def whole_number(value: Any) -> Any:
    """Spreadsheets and pandas write integers as ``2008.0``; accept those, reject real fractions."""
    if isinstance(value, str) and value.strip():
        number = float(value)
        if not number.is_integer():
            raise ValueError(f"expected a whole number, got {value!r}")
        return int(number)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def isbn10(value: Any) -> Any:
    """ISBN-10s lose their leading zeros in spreadsheets (``439023483``); restore them."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip()
    return text.zfill(10) if len(text) < 10 else text


def comma_list(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


CONVERTERS: dict[str, Converter] = {
    "int": whole_number,
    "float": lambda v: float(v) if isinstance(v, str) and v.strip() else v,
    "str": lambda v: v if v is None else str(v),
    "json": json_or_text,
    "comma_list": comma_list,
    "pipe_list": lambda v: [p.strip() for p in v.split("|") if p.strip()] if isinstance(v, str) else v,
    "isbn10": isbn10,
    "lower": lambda v: v.lower() if isinstance(v, str) else v,
}


@dataclass(frozen=True)
class Column:
    source: str
    target: str
    convert: Converter | None = None


@dataclass(frozen=True)
class Mapping:
    """``kind`` None means the mapping fits every kind (the ``default`` one)."""

    name: str
    kind: str | None
    columns: tuple[Column, ...] = ()
    extra_columns: tuple[str, ...] = ()
    derive: Callable[[dict[str, Any]], None] | None = None
    identity: bool = True
    """Columns named like one of our fields map to it unless another column was mapped there."""
    alias_fields: tuple[str, ...] = ()
    """Required fields that a column named like one of their aliases may fill when no column is
    mapped there (:mod:`nextread.ingest.columns`: ``userId``, ``User-ID``, ``book_id``, ``event``…).
    Only keys and event types: a ``name`` column is as often a person as a title, and an optional
    field's column written by another tool (``genres`` as ``a|b``) would reject rows that import today."""

    def bind(self, kind: str, header: list[str]) -> BoundMapping:
        """Check the header once, up front, and precompute the per-row work."""
        if self.kind is not None and self.kind != kind:
            raise MappingError(f"mapping {self.name!r} is for {self.kind}, not {kind}")
        fields = set(KINDS[kind].model_fields)
        present = set(header)
        columns = [c for c in self.columns if c.source in present]
        unknown = sorted({c.target for c in self.columns} - fields)
        if unknown:
            raise MappingError(f"mapping {self.name!r} targets unknown {kind} field(s): {', '.join(unknown)}")
        mapped_sources = {c.source for c in self.columns}
        targets = {c.target for c in columns}
        if self.identity:
            for name in header:
                if name in fields and name not in mapped_sources and name not in targets:
                    columns.append(Column(name, name, _default_converter(name)))
                    targets.add(name)
        for name in REQUIRED[kind]:
            if name in targets or name not in self.alias_fields:
                continue
            used = mapped_sources | {c.source for c in columns}
            source = find_alias(kind, name, [column for column in header if column not in used])
            if source is not None:
                columns.append(Column(source, name, _default_converter(name)))
                targets.add(name)
        extra = tuple(name for name in self.extra_columns if name in present)
        if extra and "extra" not in fields:
            raise MappingError(f"{kind} have no extra field; remove extra_columns from the mapping")
        missing = [name for name in REQUIRED[kind] if name not in targets]
        if missing:
            raise MappingError(_missing_message(self, kind, missing, header))
        used = {c.source for c in columns} | set(extra)
        ignored = [name for name in header if name not in used]
        return BoundMapping(tuple(columns), extra, self.derive, ignored)


@dataclass(frozen=True)
class BoundMapping:
    columns: tuple[Column, ...]
    extra_columns: tuple[str, ...]
    derive: Callable[[dict[str, Any]], None] | None
    ignored: list[str] = field(default_factory=list)

    def apply(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Blank cells are left out, so they mean "use the default" exactly as an absent JSON key does.

        Raises ``ConversionError`` naming our field when a converter rejects a value.
        """
        out: dict[str, Any] = {}
        for column in self.columns:
            value = raw.get(column.source)
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            if column.convert is not None:
                try:
                    value = column.convert(value)
                except (ValueError, TypeError) as exc:
                    raise ConversionError(column.target, str(exc)) from exc
                if value is None:
                    continue
            out[column.target] = value
        if self.extra_columns:
            extra = {n: raw[n] for n in self.extra_columns if raw.get(n) not in (None, "")}
            if extra:
                base = out.get("extra")
                out["extra"] = {**(base if isinstance(base, dict) else {}), **extra}
        if self.derive is not None:
            self.derive(out)
        return out


class ConversionError(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def _default_converter(name: str) -> Converter | None:
    return json_or_text if name in LIST_FIELDS or name == "extra" else None


def _missing_message(mapping: Mapping, kind: str, missing: list[str], header: list[str]) -> str:
    wanted = []
    for target in missing:
        sources = [c.source for c in mapping.columns if c.target == target]
        if mapping.identity:
            sources.append(target)
        wanted.append(" or ".join(repr(s) for s in dict.fromkeys(sources)))
    found = ", ".join(header) if header else "(none)"
    return (
        f"missing required column(s) for {kind} with mapping {mapping.name!r}: {', '.join(wanted)}; "
        f"columns found: {found}"
    )


def series_from_title(row: dict[str, Any]) -> None:
    """Goodreads titles end in ``(Series Name, #2)``: the recommender uses series for its boost."""
    title = row.get("title")
    if not isinstance(title, str) or "series_name" in row:
        return
    match = SERIES_IN_TITLE.search(title)
    if match:
        row["series_name"] = match.group(1).strip()
        row["series_position"] = float(match.group(2))


def goodbooks_row(row: dict[str, Any]) -> None:
    """Goodreads ids stay numbers, so they join with the dataset's other files (tags, ratings)."""
    series_from_title(row)
    extra = row.get("extra")
    if isinstance(extra, dict):
        for key, value in extra.items():
            if isinstance(value, str) and value.isdigit():
                extra[key] = int(value)


DEFAULT = Mapping("default", None, alias_fields=("user_id", "item_id", "type"))
GOODBOOKS = Mapping(
    "goodbooks",
    "items",
    columns=(
        Column("book_id", "id"),
        Column("title", "title"),
        Column("authors", "authors", comma_list),
        Column("isbn", "isbn", isbn10),
        Column("original_publication_year", "publication_year", whole_number),
        Column("language_code", "language"),
        Column("average_rating", "average_rating"),
        Column("ratings_count", "ratings_count", whole_number),
        Column("image_url", "cover_url"),
    ),
    extra_columns=("goodreads_book_id", "best_book_id", "work_id"),
    derive=goodbooks_row,
    identity=False,
)
BUILTIN: dict[str, Mapping] = {m.name: m for m in (DEFAULT, GOODBOOKS)}


def load_mapping(name_or_path: str | Path | Mapping) -> Mapping:
    """A built-in name, or the path of a JSON/TOML mapping file."""
    if isinstance(name_or_path, Mapping):
        return name_or_path
    if str(name_or_path) in BUILTIN:
        return BUILTIN[str(name_or_path)]
    path = Path(name_or_path)
    if not path.is_file():
        raise MappingError(
            f"unknown mapping {str(name_or_path)!r}: not a built-in ({', '.join(BUILTIN)}) and no such file"
        )
    return parse_mapping(path)


def parse_mapping(path: Path) -> Mapping:
    try:
        text = path.read_text(encoding="utf-8")
        spec = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise MappingError(f"{path}: cannot read the mapping: {exc}") from exc
    if not isinstance(spec, dict):
        raise MappingError(f"{path}: a mapping file holds one object with 'kind' and 'columns'")
    kind = spec.get("kind")
    if kind not in KINDS:
        raise MappingError(f"{path}: 'kind' must be one of {', '.join(KINDS)}, got {kind!r}")
    unknown_keys = sorted(set(spec) - {"kind", "columns", "extra_columns"})
    if unknown_keys:
        raise MappingError(f"{path}: unknown key(s) {', '.join(unknown_keys)}")
    columns = tuple(_parse_column(path, source, target) for source, target in spec.get("columns", {}).items())
    extra = spec.get("extra_columns", [])
    if not isinstance(extra, list) or not all(isinstance(name, str) for name in extra):
        raise MappingError(f"{path}: 'extra_columns' must be a list of column names")
    return Mapping(path.name, kind, columns, tuple(extra))


def _parse_column(path: Path, source: str, target: Any) -> Column:
    if isinstance(target, str):
        return Column(source, target, _default_converter(target))
    if isinstance(target, dict) and isinstance(target.get("field"), str):
        name = target.get("convert")
        if name is not None and name not in CONVERTERS:
            known = ", ".join(CONVERTERS)
            raise MappingError(f"{path}: column {source!r}: unknown converter {name!r}; use {known}")
        convert = CONVERTERS[name] if name else _default_converter(target["field"])
        return Column(source, target["field"], convert)
    raise MappingError(f"{path}: column {source!r} must map to a field name or {{'field': …, 'convert': …}}")


def suggest_mapping(kind: str, header: list[str], current: str = "default") -> str | None:
    """The built-in mapping to offer for a file with this header, or ``None`` when ``current`` is best.

    A mapping fits when it binds (the required fields are all there) and one fits better when it leaves
    fewer of the file's columns ignored: goodbooks' ``books.csv`` has no ``id`` column, so ``default``
    does not fit it at all, while ``goodbooks`` maps all but its ratings histogram."""
    ignored: dict[str, int] = {}
    for mapping in BUILTIN.values():
        if mapping.kind not in (None, kind):
            continue
        try:
            ignored[mapping.name] = len(mapping.bind(kind, header).ignored)
        except MappingError:
            continue
    if not ignored:
        return None
    best = min(ignored, key=ignored.__getitem__)
    if best == current or ignored[best] >= ignored.get(current, len(header) + 1):
        return None
    return best
