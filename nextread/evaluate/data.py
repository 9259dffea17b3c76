"""Interactions from any file a user brings, turned into the binary user×item matrix the protocol needs.

Reads CSV/TSV, Parquet, JSON Lines and RecBole atomic ``.inter`` files. Column names are guessed from
common spellings (``user_id:token`` → ``user_id``) and can be overridden, so a new dataset needs no code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq
import scipy.sparse as sp

# The store's positive types (its default type weights), and what shops and apps call the same
# commitment, count as a "like" when binarising; views and clicks do not. Compared in lower case.
DEFAULT_POSITIVE_TYPES = frozenset(
    {"checkout", "finished", "like", "save", "share"}
    | {"purchase", "transaction", "buy", "order", "addtocart", "add_to_cart", "cart", "favorite", "favourite"}
)
# Rows of these types carry an explicit rating in the value column, judged against the threshold.
RATING_TYPES = frozenset({"rating", "rate", "review"})

COLUMN_CANDIDATES: dict[str, tuple[str, ...]] = {
    "user": ("user_id", "user", "userid", "uid", "student_id", "customer_id", "visitor_id"),
    "item": ("item_id", "item", "itemid", "iid", "book_id", "bookid", "movie_id", "movieid", "product_id"),
    "rating": ("rating", "value", "score", "stars", "overall"),
    "timestamp": ("timestamp", "time", "ts", "occurred_at", "created_at", "datetime", "date"),
    "type": ("type", "event_type", "event", "interaction_type", "action"),
}
# When no known spelling is present, a column whose name contains one of these words takes the role
# (Book-Crossing's "User-ID"/"ISBN"/"Book-Rating", Last.fm's "artistID", anime_id, asin, ...).
COLUMN_WORDS: dict[str, tuple[str, ...]] = {
    "user": ("user", "customer", "member", "reader", "reviewer", "student", "visitor"),
    "item": (
        "item",
        "book",
        "isbn",
        "movie",
        "product",
        "asin",
        "artist",
        "track",
        "song",
        "anime",
        "game",
        "article",
        "video",
        "recipe",
        "business",
        "course",
    ),
    "rating": ("rating", "score", "stars"),
    "timestamp": ("timestamp", "time", "date"),
    "type": (),  # by its known spellings only: "action" is inside "transaction_id"
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

    @property
    def n_users(self) -> int:
        return self.matrix.shape[0]

    @property
    def n_items(self) -> int:
        return self.matrix.shape[1]


def read_table(path: Path) -> pa.Table:
    """Parse by extension; RecBole's ``name:type`` headers are reduced to ``name``."""
    if not path.exists():
        raise DataError(f"{path}: file not found")
    suffix = path.suffix.lower()
    try:
        if suffix in {".parquet", ".pq"}:
            table = pq.read_table(path)
        elif suffix in {".jsonl", ".json", ".ndjson"}:
            table = pa_json.read_json(path)
        else:
            table = read_delimited(path, "\t" if suffix in {".inter", ".item", ".user", ".tsv"} else ",")
    except (pa.ArrowInvalid, OSError) as error:
        raise DataError(f"{path}: cannot parse ({error})") from error
    return table.rename_columns([name.split(":", 1)[0].strip() for name in table.column_names])


def read_delimited(path: Path, delimiter: str) -> pa.Table:
    """CSV/TSV and MovieLens's own ``::``-separated ``.dat`` files. The separator is whichever of comma,
    semicolon, tab and bar the first line uses most (Book-Crossing's CSV is semicolon-separated), and a
    file that is not UTF-8 is read as Latin-1 (ML-1M, Book-Crossing). A first line with two or more
    numbers is data, not a header: its columns get MovieLens's ratings names (user_id, item_id, rating,
    timestamp), and a numeric key with two more text columns its movies names (item_id, title, genres)."""
    with path.open("rb") as file:
        first = file.readline().decode("latin-1").rstrip("\r\n")
    if "::" in first:
        source, delimiter, quote = (
            BytesIO(_text(path.read_bytes()).replace("::", "\x1f").encode()),
            "\x1f",
            False,
        )
        fields = first.split("::")
    else:
        delimiter = _separator(first, delimiter)
        source, quote, fields = path, '"', first.split(delimiter)
    fields = [field.strip().strip('"') for field in fields]
    numbers = sum(bool(NUMBER.fullmatch(field)) for field in fields)
    names = None
    if numbers >= 2 and len(fields) <= 4:
        names = list(HEADERLESS_RATINGS[: len(fields)])
    elif len(fields) == 3 and NUMBER.fullmatch(fields[0]):
        names = list(HEADERLESS_ITEMS)
    parse = pa_csv.ParseOptions(delimiter=delimiter, quote_char=quote)
    convert = pa_csv.ConvertOptions(column_types=dict.fromkeys(_id_columns(names or fields), pa.string()))
    try:
        table = pa_csv.read_csv(source, pa_csv.ReadOptions(column_names=names), parse, convert)
        utf8 = not any(pa.types.is_binary(column.type) for column in table.schema)  # bytes: not UTF-8
    except pa.ArrowInvalid as error:
        if "UTF8" not in str(error):
            raise
        utf8 = False
    if not utf8 and isinstance(source, Path):
        table = pa_csv.read_csv(
            source, pa_csv.ReadOptions(column_names=names, encoding="latin-1"), parse, convert
        )
    return table


def _id_columns(names: list[str]) -> list[str]:
    """The columns that would be taken as user and item keys: read as text, so an ISBN or ASIN keeps
    its leading zeros."""
    empty = pa.table({name: pa.array([], pa.null()) for name in dict.fromkeys(names)})
    found = [resolve_column(empty, role, None, Path(), required=False) for role in ("user", "item")]
    return [name for name in found if name is not None]


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _separator(first_line: str, default: str) -> str:
    """The separator the header (or first row) uses most, outside quoted text; ``default`` if none."""
    unquoted = re.sub(r'"[^"]*"', "", first_line)
    counts = {separator: unquoted.count(separator) for separator in (default, ",", ";", "\t", "|")}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else default


def column_key(name: str) -> str:
    """A column name as compared with the known spellings: lower case, punctuation as underscores
    ("User-ID" → "user_id"), so each spelling also matches its camel-case and dashed forms."""
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


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
    for candidate in COLUMN_CANDIDATES[role]:
        for name in free:
            if keys[name].replace("_", "") == candidate.replace("_", ""):
                return name
    for name in free if guess else ():
        if any(word in keys[name] for word in COLUMN_WORDS[role]):
            return name
    if required:
        raise DataError(
            f"{path}: no {role} column (tried {', '.join(COLUMN_CANDIDATES[role])}); "
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
    table = read_table(path)
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


GUIDED_READING_LEVELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def item_level_values(table: pa.Table) -> np.ndarray | None:
    """One comparable number per item: Lexile when known, else a guided reading level mapped onto the
    Lexile scale roughly (A≈0 … Z≈1100), else the grade band's midpoint in Lexile-like units."""
    names = set(table.column_names)
    levels = np.full(table.num_rows, np.nan)
    if "lexile" in names:
        levels = np.asarray(table["lexile"].to_pylist(), dtype=float)
    if "guided_reading_level" in names:
        letters = [str(v or "").strip().upper()[:1] for v in table["guided_reading_level"].to_pylist()]
        grl = np.array([GUIDED_READING_LEVELS.find(c) * 44.0 if c else np.nan for c in letters])
        grl[grl < 0] = np.nan
        levels = np.where(np.isnan(levels), grl, levels)
    if {"grade_min", "grade_max"} <= names:
        low = np.asarray(table["grade_min"].to_pylist(), dtype=float)
        high = np.asarray(table["grade_max"].to_pylist(), dtype=float)
        levels = np.where(np.isnan(levels), (low + high) / 2 * 200.0 + 100.0, levels)
    return None if np.isnan(levels).all() else levels


# An items file from elsewhere names its columns its own way; the served pipeline reads ``Item`` names.
# Each ``Item`` field takes the first alias present, unless the file already has the field itself.
ITEM_FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "title": ("movie_title", "book_title", "name", "original_title"),
    "tags": ("genres", "genre", "class", "categories", "category", "subjects", "keywords"),
    "description": ("overview", "plot", "summary", "synopsis"),
    "authors": ("author", "book_author", "director", "creator", "artist"),
    "publication_year": (
        "year",
        "release_year",
        "release_date",
        "published",
        "publication_date",
        "year_of_publication",
        "original_publication_year",
    ),
    "average_rating": ("avg_rating", "mean_rating", "rating_mean", "vote_average"),
    "ratings_count": ("rating_count", "num_ratings", "n_ratings", "vote_count"),
}
LIST_SEPARATORS = re.compile(r"\s*[|,;]\s*")
YEAR = re.compile(r"(1[5-9]|20)\d\d")
TITLE_YEAR = re.compile(r"\s*\(((?:1[5-9]|20)\d\d)\)\s*$")


def item_row(raw: Mapping[str, Any]) -> dict[str, Any]:
    """One items-file row in ``Item`` terms, keeping its own columns too (aliases are matched without
    case or punctuation: Book-Crossing's "Book-Title"): genres become tags, a year or
    date becomes ``publication_year``, and a MovieLens title's trailing "(1995)" gives the year. Lists
    written as text ("Comedy|Drama", RecBole's space-separated tokens) are split."""
    row = {key: value for key, value in raw.items() if value is not None and value != ""}
    lower = {column_key(key): key for key in row}
    for target, aliases in ITEM_FIELD_ALIASES.items():
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
    table = read_table(items_path)
    ids = side_file_keys(table, "item", items_path)
    rows_by_id = dict(zip(ids, (item_row(row) for row in table.to_pylist()), strict=True))
    item_rows = tuple(rows_by_id.get(str(item_id), {}) for item_id in data.item_ids)
    levels = item_level_values(table)
    aligned = None
    if levels is not None:
        lookup = dict(zip(ids, levels, strict=True))
        aligned = np.array([lookup.get(item_id, np.nan) for item_id in data.item_ids], dtype=float)
    return replace(data, item_levels=aligned, item_rows=item_rows)


# What a users file may say about a reader, in ``User`` terms: the profile serving reads. Lists (a
# favourite-genres column) are joined into one interests text.
USER_FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "interests": ("interest", "favourite_genres", "favorite_genres", "preferences", "likes", "about", "bio"),
    "lexile": ("lexile_measure",),
    "guided_reading_level": ("grl", "reading_level_letter"),
    "grade": ("grade_level", "school_grade"),
}


def user_row(raw: Mapping[str, Any]) -> dict[str, Any]:
    """One users-file row in ``User`` terms (aliases matched without case or punctuation); unknown
    values are left out."""
    row = {column_key(key): value for key, value in raw.items() if value is not None and value != ""}
    profile: dict[str, Any] = {}
    for field_name, aliases in USER_FIELD_ALIASES.items():
        source = next((key for key in (field_name, *aliases) if key in row), None)
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
    table = read_table(users_path)
    ids = side_file_keys(table, "user", users_path)
    rows_by_id = dict(zip(ids, (user_row(row) for row in table.to_pylist()), strict=True))
    return replace(data, user_rows=tuple(rows_by_id.get(str(user), {}) for user in data.user_ids))
