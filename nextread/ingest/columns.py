"""The one table of column aliases: how other people's files spell our fields.

``ALIASES[kind][field]`` lists the spellings that fill one of our fields (``nextread.schemas`` names)
when a file does not use the field's own name. Names are compared by :func:`column_key`, without case
or punctuation, so ``userId``, ``User-ID`` and ``user_id`` are one spelling. ``nextread import``
reads the aliases of required fields (a file keyed ``userId`` imports with the default mapping) and
``nextread evaluate`` reads all of them (its interactions roles, items catalogue and users profiles).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "interactions": {
        "user_id": ("user", "userid", "uid", "student_id", "customer_id", "visitor_id"),
        "item_id": ("item", "itemid", "iid", "book_id", "bookid", "movie_id", "movieid", "product_id"),
        "value": ("rating", "score", "stars", "overall"),
        "timestamp": ("time", "ts", "occurred_at", "created_at", "datetime", "date"),
        "type": ("event_type", "event", "interaction_type", "action"),
    },
    "items": {
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
    },
    "users": {
        "interests": (
            "interest",
            "favourite_genres",
            "favorite_genres",
            "preferences",
            "likes",
            "about",
            "bio",
        ),
        "lexile": ("lexile_measure",),
        "guided_reading_level": ("grl", "reading_level_letter"),
        "grade": ("grade_level", "school_grade"),
    },
    "groups": {},
}
# When no alias is present, an interactions column whose name contains one of these words takes the
# field (Book-Crossing's "User-ID"/"ISBN"/"Book-Rating", Last.fm's "artistID", anime_id, asin, ...).
# ``type`` goes by its aliases only: "action" is inside "transaction_id".
FIELD_WORDS: dict[str, tuple[str, ...]] = {
    "user_id": ("user", "customer", "member", "reader", "reviewer", "student", "visitor"),
    "item_id": (
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
    "value": ("rating", "score", "stars"),
    "timestamp": ("timestamp", "time", "date"),
}


def column_key(name: str) -> str:
    """A column name as compared with the aliases: lower case, punctuation as underscores
    ("User-ID" → "user_id"), so each spelling also matches its camel-case and dashed forms."""
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def spellings(kind: str, field: str) -> tuple[str, ...]:
    """The field's own name first, then its aliases."""
    return (field, *ALIASES[kind].get(field, ()))


def find_alias(kind: str, field: str, columns: Iterable[str]) -> str | None:
    """The file's column holding ``field`` under one of its aliases, the earliest alias first."""
    keys = {column_key(name).replace("_", ""): name for name in reversed(list(columns))}
    for alias in ALIASES[kind].get(field, ()):
        found = keys.get(column_key(alias).replace("_", ""))
        if found is not None:
            return found
    return None
