"""One plain sentence per recommendation, built from the components that added the most to its score.

A phrase is only used when it is true of the item (a book is called "right at your reading level"
only inside the just-right band, "highly rated" only with a good shrunk rating), and it names real
things handed in by the caller: the enjoyed book it resembles, the class, the series. The same input
always gives the same sentence.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from nextread.engine.hybrid import JUST_RIGHT_EDGE_FIT

MAX_PHRASES = 3
# Within a quarter grade of the reader is "right at" their level rather than above or below it.
AT_LEVEL_TOLERANCE = 0.25
# 0.8 of the 1–5 scale is 4.2 stars after shrinkage: clearly above the ~4.0 most books average.
HIGHLY_RATED = 0.8
FALLBACK = "A good next read for you."
# A title may end a sentence with its own stop ("Goal!", "Who Stole the Moon?"): no second one after it.
STOPS = (".", "!", "?", "\u2026")


@dataclass(frozen=True)
class ExplanationContext:
    """Facts about one recommended item for one reader; all optional, missing ones are not claimed."""

    similar_enjoyed_title: str | None = None
    level_offset: float | None = None
    group_name: str | None = None
    series_name: str | None = None
    has_ratings: bool = False
    published_this_year: bool = False
    added_this_year: bool = False
    has_interests: bool = False


def _cf(value: float, context: ExplanationContext) -> str | None:
    if value < 0.5:
        return None
    if context.similar_enjoyed_title:
        return f"because you enjoyed *{context.similar_enjoyed_title}*"
    return "readers who like the same books enjoyed it"


def _semantic(value: float, context: ExplanationContext) -> str | None:
    if value < 0.5:
        return None
    if context.similar_enjoyed_title:
        return f"because you enjoyed *{context.similar_enjoyed_title}*"
    return "it matches your interests" if context.has_interests else "it is like books you have read"


def _reading_match(value: float, context: ExplanationContext) -> str | None:
    if context.level_offset is None or value < JUST_RIGHT_EDGE_FIT - 1e-9:
        return None
    if abs(context.level_offset) <= AT_LEVEL_TOLERANCE:
        return "right at your reading level"
    return "a little stretch above your level" if context.level_offset > 0 else "a comfy, easy read"


def _popularity(value: float, context: ExplanationContext) -> str | None:
    """Popular in the reader's level band; "at your level" only for a reader whose level is known."""
    if value < 0.5:
        return None
    return (
        "popular with readers at your level" if context.level_offset is not None else "popular with readers"
    )


def _social(value: float, context: ExplanationContext) -> str | None:
    if value < 0.25:
        return None
    return f"popular in {context.group_name}" if context.group_name else "popular with readers like you"


def _recency(value: float, context: ExplanationContext) -> str | None:
    if context.published_this_year:
        return "new this year"
    if context.added_this_year:
        return "new in the library"
    return "a recent book" if value >= 0.5 else None


def _rating(value: float, context: ExplanationContext) -> str | None:
    """Unrated books score the catalogue's prior, which can be high; only real ratings earn the claim."""
    return "highly rated" if context.has_ratings and value >= HIGHLY_RATED else None


def _series(value: float, context: ExplanationContext) -> str | None:
    return f"next in the *{context.series_name}* series" if value > 0 and context.series_name else None


_PHRASES: dict[str, Callable[[float, ExplanationContext], str | None]] = {
    "series": _series,
    "cf": _cf,
    "semantic": _semantic,
    "reading_match": _reading_match,
    "social": _social,
    "rating": _rating,
    "staff_pick": lambda value, _: "a staff pick" if value >= 1.0 else None,
    "recency": _recency,
    "popularity": _popularity,
    "trending": lambda value, _: "popular with readers lately" if value >= 0.5 else None,
}
# Ties in contribution are broken by this order, so the sentence never depends on dict order.
_ORDER = {name: rank for rank, name in enumerate(_PHRASES)}


def explain(
    components: Mapping[str, float],
    context: ExplanationContext,
    weights: Mapping[str, float] | None = None,
) -> str:
    """Ranks components by weight × value (what each actually added; by value alone without weights)
    and joins the phrases of the strongest two or three true ones, a "because …" clause first."""
    weights = weights or {}
    ranked = sorted(
        (name for name in components if name in _PHRASES),
        key=lambda name: (-weights.get(name, 1.0) * components[name], _ORDER[name]),
    )
    phrases: list[str] = []
    for name in ranked:
        if weights.get(name, 1.0) <= 0:
            continue
        phrase = _PHRASES[name](components[name], context)
        if phrase and phrase not in phrases:
            phrases.append(phrase)
        if len(phrases) == MAX_PHRASES:
            break
    if not phrases:
        return FALLBACK
    phrases.sort(key=lambda phrase: not phrase.startswith("because"))
    return sentence_of(phrases)


def explain_similar(components: Mapping[str, float], title: str) -> str:
    """Why a book is listed as like *title*: its readers (``cf``), its subject (``semantic``), or both
    when both are strong; only what its score rests on is claimed."""
    readers, subject = components.get("cf", 0.0), components.get("semantic", 0.0)
    phrases = []
    if readers >= 0.5 or (readers > 0 and readers >= subject):
        phrases.append(f"readers of *{title}* also read it")
    if subject >= 0.5 or (subject > 0 and subject > readers):
        phrases.append(f"close in subject to *{title}*")
    if not phrases:
        return end_sentence(f"Somewhat like *{title}*")
    return sentence_of(phrases)


def sentence_of(phrases: list[str]) -> str:
    sentence = "; ".join(phrases)
    return end_sentence(sentence[0].upper() + sentence[1:])


def end_sentence(text: str) -> str:
    """``text`` ending in exactly one stop: its own when its last word (a title, maybe in *emphasis*)
    already ends in one, else a full stop: "Goal!." reads as a typo to a young reader."""
    text = text.rstrip()
    return text if text.rstrip("*").endswith(STOPS) else text + "."
