"""Interactions from any file a user brings, turned into the binary user×item matrix the protocol needs.

Files are read by the reader ``nextread import`` uses (:mod:`nextread.ingest.readers`): CSV/TSV with
any common separator, MovieLens ``::`` files, Parquet, JSON Lines and RecBole atomic ``.inter`` files,
UTF-8 or (detected, and reported in ``InteractionData.read_notes``) Latin-1. Column names are matched
against the shared alias table (``user_id:token`` → ``user_id``, ``userId``, ``User-ID``) and can be
overridden, so a new dataset needs no code. Item levels are on the grade-equivalent scale serving uses
(:mod:`nextread.levels`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from nextread.ingest.columns import ALIASES, FIELD_WORDS, column_key, spellings
from nextread.ingest.readers import FileError, infer_types, sniff
from nextread.ingest.readers import read_table as read_whole_file
from nextread.levels import item_levels

# The store's positive types (its default type weights), and what shops and apps call the same
# commitment, count as a "like" when binarising; views and clicks do not. Compared in lower case.
DEFAULT_POSITIVE_TYPES = frozenset(
    {"checkout", "finished", "like", "save", "share"}
    | {"purchase", "transaction", "buy", "order", "addtocart", "add_to_cart", "cart", "favorite", "favourite"}
)
# Rows of these types carry an explicit rating in the value column, judged against the threshold.
RATING_TYPES = frozenset({"rating", "rate", "review"})

# Each role of an interactions file is one of our interaction fields; its spellings are the field's
# aliases (nextread.ingest.columns), shared with ``nextread import``.
ROLE_FIELDS = {
    "user": "user_id",
    "item": "item_id",
    "rating": "value",
    "timestamp": "timestamp",
    "type": "type",
}


HEADERLESS_RATINGS = ("user_id", "item_id", "rating", "timestamp")
HEADERLESS_ITEMS = ("item_id", "title", "genres")
NUMBER = re.compile(r"[-+]?\d+(\.\d*)?")


class DataError(ValueError):
    """Bad input, with the file and the column at fault in the message."""


@dataclass(frozen=True)
class Columns:
    """Explicit column names; ``None`` means auto-detect."""

    user: str | None = None
    item: str | None = None
    rating: str | None = None
    timestamp: str | None = None
    type: str | None = None


@dataclass(frozen=True)
class InteractionData:
    """Binary positives of the kept users. ``timestamps`` is aligned with ``matrix.data`` (CSR order) and
    holds the first positive event of each pair; ``item_levels`` is NaN where an item has no level."""

    matrix: sp.csr_matrix
    user_ids: np.ndarray
    item_ids: np.ndarray
    timestamps: np.ndarray | None = None
    item_levels: np.ndarray | None = None
    name: str = "dataset"
    notes: dict[str, int] = field(default_factory=dict)
    item_rows: tuple[dict[str, Any], ...] | None = None
    """The items file's row for each item index ({} where absent): what the served hybrid reads."""
    consumed: sp.csr_matrix | None = None
    """Pairs the reader rated below the threshold and never liked: never a target, excluded from every
    model's list like the fold-in, and weak evidence a model may read. ``None`` when there are none."""
    consumed_times: np.ndarray | None = None
    """Aligned with ``consumed.data``: each pair's first event, so the time split can cut it too."""
    user_rows: tuple[dict[str, Any], ...] | None = None
    """The users file's profile for each user index ({} where absent): stated interests and reading
    level, which serving reads from the user's record rather than from their interactions."""
    read_notes: tuple[str, ...] = ()
    """What reading the files had to decide, such as a file read as Latin-1 because it is not UTF-8."""

    @property
    def n_users(self) -> int:
        return self.matrix.shape[0]

    @property
    def n_items(self) -> int:
        return self.matrix.shape[1]


@dataclass(frozen=True)
class ReadFile:
    """A file's table and what reading it had to decide (an encoding fallback), for the report."""

    table: pa.Table
    notes: tuple[str, ...] = ()


def read_table(path: Path) -> ReadFile:
    """RecBole's ``name:type`` headers are reduced to ``name``. A first line with two or more numbers
    is data, not a header: its columns get MovieLens's ratings names (user_id, item_id, rating,
    timestamp), and a numeric key with two more text columns its movies names (item_id, title, genres).
    Key columns stay text, so an ISBN or ASIN keeps its leading zeros."""
    if not path.exists():
        raise DataError(f"{path}: file not found")
    try:
        dialect = sniff(path)
        names = headerless_names(dialect.first_cells) if dialect.format == "csv" else None
        read = read_whole_file(path, dialect.format, separator=dialect.separator, column_names=names)
    except FileError as error:
        raise DataError(str(error)) from error
    table = read.table.rename_columns([name.split(":", 1)[0].strip() for name in read.table.column_names])
    table = infer_types(table, _id_columns(table.column_names))
    return ReadFile(table, () if read.encoding.note is None else (read.encoding.note,))


def headerless_names(first_cells: tuple[str, ...]) -> list[str] | None:
    numbers = sum(bool(NUMBER.fullmatch(cell)) for cell in first_cells)
    if numbers >= 2 and len(first_cells) <= 4:
        return list(HEADERLESS_RATINGS[: len(first_cells)])
    if len(first_cells) == 3 and NUMBER.fullmatch(first_cells[0]):
        return list(HEADERLESS_ITEMS)
    return None


def _id_columns(names: list[str]) -> list[str]:
    """The columns that would be taken as user and item keys."""
    empty = pa.table({name: pa.array([], pa.null()) for name in dict.fromkeys(names)})
    found = [resolve_column(empty, role, None, Path(), required=False) for role in ("user", "item")]
    return [name for name in found if name is not None]


def resolve_column(
    table: pa.Table,
    role: str,
    override: str | None,
    path: Path,
    required: bool,
    taken: tuple[str | None, ...] = (),
    guess: bool = True,
) -> str | None:
    """An override must exist; otherwise the first known spelling wins (case and punctuation aside),
    then, if ``guess``, the first column not ``taken`` by another role whose name holds a role word."""
    by_lower = {name.lower(): name for name in table.column_names}
    if override is not None:
        if override.lower() not in by_lower:
            raise DataError(f"{path}: column {override!r} for {role} not found; have {table.column_names}")
        return by_lower[override.lower()]
    free = [name for name in table.column_names if name not in taken]
    keys = {name: column_key(name) for name in free}
    candidates = spellings("interactions", ROLE_FIELDS[role])
    for candidate in candidates:
        for name in free:
            if keys[name].replace("_", "") == candidate.replace("_", ""):
                return name
    for name in free if guess else ():
        if any(word in keys[name] for word in FIELD_WORDS.get(ROLE_FIELDS[role], ())):
            return name
    if required:
        raise DataError(
            f"{path}: no {role} column (tried {', '.join(candidates)}); "
            f"pass it explicitly, columns are {table.column_names}"
        )
    return None


def as_seconds(column: pa.ChunkedArray, path: Path) -> np.ndarray:
    """Numbers are taken as epoch seconds; strings and timestamps are parsed as ISO datetimes."""
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        return column.to_numpy(zero_copy_only=False).astype(np.float64)
    try:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            column = pc.cast(column, pa.timestamp("us", tz="UTC"))
        epoch_us = pc.cast(pc.cast(column, pa.timestamp("us", tz="UTC")), pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise DataError(f"{path}: timestamp column is not a number or ISO datetime ({error})") from error
    return epoch_us.to_numpy(zero_copy_only=False).astype(np.float64) / 1e6


def consumed_mask(table: pa.Table, type_column: str | None, positive: np.ndarray) -> np.ndarray:
    """Ratings below the threshold: the reader had the item without liking it. In an untyped file
    that is every non-positive row; in a typed file, the rating-type rows (a view, a return or an
    abandon is left out, as serving gives those their own type weights)."""
    if type_column is None:
        return ~positive
    return ~positive & np.isin(event_types(table, type_column), sorted(RATING_TYPES))


def event_types(table: pa.Table, type_column: str) -> np.ndarray:
    return np.char.lower(np.asarray(table[type_column].to_pylist(), dtype=object).astype(str))


def positive_mask(
    table: pa.Table,
    rating_column: str | None,
    type_column: str | None,
    threshold: float,
    positive_types: frozenset[str],
) -> np.ndarray:
    """Typed events: a positive type, or a rating-type event at/above the threshold. Untyped events: the
    rating threshold, or every row when the file carries no rating (already implicit feedback)."""
    ratings = None
    if rating_column is not None:
        ratings = table[rating_column].to_numpy(zero_copy_only=False).astype(np.float64)
    if type_column is None:
        return np.ones(table.num_rows, dtype=bool) if ratings is None else ratings >= threshold
    types = event_types(table, type_column)
    mask = np.isin(types, sorted(kind.lower() for kind in positive_types))
    if ratings is not None:
        mask |= np.isin(types, sorted(RATING_TYPES)) & (np.nan_to_num(ratings, nan=-np.inf) >= threshold)
    return mask


def load_interactions(
    path: Path | str,
    columns: Columns = Columns(),
    threshold: float = 4.0,
    positive_types: frozenset[str] = DEFAULT_POSITIVE_TYPES,
    min_user_positives: int = 5,
    items_path: Path | str | None = None,
    users_path: Path | str | None = None,
) -> InteractionData:
    """Load, binarise and filter. Only users are k-cored: the protocol needs enough history per held-out
    user to split it, while rare items are part of the catalog a model must rank."""
    path = Path(path)
    read = read_table(path)
    table = read.table
    user_col = resolve_column(table, "user", columns.user, path, required=True)
    item_col = resolve_column(table, "item", columns.item, path, required=True, taken=(user_col,))
    roles = (user_col, item_col)
    rating_col = resolve_column(table, "rating", columns.rating, path, required=False, taken=roles)
    time_col = resolve_column(table, "timestamp", columns.timestamp, path, required=False, taken=roles)
    type_col = resolve_column(table, "type", columns.type, path, required=False, taken=roles)
    keep = positive_mask(table, rating_col, type_col, threshold, positive_types)
    users = np.asarray(table[user_col].to_pylist(), dtype=object).astype(str)
    items = np.asarray(table[item_col].to_pylist(), dtype=object).astype(str)
    times = as_seconds(table[time_col], path) if time_col is not None else None
    data = from_arrays(users, items, times, min_user_positives, name=path.stem, positive=keep)
    consumed = consumed_mask(table, type_col, keep)
    data = with_consumed(data, users[consumed], items[consumed], None if times is None else times[consumed])
    data = replace(data, read_notes=read.notes)
    if items_path is not None:
        data = with_item_levels(data, Path(items_path))
    if users_path is not None:
        data = with_user_profiles(data, Path(users_path))
    return data


def from_arrays(
    users: np.ndarray,
    items: np.ndarray,
    times: np.ndarray | None = None,
    min_user_positives: int = 5,
    name: str = "dataset",
    positive: np.ndarray | None = None,
) -> InteractionData:
    """Positive events (possibly repeated) → deduplicated matrix; also the entry point for the store.
    ``positive`` masks the positives among the events given (default: all of them)."""
    if positive is not None:
        users, items = users[positive], items[positive]
        times = times[positive] if times is not None else None
    n_events = len(users)
    order = np.argsort(times, kind="stable") if times is not None else np.arange(n_events)
    users, items = users[order], items[order]
    user_ids, user_index = np.unique(users, return_inverse=True)
    item_ids, item_index = np.unique(items, return_inverse=True)
    pair = user_index.astype(np.int64) * len(item_ids) + item_index
    _, first = np.unique(pair, return_index=True)  # earliest positive of each pair
    user_index, item_index = user_index[first], item_index[first]
    pair_times = times[order][first] if times is not None else None
    per_user = np.bincount(user_index, minlength=len(user_ids))
    kept = per_user[user_index] >= min_user_positives
    if not kept.any():
        raise DataError(f"{name}: no user has {min_user_positives} or more positive interactions")
    return build(user_ids, item_ids, user_index[kept], item_index[kept], pair_times, kept, name, n_events)


def build(
    user_ids: np.ndarray,
    item_ids: np.ndarray,
    user_index: np.ndarray,
    item_index: np.ndarray,
    pair_times: np.ndarray | None,
    kept: np.ndarray,
    name: str,
    n_events: int,
) -> InteractionData:
    """Re-index to the surviving users and items, CSR rows sorted so timestamps stay aligned."""
    used_users, user_index = np.unique(user_index, return_inverse=True)
    used_items, item_index = np.unique(item_index, return_inverse=True)
    order = np.lexsort((item_index, user_index))
    shape = (len(used_users), len(used_items))
    indptr = np.concatenate([[0], np.cumsum(np.bincount(user_index, minlength=shape[0]))])
    matrix = sp.csr_matrix(
        (np.ones(len(order), dtype=np.float32), item_index[order].astype(np.int32), indptr), shape=shape
    )
    timestamps = pair_times[kept][order] if pair_times is not None else None
    notes = {"positive_events": int(n_events), "positive_pairs": int(matrix.nnz)}
    return InteractionData(matrix, user_ids[used_users], item_ids[used_items], timestamps, None, name, notes)


def with_consumed(
    data: InteractionData, users: np.ndarray, items: np.ndarray, times: np.ndarray | None
) -> InteractionData:
    """Attach the consumed-but-not-liked events of the kept users on catalog items, one cell per pair
    (its first event) and none where the pair is a positive."""
    rows, columns = _positions(data.user_ids, users), _positions(data.item_ids, items)
    known = (rows >= 0) & (columns >= 0)
    rows, columns = rows[known], columns[known]
    order_times = times[known] if times is not None else np.zeros(len(rows))
    first = np.lexsort((order_times, columns, rows))
    pair = rows[first].astype(np.int64) * data.n_items + columns[first]
    unique = np.concatenate([[True], pair[1:] != pair[:-1]]) if len(pair) else np.zeros(0, dtype=bool)
    positive = data.matrix.tocoo()
    liked = positive.row.astype(np.int64) * data.n_items + positive.col
    keep = first[unique][~np.isin(pair[unique], liked)]
    if not len(keep):
        return data
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows[keep], minlength=data.n_users))])
    cells = (np.ones(len(keep), dtype=np.float32), columns[keep].astype(np.int32), indptr)
    matrix = sp.csr_matrix(cells, shape=data.matrix.shape)
    notes = {**data.notes, "consumed_pairs": int(matrix.nnz)}
    consumed_times = order_times[keep] if times is not None else None
    return replace(data, consumed=matrix, consumed_times=consumed_times, notes=notes)


def _positions(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Index of each id in ``sorted_ids`` (as ``np.unique`` returns them), −1 when absent."""
    if not len(sorted_ids) or not len(ids):
        return np.full(len(ids), -1, dtype=np.int64)
    found = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
    return np.where(sorted_ids[found] == ids, found, -1)


def item_level_values(item_rows: Sequence[Mapping[str, Any]]) -> np.ndarray | None:
    """Each item's level on the grade-equivalent scale, from the same fields and with the same
    precedence as the served catalogue (Lexile, guided reading letter, estimate, grade range, age
    range), so the level-fit figure measures the band serving uses. ``None`` when no level is known."""
    levels = item_levels(
        _numbers(item_rows, "lexile"),
        [_letter(row.get("guided_reading_level")) for row in item_rows],
        _numbers(item_rows, "grade_min"),
        _numbers(item_rows, "grade_max"),
        _numbers(item_rows, "age_min"),
        _numbers(item_rows, "age_max"),
        _numbers(item_rows, "estimated_level"),
    )
    return None if np.isnan(levels).all() else levels


def _numbers(rows: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    """A value that is not a number ("BR200L" in a lexile column) is unknown, as a blank is."""
    values = np.full(len(rows), np.nan)
    for index, row in enumerate(rows):
        try:
            values[index] = float(row[key]) if row.get(key) is not None else np.nan
        except (TypeError, ValueError):
            continue
    return values


def _letter(value: Any) -> str | None:
    """A guided reading letter ("M", "m", "Z+"); anything else (a number, "AA") is unknown."""
    text = str(value).strip().upper().rstrip("+") if value is not None else ""
    return text if len(text) == 1 and "A" <= text <= "Z" else None


LIST_SEPARATORS = re.compile(r"\s*[|,;]\s*")
YEAR = re.compile(r"(1[5-9]|20)\d\d")
TITLE_YEAR = re.compile(r"\s*\(((?:1[5-9]|20)\d\d)\)\s*$")


def item_row(raw: Mapping[str, Any]) -> dict[str, Any]:
    """One items-file row in ``Item`` terms, keeping its own columns too: each ``Item`` field the row
    lacks takes its first alias present (nextread.ingest.columns; matched without case or punctuation:
    Book-Crossing's "Book-Title"). Genres become tags, a year or
    date becomes ``publication_year``, and a MovieLens title's trailing "(1995)" gives the year. Lists
    written as text ("Comedy|Drama", RecBole's space-separated tokens) are split."""
    row = {key: value for key, value in raw.items() if value is not None and value != ""}
    lower = {column_key(key): key for key in row}
    for target, aliases in ALIASES["items"].items():
        if target not in row:
            source = next((lower[alias] for alias in aliases if alias in lower), None)
            if source is not None:
                row[target] = row[source]
    for key in ("tags", "authors"):
        if isinstance(row.get(key), str):
            spaced = key == "tags" and not LIST_SEPARATORS.search(row[key])  # a name holds spaces
            parts = row[key].split() if spaced else LIST_SEPARATORS.split(row[key])
            row[key] = [part for part in parts if part]
    title_year = TITLE_YEAR.search(str(row.get("title", "")))
    if "publication_year" not in row and title_year is not None:
        row["publication_year"] = int(title_year.group(1))
    if isinstance(row.get("publication_year"), str):
        year = YEAR.search(row["publication_year"])
        row["publication_year"] = int(year.group(0)) if year else None
    elif isinstance(row.get("publication_year"), int | float) and not 1500 <= row["publication_year"] <= 2100:
        row["publication_year"] = None  # Book-Crossing writes 0 for unknown
    return row


def side_file_keys(table: pa.Table, role: str, path: Path) -> np.ndarray:
    """The key of each row of an items or users file, as text. Such a file (ours included) often names
    its key plain "id"; an interactions file never can."""
    plain_id = (
        "id"
        if "id" in table.column_names and resolve_column(table, role, None, path, False, guess=False) is None
        else None
    )
    key = resolve_column(table, role, plain_id, path, required=True)
    return np.asarray(table[key].to_pylist(), dtype=object).astype(str)


def with_item_levels(data: InteractionData, items_path: Path) -> InteractionData:
    """Attach levels from an items file; items absent from it stay NaN (unknown, never counted)."""
    read = read_table(items_path)
    ids = side_file_keys(read.table, "item", items_path)
    rows_by_id = dict(zip(ids, (item_row(row) for row in read.table.to_pylist()), strict=True))
    item_rows = tuple(rows_by_id.get(str(item_id), {}) for item_id in data.item_ids)
    notes = data.read_notes + read.notes
    return replace(data, item_levels=item_level_values(item_rows), item_rows=item_rows, read_notes=notes)


# What a users file may say about a reader, in ``User`` terms (the aliases of nextread.ingest.columns):
# the profile serving reads. Lists (a favourite-genres column) are joined into one interests text.


def user_row(raw: Mapping[str, Any]) -> dict[str, Any]:
    """One users-file row in ``User`` terms (aliases matched without case or punctuation); unknown
    values are left out."""
    row = {column_key(key): value for key, value in raw.items() if value is not None and value != ""}
    profile: dict[str, Any] = {}
    for field_name in ALIASES["users"]:
        source = next((key for key in spellings("users", field_name) if key in row), None)
        if source is not None:
            profile[field_name] = row[source]
    if isinstance(profile.get("interests"), list):
        profile["interests"] = ", ".join(str(part) for part in profile["interests"])
    for number in ("lexile", "grade"):  # "BR200" or "K" are not numbers this reader can use
        try:
            profile[number] = float(profile[number]) if number in profile else None
        except (TypeError, ValueError):
            profile[number] = None
    return {key: value for key, value in profile.items() if value is not None}


def with_user_profiles(data: InteractionData, users_path: Path) -> InteractionData:
    """Attach each user's stated profile from a users file; users absent from it get ``{}``."""
    read = read_table(users_path)
    ids = side_file_keys(read.table, "user", users_path)
    rows_by_id = dict(zip(ids, (user_row(row) for row in read.table.to_pylist()), strict=True))
    user_rows = tuple(rows_by_id.get(str(user), {}) for user in data.user_ids)
    return replace(data, user_rows=user_rows, read_notes=data.read_notes + read.notes)
