"""Which collaborative model serves a catalog of a given size, and every model restored from its
:class:`~nextread.engine.protocol.SavedModel`."""

from __future__ import annotations

from nextread.engine.collaborative import EASE, IALS, ItemKNN, Popularity, SimilarByHistory
from nextread.engine.protocol import Recommender, SavedModel
from nextread.engine.ranker import LearnedRanker

# EASE's λ as chosen on validation users under the offline protocol (docs/evaluation.md): 100 on the demo
# school and on MovieLens 100K, for the served hybrid.
EASE_L2 = 100.0
MODEL_KINDS: dict[str, type[SimilarByHistory]] = {
    model.__name__: model for model in (EASE, IALS, ItemKNN, Popularity, LearnedRanker)
}


def build_cf_model(n_items: int, ease_max_items: int, learned_ranker: bool) -> Recommender:
    """EASE is the most accurate model we have but its fit is cubic in the catalog size; beyond
    ``ease_max_items`` iALS (linear in interactions) takes over. Either is wrapped in the learned
    ranking stage unless ``learned_ranker`` is off."""
    cf: EASE | IALS
    if n_items <= ease_max_items:
        cf = EASE(l2=EASE_L2, max_items=ease_max_items)
    else:
        cf = IALS(factors=128, regularization=10.0, alpha=10.0, iterations=15)
    return LearnedRanker(cf) if learned_ranker else cf


def restore_model(saved: SavedModel) -> Recommender:
    """The fitted model ``saved`` describes, its parts restored first. An unknown kind is a model file
    from a newer nextread (or a damaged one): refused by name rather than guessed at."""
    model_class = MODEL_KINDS.get(saved.kind)
    if model_class is None:
        raise ValueError(f"unknown model kind {saved.kind!r} (known: {', '.join(MODEL_KINDS)})")
    parts = {name: restore_model(part) for name, part in saved.parts.items()}
    return model_class.restore(saved, parts)
