import numpy as np
import pytest
from pydantic import ValidationError

from nextread.engine.hybrid import (
    JUST_RIGHT_EDGE_FIT,
    HybridScorer,
    ReadingBand,
    Weights,
    bayesian_rating,
    cold_start_weights,
    level_band_popularity,
    normalise_scores,
    profile_similarity,
    reading_fit,
    recency,
    social,
    trending,
)
from nextread.engine.pipeline import Catalog, UserContext, recommend


def test_default_weights_match_the_issue():
    weights = Weights()
    assert (weights.reading_match, weights.rating, weights.social, weights.recency) == (0.4, 0.3, 0.2, 0.1)
    assert weights.staff_pick == 0.05


def test_unknown_weight_name_is_rejected_by_name():
    with pytest.raises(ValueError, match="unknown weight name\\(s\\): popularty, redaing"):
        Weights().merged({"redaing": 1.0, "popularty": 1.0, "rating": 0.1})


def test_negative_weight_is_rejected():
    with pytest.raises(ValidationError, match="social"):
        Weights().merged({"social": -1.0})


def test_merged_overrides_only_the_named_weights():
    merged = Weights().merged({"rating": 0.9})
    assert merged.rating == 0.9
    assert merged.reading_match == Weights().reading_match


def test_reading_fit_peaks_at_the_readers_level():
    levels = np.linspace(0.0, 8.0, 161)
    fit = reading_fit(levels, 3.0, ReadingBand())
    assert levels[np.argmax(fit)] == pytest.approx(3.0)
    assert fit.max() == pytest.approx(1.0)
    assert np.all(np.diff(fit[levels <= 3.0]) >= 0) and np.all(np.diff(fit[levels >= 3.0]) <= 0)


def test_reading_fit_is_soft_at_the_band_edges_and_never_zero_for_a_stretch_book():
    band = ReadingBand(stretch_below=0.5, stretch_above=1.0)
    fit = reading_fit(np.array([2.5, 4.0, 5.0, 6.0]), 3.0, band)
    assert fit[:2] == pytest.approx([JUST_RIGHT_EDGE_FIT, JUST_RIGHT_EDGE_FIT])
    assert np.all(fit > 0)
    assert fit[1] > fit[2] > fit[3]


def test_hard_band_zeroes_outside_and_marks_them_outside():
    band = ReadingBand(hard=True)
    levels = np.array([3.0, 3.9, 4.5, 2.0, np.nan])
    assert np.all(reading_fit(levels, 3.0, band)[[2, 3]] == 0.0)
    assert band.contains(levels, 3.0).tolist() == [True, True, False, False, False]


def test_unknown_item_level_is_neutral():
    assert reading_fit(np.array([np.nan]), 3.0, ReadingBand())[0] == 0.5


def test_bayesian_rating_prefers_many_good_ratings_over_one_perfect_one():
    scores = bayesian_rating(np.array([5.0, 4.6, np.nan]), np.array([1, 100, 0]), prior_mean=3.8)
    assert scores[1] > scores[0]
    assert scores[2] == pytest.approx((3.8 - 1) / 4)
    assert np.all((scores >= 0) & (scores <= 1))


def test_recency_halves_every_half_life_and_unknown_is_not_fresh():
    scores = recency(np.array([2024.0, 2021.0, np.nan, 2030.0]), now_year=2024.0, half_life_years=3.0)
    assert scores.tolist() == [1.0, 0.5, 0.0, 1.0]


def test_social_saturates():
    scores = social(np.array([0, 1, 3, 30]))
    assert scores[0] == 0.0 and np.all(np.diff(scores) > 0) and scores[-1] <= 1.0


@pytest.mark.parametrize("method", ["minmax", "rank"])
def test_normalised_scores_are_in_unit_range_and_keep_the_order(method):
    raw = np.array([-3.0, 10.0, 0.5, -np.inf, 2.0])
    normalised = normalise_scores(raw, method)
    assert normalised.min() == 0.0 and normalised.max() == 1.0
    assert np.argsort(normalised[[0, 1, 2, 4]]).tolist() == np.argsort(raw[[0, 1, 2, 4]]).tolist()
    assert normalise_scores(np.full(4, 7.0), method).tolist() == [0.0] * 4


def test_profile_similarity_uses_history_and_interests():
    embeddings = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    by_history = profile_similarity(embeddings, np.array([0]), np.ones(1))
    assert np.argmax(by_history[1:]) == 0
    by_interests = profile_similarity(embeddings, np.zeros(0, dtype=int), np.zeros(0), np.array([0.0, 2.0]))
    assert np.argmax(by_interests) == 2
    assert profile_similarity(embeddings, np.zeros(0, dtype=int), np.zeros(0)) is None


def test_scorer_is_a_weighted_mean_and_keeps_components():
    scorer = HybridScorer(Weights(cf=1.0, rating=3.0))
    total = scorer.score({"cf": np.array([1.0, 0.0]), "rating": np.array([0.0, 1.0])})
    assert total.tolist() == pytest.approx([0.25, 0.75])
    assert scorer.component_scores(1) == {"cf": 0.0, "rating": 1.0}
    assert scorer.contributions(1) == {"cf": 0.0, "rating": 3.0}


def test_scorer_rejects_components_outside_unit_range_or_unknown():
    with pytest.raises(ValueError, match="'rating' must lie in"):
        HybridScorer().score({"rating": np.array([1.5])})
    with pytest.raises(ValueError, match="unknown component"):
        HybridScorer().score({"vibes": np.array([0.5])})


def test_per_request_weight_override_changes_the_order():
    components = {"reading_match": np.array([1.0, 0.3]), "rating": np.array([0.4, 1.0])}
    scorer = HybridScorer()
    default_order = np.argsort(-scorer.score(components))
    override = Weights().merged({"rating": 2.0})
    assert np.argsort(-scorer.score(components, override)).tolist() == default_order[::-1].tolist()


def test_cold_start_moves_cf_weight_to_interests_and_popularity():
    weights = cold_start_weights(Weights(cf=0.5, semantic=0.3, popularity=0.0), has_semantic=True)
    assert (weights.cf, weights.semantic, weights.popularity) == (0.0, 0.55, 0.25)
    weights = cold_start_weights(Weights(cf=0.5), has_semantic=False)
    assert weights.popularity == 0.5


def test_level_band_popularity_only_credits_books_in_the_band():
    levels = np.array([3.0, 3.2, 8.0, np.nan])
    scores = level_band_popularity(np.array([10, 50, 999, 50]), levels, 3.0, ReadingBand())
    assert scores[1] > scores[0] and scores[2] == 0.0 and 0 < scores[3] < scores[1]


def test_trending_halves_every_half_life_before_the_newest_event():
    day = 86_400.0
    times = np.array([100 * day, 86 * day, 86 * day, 72 * day])
    counts = trending(np.array([0, 0, 1, 2]), times, 4, half_life_days=14.0)
    np.testing.assert_allclose(counts, [1.5, 0.5, 0.25, 0.0])
    np.testing.assert_allclose(trending(np.zeros(0), np.zeros(0), 3, 14.0), np.zeros(3))


def test_trending_component_only_counts_when_weighted():
    rows = [{"title": f"Book {index}"} for index in range(4)]
    catalog = Catalog.from_items(rows, trending=np.array([0.0, 5.0, 1.0, 0.0]))
    reader = UserContext(seen=np.array([3]), enjoyed=np.array([3]))
    cf = np.array([0.0, 0.1, 0.9, 0.0])
    without = recommend(catalog, reader, cf_scores=cf, weights=Weights(cf=1.0), n=3, now_year=2025.0)
    assert without[0].item_index == 2 and "trending" not in without[0].components
    lately = recommend(
        catalog, reader, cf_scores=cf, weights=Weights(cf=1.0, trending=2.0), n=3, now_year=2025.0
    )
    assert lately[0].item_index == 1 and lately[0].components["trending"] == 1.0
    assert "popular with readers lately" in lately[0].explanation.lower()


def _graded_catalog(rng: np.random.Generator, n_items: int = 200) -> Catalog:
    rows = [
        {
            "title": f"Book {index}",
            "lexile": int(rng.integers(-100, 1200)),
            "average_rating": float(rng.uniform(3, 5)),
            "ratings_count": int(rng.integers(0, 500)),
            "publication_year": int(rng.integers(1990, 2025)),
        }
        for index in range(n_items)
    ]
    return Catalog.from_items(rows, popularity=rng.integers(0, 100, n_items).astype(float))


def test_cold_start_reader_with_only_a_level_gets_level_appropriate_books():
    catalog = _graded_catalog(np.random.default_rng(3))
    for level in (0.5, 2.0, 3.5, 5.0):
        picks = recommend(catalog, UserContext(level=level), n=10, now_year=2025.0)
        assert len(picks) == 10
        offsets = catalog.levels[[pick.item_index for pick in picks]] - level
        assert np.all(offsets >= -1.0) and np.all(offsets <= 1.5), (level, offsets)
        assert all("popularity" in pick.components and "cf" not in pick.components for pick in picks)


def test_cold_start_interests_pull_matching_books_up():
    rows = [{"title": name, "lexile": 450} for name in ("Dinosaur Facts", "Space Race", "Dino Dig")]
    embeddings = np.array([[1.0, 0.0], [0.0, 1.0], [0.95, 0.05]])
    catalog = Catalog.from_items(rows, embeddings=embeddings)
    reader = UserContext(level=3.0, interests_embedding=np.array([1.0, 0.0]))
    picks = recommend(catalog, reader, n=2, mmr_lambda=1.0, now_year=2025.0)
    assert {pick.item_index for pick in picks} == {0, 2}
    assert all(pick.explanation.startswith("It matches your interests") for pick in picks)
