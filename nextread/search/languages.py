"""One key per language, however a catalogue wrote it: "en", "eng" (ISO 639-2, as Goodreads exports
do), "EN-us", "en_GB" and "English" are all ``en``.

Items keep the code they were given; only matching goes through the key, so a filter for ``en`` finds
a book tagged ``eng``. ``langcodes`` knows the registry's aliases (``eng`` → ``en``, ``fre`` → ``fr``,
``iw`` → ``he``) and, with its bundled name data, names in many languages ("español"), all offline.
The recommendation engine keeps its own coarse key (the first subtag, case-folded); the catalog's
keys are mapped through :func:`language_key` here, so the engine stays free of this dependency."""

from __future__ import annotations

from functools import lru_cache

import langcodes


@lru_cache(maxsize=4096)
def language_key(language: str | None) -> str:
    """The ISO 639 code a stored language stands for; what is not a language stays as written
    (case-folded), so it still matches itself."""
    try:
        return parse_language(language or "")
    except ValueError:
        return (language or "").strip().casefold()


@lru_cache(maxsize=1024)
def parse_language(language: str) -> str:
    """A language code or name as asked for, as its shortest ISO 639 code; ``ValueError`` naming what
    was expected when it is neither."""
    text = language.strip().replace("_", "-")
    if not text:
        raise ValueError("a language is empty; expected a code such as 'en' or 'eng', or a name")
    try:
        found = langcodes.Language.get(text)
        if found.is_valid() and found.language:
            return found.language
    except (langcodes.LanguageTagError, ValueError):
        pass
    try:
        return langcodes.find(text).language or ""
    except LookupError:
        raise ValueError(
            f"{language!r} is not a language code or name; expected e.g. 'en', 'eng', 'en-GB' or 'English'"
        ) from None
