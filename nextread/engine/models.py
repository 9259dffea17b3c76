"""Which collaborative model serves a catalog of a given size."""

from __future__ import annotations

from nextread.config import Settings
from nextread.engine.collaborative import EASE, IALS
from nextread.engine.ranker import LearnedRanker

# EASE's λ as chosen on validation users under the offline protocol (docs/evaluation.md): 100 on the demo
# school and on MovieLens 100K, for the served hybrid.
EASE_L2 = 100.0


def build_cf_model(n_items: int, settings: Settings) -> EASE | IALS | LearnedRanker:
    """EASE is the most accurate model we have but its fit is cubic in the catalog size; beyond
    ``ease_max_items`` iALS (linear in interactions) takes over. Either is wrapped in the learned
    ranking stage unless ``learned_ranker`` is off."""
    cf: EASE | IALS
    if n_items <= settings.training.ease_max_items:
        cf = EASE(l2=EASE_L2, max_items=settings.training.ease_max_items)
    else:
        cf = IALS(factors=128, regularization=10.0, alpha=10.0, iterations=15)
    return LearnedRanker(cf) if settings.training.learned_ranker else cf
