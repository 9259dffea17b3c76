"""Loading: column detection and overrides, binarisation by rating or type, user k-core, levels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nextread.engine.pipeline import Catalog
from nextread.evaluate.data import Columns, DataError, item_row, load_interactions
from nextread.levels import GRL_LEVELS, grade_range_to_level, lexile_to_level


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(row) for row in rows))
    return path


def test_recbole_inter_binarises_ratings_and_drops_light_users(tmp_path: Path) -> None:
    lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    lines += [f"a\ti{n}\t{5 if n < 5 else 2}\t{100 + n}" for n in range(8)]  # 5 positives: kept
    lines += [f"b\ti{n}\t5\t{200 + n}" for n in range(4)]  # 4 positives: dropped
    path = tmp_path / "ratings.inter"
    path.write_text("\n".join(lines))
    data = load_interactions(path)
    assert data.user_ids.tolist() == ["a"]
    assert sorted(data.item_ids.tolist()) == [f"i{n}" for n in range(5)]
    assert data.matrix.nnz == 5 and data.timestamps is not None
    assert sorted(data.timestamps.tolist()) == [100.0, 101.0, 102.0, 103.0, 104.0]


def test_typed_events_with_iso_times_and_levels(tmp_path: Path) -> None:
    events = [
        {"user_id": "s1", "item_id": f"b{n}", "type": "checkout", "timestamp": f"2024-01-0{n + 1}T10:00:00Z"}
        for n in range(5)
    ]
    events += [
        {"user_id": "s1", "item_id": "b5", "type": "view", "timestamp": "2024-01-07T10:00:00Z"},
        {"user_id": "s1", "item_id": "b6", "type": "rating", "value": 2, "timestamp": "2024-01-07T10:00:00Z"},
        {"user_id": "s1", "item_id": "b7", "type": "rating", "value": 5, "timestamp": "2024-01-08T10:00:00Z"},
        {"user_id": "s1", "item_id": "b0", "type": "like", "timestamp": "2024-01-09T10:00:00Z"},
    ]
    items = [
        {"item_id": "b0", "lexile": 500},
        {"item_id": "b1", "guided_reading_level": "A"},
        {"item_id": "b2", "grade_min": 2, "grade_max": 4},
    ]
    items_path = write_jsonl(tmp_path / "items.jsonl", items)
    data = load_interactions(write_jsonl(tmp_path / "events.jsonl", events), items_path=items_path)
    # the view and the low rating are not positives
    assert sorted(data.item_ids.tolist()) == ["b0", "b1", "b2", "b3", "b4", "b7"]
    assert data.timestamps is not None and data.timestamps.min() == pytest.approx(1704103200.0)  # first b0
    assert data.item_levels is not None
    levels = dict(zip(data.item_ids.tolist(), data.item_levels.tolist(), strict=True))
    # on serving's grade-equivalent scale, as the served catalogue computes them
    assert levels["b0"] == pytest.approx(lexile_to_level(500)) and levels["b1"] == GRL_LEVELS["A"]
    assert levels["b2"] == grade_range_to_level(2, 4) == 3.5 and np.isnan(levels["b3"])
    catalog = Catalog.from_items(list(data.item_rows or ()))
    np.testing.assert_array_equal(catalog.levels, data.item_levels)


def test_column_overrides_and_clear_errors(tmp_path: Path) -> None:
    path = tmp_path / "plays.csv"
    path.write_text("listener,track,when\n" + "\n".join(f"x,t{n},{n}" for n in range(6)))
    with pytest.raises(DataError, match="plays.csv: no user column"):
        load_interactions(path)
    with pytest.raises(DataError, match="column 'nope' for item not found"):
        load_interactions(path, Columns(user="listener", item="nope"))
    data = load_interactions(path, Columns(user="listener", item="track", timestamp="when"))
    assert data.matrix.shape == (1, 6)


def test_movielens_shaped_files_load_with_their_catalog(tmp_path: Path) -> None:
    ratings = tmp_path / "ratings.csv"
    ratings.write_text(
        "userId,movieId,rating,timestamp\n" + "\n".join(f"7,{m},{4 + m % 2},{1000 + m}" for m in range(6))
    )
    movies = tmp_path / "movies.csv"
    movies.write_text(
        "movieId,title,genres\n"
        '0,Toy Story (1995),Animation|Children\'s|Comedy\n1,"Heat (1995)",Action|Crime\n2,Untitled,\n'
    )
    data = load_interactions(ratings, items_path=movies)
    assert data.matrix.shape == (1, 6) and data.item_rows is not None
    rows = dict(zip(data.item_ids.tolist(), data.item_rows, strict=True))
    assert rows["0"]["tags"] == ["Animation", "Children's", "Comedy"]
    assert rows["0"]["publication_year"] == 1995 and rows["1"]["tags"] == ["Action", "Crime"]
    assert "tags" not in rows["2"] and "publication_year" not in rows["2"]
    assert rows["3"] == {}


def test_item_columns_under_other_names_reach_the_catalog() -> None:
    row = item_row(
        {"id": 1, "movie_title": "GoldenEye", "class": "Action Adventure", "release_date": "01-Jan-1995"}
    )
    assert row["title"] == "GoldenEye" and row["tags"] == ["Action", "Adventure"]
    assert row["publication_year"] == 1995
    own = item_row({"tags": ["kept"], "genres": "Drama", "publication_year": 2001, "year": 1990})
    assert own["tags"] == ["kept"] and own["publication_year"] == 2001


def test_movielens_dat_and_headerless_files(tmp_path: Path) -> None:
    ratings = tmp_path / "ratings.dat"
    ratings.write_text("\n".join(f"1::{m}::{5 - m % 2 * 3}::{978300760 + m}" for m in range(10)) + "\n")
    movies = tmp_path / "movies.dat"
    movies.write_bytes("0::Misérables, Les (1995)::Drama|Musical\n".encode("latin-1"))
    data = load_interactions(ratings, items_path=movies)
    assert sorted(data.item_ids.tolist()) == ["0", "2", "4", "6", "8"]  # the 2-star ratings are not positives
    assert data.timestamps is not None and data.item_rows is not None
    first = data.item_rows[data.item_ids.tolist().index("0")]
    assert first["title"] == "Misérables, Les (1995)" and first["tags"] == ["Drama", "Musical"]
    tabbed = tmp_path / "u.data"
    tabbed.write_text("\n".join(f"3\t{m}\t4\t{881250949 + m}" for m in range(5)) + "\n")
    assert load_interactions(tabbed).matrix.shape == (1, 5)


def test_low_ratings_are_consumed_not_liked(tmp_path: Path) -> None:
    lines = ["user_id\titem_id\trating\ttimestamp"]
    lines += [f"a\ti{n}\t5\t{100 + n}" for n in range(5)]
    lines += ["a\ti5\t2\t300", "a\ti0\t1\t50", "a\tonly_disliked\t1\t301", "b\ti6\t2\t302"]
    lines += [f"c\ti{n}\t4\t{400 + n}" for n in range(5, 10)]  # i5 is c's positive
    path = tmp_path / "ratings.tsv"
    path.write_text("\n".join(lines))
    data = load_interactions(path)
    assert data.consumed is not None and data.consumed_times is not None
    row = data.user_ids.tolist().index("a")
    had = data.item_ids[data.consumed[row].indices].tolist()
    # i0 is also a positive of a's (the pair counts once, as liked); an item nobody liked is not in the
    # catalog; user b (no positives) is not kept
    assert had == ["i5"]
    assert data.consumed.nnz == 1 and data.consumed_times.tolist() == [300.0]
    assert data.notes["consumed_pairs"] == 1


def test_typed_files_consume_only_low_ratings(tmp_path: Path) -> None:
    events = [{"user_id": "s", "item_id": f"b{n}", "type": "checkout", "timestamp": n} for n in range(6)]
    events += [{"user_id": "t", "item_id": f"b{n}", "type": "like", "timestamp": n} for n in range(6, 12)]
    events += [
        {"user_id": "s", "item_id": "b6", "type": "view", "timestamp": 20},
        {"user_id": "s", "item_id": "b7", "type": "abandoned", "timestamp": 21},
        {"user_id": "s", "item_id": "b8", "type": "rating", "value": 3, "timestamp": 22},
    ]
    data = load_interactions(write_jsonl(tmp_path / "events.jsonl", events))
    assert data.consumed is not None
    row = data.user_ids.tolist().index("s")
    assert data.item_ids[data.consumed[row].indices].tolist() == ["b8"]


def test_files_from_other_sources_load_without_overrides(tmp_path: Path) -> None:
    """Book-Crossing (Latin-1, semicolons, dashed names), Amazon (headerless, text ids), Last.fm's
    hetrec release (camel-case ids, play counts) and an anime dump: each loads with no flags."""
    crossing = tmp_path / "BX-Book-Ratings.csv"
    lines = ['"User-ID";"ISBN";"Book-Rating"'] + [
        f'"276725";"03454{n}X";"{8 if n < 5 else 0}"' for n in range(7)
    ]
    lines.append('"276725";"Müller";"9"')
    crossing.write_bytes("\n".join(lines).encode("latin-1"))
    data = load_interactions(crossing)
    # the two books rated 0 are no positives: Book-Rating was read as the rating
    assert data.matrix.shape == (1, 6) and "Müller" in data.item_ids.tolist()

    amazon = tmp_path / "ratings_Books.csv"
    amazon.write_text("\n".join(f"AKM1MP6P0OYPR,013279304{n},5.0,136581120{n}" for n in range(5)) + "\n")
    data = load_interactions(amazon)
    assert data.user_ids.tolist() == ["AKM1MP6P0OYPR"] and data.timestamps is not None
    assert sorted(data.item_ids.tolist())[0] == "0132793040"

    lastfm = tmp_path / "user_artists.dat"
    lastfm.write_text("userID\tartistID\tweight\n" + "\n".join(f"2\t{51 + n}\t{13883 - n}" for n in range(5)))
    data = load_interactions(lastfm)
    assert data.matrix.shape == (1, 5) and data.consumed is None  # no rating column: every row positive

    anime = tmp_path / "rating.csv"
    anime.write_text("user_id,anime_id,rating\n" + "\n".join(f"1,{20 + n},{10 - n // 2}" for n in range(10)))
    assert load_interactions(anime, threshold=7).matrix.shape == (1, 8)


def test_book_crossing_item_rows_reach_the_catalog() -> None:
    row = item_row(
        {"ISBN": "0195153448", "Book-Title": "Classical Mythology", "Book-Author": "Mark P. O. Morford"}
    )
    assert row["title"] == "Classical Mythology" and row["authors"] == ["Mark P. O. Morford"]
    assert item_row({"Year-Of-Publication": 2002})["publication_year"] == 2002
    assert item_row({"Year-Of-Publication": 0})["publication_year"] is None
    assert item_row({"genres": "Action Adventure"})["tags"] == ["Action", "Adventure"]


def test_shop_events_and_amazon_reviews_load_without_overrides(tmp_path: Path) -> None:
    events = [{"visitorid": 7, "itemid": n, "event": "view", "timestamp": 1433221332 + n} for n in range(9)]
    events += [
        {"visitorid": 7, "itemid": n, "event": "Transaction", "timestamp": 1433229999} for n in range(3)
    ]
    events += [
        {"visitorid": 7, "itemid": n, "event": "addtocart", "timestamp": 1433229999} for n in range(3, 5)
    ]
    data = load_interactions(write_jsonl(tmp_path / "events.jsonl", events))
    assert sorted(data.item_ids.tolist()) == ["0", "1", "2", "3", "4"]  # views are no positives
    with pytest.raises(DataError, match="no user has 5"):
        load_interactions(tmp_path / "events.jsonl", positive_types=frozenset({"transaction"}))

    reviews = [
        {"reviewerID": "A2S", "asin": f"000{n}", "overall": 5.0 - n % 2 * 3, "unixReviewTime": n}
        for n in range(10)
    ]
    data = load_interactions(write_jsonl(tmp_path / "Books_5.json", reviews))
    assert data.user_ids.tolist() == ["A2S"] and data.matrix.nnz == 5 and data.timestamps is not None
