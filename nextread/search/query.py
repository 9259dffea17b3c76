"""Natural-language catalog queries without an LLM: "funny books about dragons for a 2nd grader".

Phrases that name a reader's grade, age or reading level become filters and are cut out of the text,
so the text search looks for "funny books about dragons" and the level filter does the rest. Anything
the rules do not recognise stays in the text: a missed phrase costs a little precision, never a result.

:class:`QueryParser` is the hook for a smarter parser (an LLM extracting structured filters): any
callable from text to :class:`ParsedQuery` can be passed to ``search_catalog``; :func:`parse_query`
is the default and the fallback.
"""

from __future__ import annotations

import re
from typing import Protocol

from pydantic import BaseModel, Field

from nextread.levels.convert import parse_level
from nextread.levels.scale import KINDERGARTEN_AGE, MAX_LEVEL, MIN_LEVEL

# A level named as one point ("level M", "lexile 500") matches books within this many grades of it.
POINT_LEVEL_HALF_WIDTH = 0.5

NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
}  # fmt: skip
ORDINAL_WORDS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12,
}  # fmt: skip
LANGUAGES = {
    "english": "en", "spanish": "es", "french": "fr", "german": "de", "italian": "it",
    "portuguese": "pt", "chinese": "zh", "japanese": "ja", "korean": "ko", "arabic": "ar",
    "russian": "ru", "vietnamese": "vi", "dutch": "nl", "polish": "pl",
}  # fmt: skip

_NUM = r"(\d{1,2}|" + "|".join(NUMBER_WORDS) + r")"
_ORD = r"(\d{1,2}(?:st|nd|rd|th)?|" + "|".join(ORDINAL_WORDS) + r")"
# Optional lead-in words that belong to the phrase ("for a 2nd grader", "for my 7 year old").
_LEAD = r"(?:\b(?:for|to|by)\s+(?:(?:a|an|my|our|the)\s+)?)?"
_LEVEL_NAME = r"(?:guided\s+reading\s+level|reading\s+level|grl|f&p\s+level|f&p|level)"

_GRADE_PATTERNS = [
    re.compile(_LEAD + r"\b" + _ORD + r"[\s-]*grade(?:rs?)?\b"),
    re.compile(_LEAD + r"\bgrade\s+" + _NUM + r"(?:\s+(?:students?|readers?|kids?))?\b"),
    re.compile(_LEAD + r"\b(kindergarten(?:ers?)?|kinder)\b"),
]
_AGE_PATTERNS = [
    re.compile(_LEAD + r"\b(?:ages?|aged)\s+" + _NUM + r"(?:\s*(?:-|–|to)\s*" + _NUM + r")?\b"),
    re.compile(
        _LEAD + r"\b" + _NUM + r"(?:\s*(?:-|–|to)\s*" + _NUM + r")?[\s-]*(?:years?|yrs?)[\s-]*olds?\b"
    ),
    re.compile(_LEAD + r"\b" + _NUM + r"\s*yo\b"),
]
_LEXILE_PATTERNS = [
    re.compile(_LEAD + r"\blexile\s+(br\s*)?(\d{1,4})\s*l?(?:\s*(?:-|–|to)\s*(br\s*)?(\d{1,4})\s*l?)?\b"),
    re.compile(_LEAD + r"\b(br)?(\d{2,4})l(?:\s*(?:-|–|to)\s*(br)?(\d{2,4})l)?\b"),
]
_GRL_PATTERN = re.compile(_LEAD + r"\b" + _LEVEL_NAME + r"\s+([a-z])(?:\s*(?:-|–|to)\s*([a-z]))?\b(?!-)")
_ATOS_PATTERN = re.compile(
    _LEAD
    + r"\b(?:atos|ar(?:\s+level)?|book\s+level)\s+(\d{1,2}(?:\.\d)?)(?:\s*(?:-|–|to)\s*(\d{1,2}(?:\.\d)?))?\b"
)
_LANGUAGE_PATTERN = re.compile(r"\b(?:in\s+)?(" + "|".join(LANGUAGES) + r")(?:\s+language)?\b")
_AVAILABLE_PATTERN = re.compile(
    r"\b(?:(?:that\s+are\s+|currently\s+)?available(?:\s+now)?|on\s+the\s+shelf|in\s+stock)\b"
)
_DANGLING = re.compile(r"(?:\s+\b(?:for|to|by|in|a|an|my|our|the|and|with|that|are)\b)+\s*$")


class ParsedQuery(BaseModel):
    """What a query asks for: free ``text`` for full-text and semantic matching plus filters.
    ``level_min``/``level_max`` are on the grade-equivalent scale (K = 0); ``understood`` lists, in
    plain words, every phrase turned into a filter, so a librarian can see how the query was read."""

    text: str
    grade: int | None = Field(None, ge=-1, le=12)
    level_min: float | None = None
    level_max: float | None = None
    tags: list[str] = Field(default_factory=list)
    language: str | None = None
    available: bool | None = None
    understood: list[str] = Field(default_factory=list)


class QueryParser(Protocol):
    """Turns a librarian's query into text and filters. Implementations must never raise for odd
    text; an LLM-backed one should fall back to :func:`parse_query` when its model is unavailable."""

    def __call__(self, text: str) -> ParsedQuery: ...


def parse_query(text: str) -> ParsedQuery:
    """The rule-based parser: grade, age, Lexile, guided reading, ATOS, language and availability
    phrases become filters and leave the text."""
    remaining = " " + " ".join(text.lower().split()) + " "
    parsed = ParsedQuery(text="")
    for extract in (_grade, _age, _lexile, _guided_reading, _atos, _language, _available):
        remaining = extract(remaining, parsed)
    cleaned = " ".join(remaining.split())
    if parsed.understood:  # tidy the joints a cut phrase left ("dragons for" → "dragons"), only then
        cleaned = _DANGLING.sub("", cleaned)
        cleaned = re.sub(r"^(?:for|to|by|in|and|with)\s+", "", cleaned).strip(" ,.;:-")
    parsed.text = cleaned
    return parsed


def _number(word: str) -> int:
    word = re.sub(r"(st|nd|rd|th)$", "", word) if word[0].isdigit() else word
    return int(word) if word.isdigit() else NUMBER_WORDS.get(word) or ORDINAL_WORDS[word]


def _cut(remaining: str, match: re.Match[str]) -> str:
    return remaining[: match.start()] + " " + remaining[match.end() :]


def _set_level(parsed: ParsedQuery, low: float, high: float | None, phrase: str) -> None:
    low, high = (
        (low, high) if high is not None else (low - POINT_LEVEL_HALF_WIDTH, low + POINT_LEVEL_HALF_WIDTH)
    )
    low, high = sorted((max(low, MIN_LEVEL), min(high, MAX_LEVEL)))
    parsed.level_min, parsed.level_max = round(low, 2), round(high, 2)
    parsed.understood.append(
        f'"{phrase}" → reading level {parsed.level_min:g}–{parsed.level_max:g} (grade scale)'
    )


def _grade(remaining: str, parsed: ParsedQuery) -> str:
    for pattern in _GRADE_PATTERNS:
        match = pattern.search(remaining)
        if match:
            word = match.group(1)
            grade = 0 if word.startswith("kinder") else _number(word)
            if grade > 12:
                continue
            parsed.grade = grade
            parsed.understood.append(f'"{match.group(0).strip()}" → grade {"K" if grade == 0 else grade}')
            return _cut(remaining, match)
    return remaining


def _age(remaining: str, parsed: ParsedQuery) -> str:
    for pattern in _AGE_PATTERNS:
        match = pattern.search(remaining)
        if not match:
            continue
        ages = [_number(group) for group in match.groups() if group]
        if not 3 <= min(ages) <= 18:
            continue
        phrase = match.group(0).strip()
        if len(ages) == 1 and parsed.grade is None:
            parsed.grade = max(ages[0] - KINDERGARTEN_AGE, -1)
            parsed.understood.append(f'"{phrase}" → grade {parsed.grade if parsed.grade else "K"} (age − 5)')
        elif len(ages) == 2:
            low, high = sorted(ages)
            _set_level(parsed, float(low - KINDERGARTEN_AGE), float(high - KINDERGARTEN_AGE + 1), phrase)
        return _cut(remaining, match)
    return remaining


def _lexile(remaining: str, parsed: ParsedQuery) -> str:
    for pattern in _LEXILE_PATTERNS:
        match = pattern.search(remaining)
        if match:
            br_low, low, br_high, high = match.groups()
            first = parse_level(-int(low) if br_low else int(low), "lexile")
            second = parse_level(-int(high) if br_high else int(high), "lexile") if high else None
            _set_level(parsed, first, second, match.group(0).strip())
            return _cut(remaining, match)
    return remaining


def _guided_reading(remaining: str, parsed: ParsedQuery) -> str:
    match = _GRL_PATTERN.search(remaining)
    if not match:
        return remaining
    low, high = match.groups()
    first = parse_level(f"level {low}")
    _set_level(parsed, first, parse_level(f"level {high}") if high else None, match.group(0).strip())
    return _cut(remaining, match)


def _atos(remaining: str, parsed: ParsedQuery) -> str:
    match = _ATOS_PATTERN.search(remaining)
    if not match:
        return remaining
    low, high = match.groups()
    first = parse_level(float(low), "atos")
    _set_level(parsed, first, parse_level(float(high), "atos") if high else None, match.group(0).strip())
    return _cut(remaining, match)


def _language(remaining: str, parsed: ParsedQuery) -> str:
    match = _LANGUAGE_PATTERN.search(remaining)
    if not match:
        return remaining
    parsed.language = LANGUAGES[match.group(1)]
    parsed.understood.append(f'"{match.group(0).strip()}" → language {parsed.language}')
    return _cut(remaining, match)


def _available(remaining: str, parsed: ParsedQuery) -> str:
    match = _AVAILABLE_PATTERN.search(remaining)
    if not match:
        return remaining
    parsed.available = True
    parsed.understood.append(f'"{match.group(0).strip()}" → only books with a copy available')
    return _cut(remaining, match)
