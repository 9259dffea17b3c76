import numpy as np
import pytest

from nextread.engine.hybrid import ReadingBand
from nextread.engine.pipeline import Catalog, UserContext, best_first, recommend
from nextread.engine.shaping import CandidateFilter, grade_appropriate, mmr, one_per_series, series_boost

TAGS = ["dragons", "mystery", "Scary", "sports", "animals"]
LANGUAGES = ["en", "en-US", "es", "fr", None]


def _random_catalog(rng: np.random.Generator, n_items: int) -> Catalog:
    rows = [
        {
            "title": f"Book {index}",
            "lexile": None if rng.random() < 0.2 else int(rng.integers(-200, 1300)),
            "tags": list(rng.choice(TAGS, size=rng.integers(0, 3), replace=False)),
            "language": LANGUAGES[rng.integers(len(LANGUAGES))],
            "available_copies": None if rng.random() < 0.2 else int(rng.integers(0, 3)),
            "series_name": None if rng.random() < 0.5 else f"Series {rng.integers(5)}",
            "series_position": int(rng.integers(1, 6)),
            "average_rating": float(rng.uniform(1, 5)),
            "ratings_count": int(rng.integers(0, 50)),
            "staff_pick": bool(rng.random() < 0.1),
            "grade_min": None if rng.random() < 0.3 else int(rng.integers(0, 4)),
            "grade_max": None if rng.random() < 0.3 else int(rng.integers(3, 9)),
        }
        for index in range(n_items)
    ]
    return Catalog.from_items(rows, embeddings=rng.normal(size=(n_items, 8)))


def _random_filter(rng: np.random.Generator) -> CandidateFilter:
    include = set(rng.choice(TAGS, size=rng.integers(0, 3), replace=False))
    return CandidateFilter(
        include_tags=include,
        exclude_tags=set(rng.choice(TAGS, size=rng.integers(0, 3), replace=False)) - include,
        languages={"EN"} if rng.random() < 0.5 else set(),
        level_min=1.0 if rng.random() < 0.5 else None,
        level_max=5.0 if rng.random() < 0.5 else None,
    )


@pytest.mark.parametrize("seed", range(30))
def test_filters_never_leak_excluded_items(seed):
    rng = np.random.default_rng(seed)
    catalog = _random_catalog(rng, 120)
    rules = _random_filter(rng)
    user = UserContext(
        level=float(rng.uniform(0, 6)),
        grade=int(rng.integers(0, 6)),
        seen=rng.choice(120, size=30, replace=False),
        enjoyed=rng.choice(120, size=5, replace=False),
        peer_counts=rng.integers(0, 5, 120),
    )
    picks = recommend(catalog, user, cf_scores=rng.normal(size=120), filters=rules, n=40, now_year=2025.0)
    for pick in picks:
        item = pick.item_index
        tags = catalog.tags[item]
        assert item not in set(user.seen.tolist())
        assert tags.isdisjoint({tag.casefold() for tag in rules.exclude_tags})
        assert not rules.include_tags or not tags.isdisjoint(rules.include_tags)
        assert not rules.languages or catalog.language_keys[item] == "en"
        assert not catalog.available_copies[item] <= 0
        assert rules.level_min is None or catalog.levels[item] >= rules.level_min
        assert rules.level_max is None or catalog.levels[item] <= rules.level_max
        assert not catalog.grade_max[item] < user.grade - 1
        assert not catalog.grade_min[item] > user.grade + 1
    assert len({pick.item_index for pick in picks}) == len(picks)
    series = [catalog.series_keys[pick.item_index] for pick in picks if catalog.series_keys[pick.item_index]]
    assert len(series) == len(set(series))


def test_hard_band_never_returns_books_outside_it():
    rng = np.random.default_rng(7)
    catalog = _random_catalog(rng, 300)
    band = ReadingBand(stretch_below=0.5, stretch_above=0.5, hard=True)
    picks = recommend(catalog, UserContext(level=3.0), band=band, n=50, now_year=2025.0)
    assert picks
    levels = catalog.levels[[pick.item_index for pick in picks]]
    assert np.all((levels >= 2.5) & (levels <= 3.5))


def test_seen_items_come_back_when_the_request_allows_it():
    catalog = Catalog.from_items([{"title": "Only"}])
    user = UserContext(seen=np.array([0]))
    assert recommend(catalog, user, now_year=2025.0) == []
    assert len(recommend(catalog, user, filters=CandidateFilter(exclude_seen=False), now_year=2025.0)) == 1


def test_grade_appropriateness_rule():
    grade_min = np.array([0, 0, 6, 5, np.nan])
    grade_max = np.array([1, 2, 8, 6, np.nan])
    assert grade_appropriate(grade_min, grade_max, 4).tolist() == [False, False, False, True, True]


def test_inverted_level_range_is_a_clear_error():
    with pytest.raises(ValueError, match="level_min"):
        CandidateFilter(level_min=4.0, level_max=2.0)


def test_language_filter_matches_locales_case_insensitively():
    catalog = Catalog.from_items([{"language": "EN-us"}, {"language": "es"}, {"language": None}, {}])
    mask = CandidateFilter(languages={"en"}).mask(catalog, UserContext())
    assert mask.tolist() == [True, False, False, False]


def test_mmr_prefers_a_different_book_over_a_near_duplicate():
    embeddings = np.array([[1.0, 0.0], [0.99995, 0.01], [0.0, 1.0]])
    candidates = np.array([0, 1, 2])
    scores = np.array([1.0, 0.95, 0.8])
    assert mmr(candidates, scores, embeddings, lambda_=0.7, n=2).tolist() == [0, 2]
    assert mmr(candidates, scores, embeddings, lambda_=1.0, n=2).tolist() == [0, 1]


def test_one_per_series_keeps_the_best_ranked_book_of_each_series():
    keys = np.array(["max", "", "max", "owl", "", "owl"], dtype=object)
    assert one_per_series(np.array([2, 0, 1, 5, 3, 4]), keys).tolist() == [2, 1, 5, 4]


def test_series_boost_marks_the_next_unread_book():
    codes = np.array([1] * 4 + [2] * 2)
    positions = np.array([1, 2, 3, 4, 1, 2], dtype=float)
    boost = series_boost(codes, positions, enjoyed=np.array([0, 1]), seen=np.array([0, 1, 4]))
    assert boost.tolist() == [0, 0, 1, 0, 0, 0]


def test_series_boost_needs_a_known_position_in_each_series():
    codes = np.array([1, 1, 2, 2])
    positions = np.array([np.nan, 2.0, 1.0, 2.0])
    boost = series_boost(codes, positions, enjoyed=np.array([0, 2]), seen=np.array([0, 2]))
    assert boost.tolist() == [0, 0, 0, 1]


def test_series_boost_skips_a_volume_the_library_lacks():
    codes = np.array([1] * 3)
    boost = series_boost(codes, np.array([1.0, 3.0, 4.0]), enjoyed=np.array([0]), seen=np.array([0]))
    assert boost.tolist() == [0, 1, 0]


def test_series_boost_ranks_the_next_book_first_and_explains_it():
    rows = [
        {"title": "Max Mystery 1", "series_name": "Max Mystery", "series_position": 1, "lexile": 500},
        {"title": "Max Mystery 2", "series_name": "Max Mystery", "series_position": 2, "lexile": 500},
        {"title": "Max Mystery 3", "series_name": "Max Mystery", "series_position": 3, "lexile": 500},
        {"title": "Owl Hollow", "lexile": 500, "average_rating": 4.4, "ratings_count": 40},
    ]
    catalog = Catalog.from_items(rows)
    reader = UserContext(level=3.4, seen=np.array([0]), enjoyed=np.array([0]))
    picks = recommend(catalog, reader, n=3, now_year=2025.0)
    assert picks[0].item_index == 1
    assert "next in the *Max Mystery* series" in picks[0].explanation
    assert [pick.item_index for pick in picks] == [1, 3]


@pytest.mark.parametrize("page_size", [7, 40, 150])
def test_pages_are_slices_of_one_ranking(page_size):
    rng = np.random.default_rng(11)
    catalog = _random_catalog(rng, 1500)
    user = UserContext(level=3.0, grade=3, interests_embedding=rng.normal(size=8))
    pages = [
        recommend(catalog, user, n=page_size, offset=offset, now_year=2025.0, filters=CandidateFilter())
        for offset in range(0, 3 * page_size, page_size)
    ]
    whole = recommend(catalog, user, n=3 * page_size, now_year=2025.0)
    assert [pick.item_index for page in pages for pick in page] == [pick.item_index for pick in whole]


def test_best_first_head_is_the_full_sorts_head_with_ties() -> None:
    rng = np.random.default_rng(4)
    candidates = np.sort(rng.choice(5000, size=3000, replace=False))
    total = np.round(rng.random(3000), 2)  # many ties, also across the cut
    full = candidates[np.lexsort((candidates, -total))]
    for at_least in (1, 10, 37, 400, 3000, 5000):
        head = best_first(candidates, total, at_least)
        assert len(head) >= min(at_least, len(candidates))
        assert np.array_equal(head, full[: len(head)])


def test_series_codes_name_the_same_series_as_keys() -> None:
    rows = [
        {"title": "a", "series_name": "Scorch"},
        {"title": "b"},
        {"title": "c", "series_name": " scorch "},
    ]
    rows.append({"title": "d", "series_name": "Alpha"})
    catalog = Catalog.from_items(rows)
    codes = catalog.series_codes.tolist()
    assert codes[1] == 0 and codes[0] == codes[2] != 0 and codes[3] not in (0, codes[0])


def test_one_per_series_stops_at_the_limit_and_reads_integer_codes():
    codes = np.array([3, 0, 3, 7, 0, 7, 0])  # Catalog.series_codes: 0 is "no series"
    ranked = np.array([2, 0, 1, 5, 3, 4, 6])
    assert one_per_series(ranked, codes).tolist() == [2, 1, 5, 4, 6]
    assert one_per_series(ranked, codes, limit=3).tolist() == [2, 1, 5]
    assert one_per_series(np.array([], dtype=np.intp), codes).tolist() == []
