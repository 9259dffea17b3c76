"""Which collaborative model serves a catalog of a given size."""

from __future__ import annotations

from typing import Any

from nextread.config import Settings
from nextread.evaluate.models import ClosedFormEASE


def build_cf_model(n_items: int, settings: Settings) -> Any:
    return ClosedFormEASE(l2=200.0, max_items=settings.ease_max_items)
