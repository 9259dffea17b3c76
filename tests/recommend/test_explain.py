import numpy as np
import pytest

from nextread.engine.explain import FALLBACK, ExplanationContext, end_sentence, explain, explain_similar
from nextread.engine.pipeline import Catalog, UserContext, recommend

WEIGHTS = {"cf": 0.5, "semantic": 0.3, "reading_match": 0.4, "rating": 0.3, "social": 0.2, "recency": 0.1}


def test_sentence_names_the_enjoyed_book_the_level_and_the_class():
    context = ExplanationContext(
        similar_enjoyed_title="The Dragon Egg", level_offset=0.1, group_name="Ms. Lee's class"
    )
    components = {"cf": 0.9, "reading_match": 0.99, "social": 0.8, "rating": 0.2, "recency": 0.1}
    assert explain(components, context, WEIGHTS) == (
        "Because you enjoyed *The Dragon Egg*; right at your reading level; popular in Ms. Lee's class."
    )


def test_only_the_strongest_three_true_phrases_are_used():
    context = ExplanationContext(level_offset=0.6, has_ratings=True, published_this_year=True)
    components = {"reading_match": 0.9, "rating": 0.95, "recency": 1.0, "staff_pick": 1.0, "cf": 0.1}
    sentence = explain(components, context, {**WEIGHTS, "staff_pick": 0.05})
    assert sentence == "A little stretch above your level; highly rated; new this year."


def test_claims_need_facts():
    components = {"rating": 0.9, "reading_match": 0.3, "social": 0.9}
    sentence = explain(components, ExplanationContext(level_offset=2.5), WEIGHTS)
    assert "highly rated" not in sentence and "reading level" not in sentence
    assert sentence == "Popular with readers like you."
    assert explain({"cf": 0.1}, ExplanationContext(), WEIGHTS) == FALLBACK


def test_easier_books_are_described_kindly_and_zero_weights_are_ignored():
    context = ExplanationContext(level_offset=-0.5, similar_enjoyed_title="Frog and Toad")
    sentence = explain({"reading_match": 0.8, "cf": 1.0}, context, {"reading_match": 0.4, "cf": 0.0})
    assert sentence == "A comfy, easy read."


def test_explanations_are_deterministic():
    context = ExplanationContext(has_ratings=True, group_name="Room 4")
    components = {"rating": 0.9, "social": 0.9}
    assert {explain(components, context) for _ in range(5)} == {"Popular in Room 4; highly rated."}


def test_recommendation_names_the_real_enjoyed_title_most_like_it():
    rows = [
        {"title": "The Dragon Egg", "lexile": 500},
        {"title": "Soccer Stars", "lexile": 500},
        {"title": "Dragon Rider", "lexile": 520},
        {"title": "Goal!", "lexile": 480},
        {"title": "Filler", "lexile": 480},
    ]
    embeddings = np.array([[1.0, 0.0], [0.0, 1.0], [0.95, 0.1], [0.05, 1.0], [-1.0, -1.0]])
    catalog = Catalog.from_items(rows, embeddings=embeddings)
    reader = UserContext(level=3.4, seen=np.array([0, 1]), enjoyed=np.array([0, 1]))
    cf_scores = np.array([0.0, 0.0, 2.0, 2.0, 0.0])
    picks = recommend(catalog, reader, cf_scores=cf_scores, n=2, mmr_lambda=1.0, now_year=2025.0)
    by_item = {pick.item_index: pick.explanation for pick in picks}
    assert by_item[2].startswith("Because you enjoyed *The Dragon Egg*")
    assert by_item[3].startswith("Because you enjoyed *Soccer Stars*")


def test_tags_stand_in_for_embeddings_when_finding_the_similar_enjoyed_book():
    rows = [
        {"title": "Owl Moon", "tags": ["owls", "nature"]},
        {"title": "Robot Day", "tags": ["robots"]},
        {"title": "Owl Babies", "tags": ["owls"]},
        {"title": "Cookbook", "tags": ["cooking"]},
    ]
    reader = UserContext(seen=np.array([0, 1]), enjoyed=np.array([0, 1]))
    cf_scores = np.array([0, 0, 1.0, 0])
    picks = recommend(Catalog.from_items(rows), reader, cf_scores=cf_scores, now_year=2025.0)
    assert picks[0].explanation.startswith("Because you enjoyed *Owl Moon*")
    assert picks[1].explanation == "A good next read for you."


def test_a_book_is_never_its_own_reason():
    """A saved or shared book stays on the list and counts as enjoyed: the reason must be another book."""
    rows = [
        {"title": "The Dragon Egg", "lexile": 500},
        {"title": "Dragon Rider", "lexile": 520},
        {"title": "Soccer Stars", "lexile": 500},
    ]
    embeddings = np.array([[1.0, 0.0], [0.95, 0.1], [0.0, 1.0]])
    catalog = Catalog.from_items(rows, embeddings=embeddings)
    saved = UserContext(level=3.4, enjoyed=np.array([0, 1]))
    cf_scores = np.array([2.0, 2.0, 0.0])
    picks = recommend(catalog, saved, cf_scores=cf_scores, n=3, mmr_lambda=1.0, now_year=2025.0)
    by_item = {pick.item_index: pick.explanation for pick in picks}
    assert by_item[0].startswith("Because you enjoyed *Dragon Rider*")
    assert by_item[1].startswith("Because you enjoyed *The Dragon Egg*")


def test_another_edition_is_not_a_reason_either():
    rows = [{"title": "Owl Moon", "tags": ["owls"]}, {"title": "owl moon ", "tags": ["owls"]}]
    reader = UserContext(enjoyed=np.array([0]))
    picks = recommend(Catalog.from_items(rows), reader, cf_scores=np.array([0, 1.0]), now_year=2025.0)
    assert picks and not any("owl moon" in pick.explanation.casefold() for pick in picks)


@pytest.mark.parametrize(
    ("title", "ending"),
    [
        ("Goal!", "*Goal!*"),
        ("Who Stole the Moon?", "*Who Stole the Moon?*"),
        ("Wait.", "*Wait.*"),
        ("Frog and Toad", "*Frog and Toad*."),
    ],
)
def test_a_sentence_ends_with_exactly_one_stop(title: str, ending: str):
    sentence = explain({"cf": 0.9}, ExplanationContext(similar_enjoyed_title=title), WEIGHTS)
    assert sentence == f"Because you enjoyed {ending}"
    assert explain_similar({"semantic": 0.9}, title).endswith(ending)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Right at your level", "Right at your level."),
        ("Like *Goal!*", "Like *Goal!*"),
        ("Done.", "Done."),
        ("Like Wait. ", "Like Wait."),
    ],
)
def test_end_sentence(text: str, expected: str):
    assert end_sentence(text) == expected
