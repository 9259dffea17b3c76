"""Full-text ranking of a tenant's items: SQLite FTS5 (BM25) or PostgreSQL ``tsvector`` (ts_rank).

Both indexes are created by migration 0005 and kept current by triggers on ``items``, so this module
only reads. Query words are OR-ed: a book matching more of them (or matching in its title) ranks
higher, and one unknown word does not empty the result, which matters when the fused semantic list
is there to supply recall anyway.
"""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.orm import Session

# Words that carry no topic in a catalog query ("books about dragons"): matched, they would rank
# every description that says "book" or "about".
# fmt: off
STOPWORDS = frozenset((
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "at", "for", "with", "about", "from", "by",
    "as", "is", "are", "be", "it", "its", "this", "that", "these", "those", "my", "our", "your", "me",
    "i", "we", "you", "some", "any", "all", "more", "most", "like", "want", "looking", "find", "show",
    "please", "book", "books", "read", "reading", "reads", "story", "stories", "kid", "kids", "child",
    "children",
))
# fmt: on
# Column weights of the FTS5 table (title, authors, tags, series_name, description): a word in the title
# says more about a book than the same word deep in its blurb.
BM25_WEIGHTS = (10.0, 4.0, 4.0, 4.0, 1.0)
MAX_TERMS = 16


def query_terms(query: str) -> list[str]:
    """Lower-case words of the query minus stopwords, de-duplicated, in order."""
    words = re.findall(r"[^\W_]+", query.lower())
    return list(dict.fromkeys(word for word in words if word not in STOPWORDS))[:MAX_TERMS]


def fulltext_ranking(session: Session, tenant_id: int, query: str, depth: int) -> list[int]:
    """Item primary keys matching any query word, best first, at most ``depth``."""
    terms = query_terms(query)
    if not terms or depth <= 0:
        return []
    if session.get_bind().dialect.name == "sqlite":
        return _sqlite(session, tenant_id, terms, depth)
    return _postgresql(session, tenant_id, terms, depth)


def _sqlite(session: Session, tenant_id: int, terms: list[str], depth: int) -> list[int]:
    match = " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)
    weights = ", ".join(str(weight) for weight in BM25_WEIGHTS)
    rows = session.execute(
        text(
            "SELECT items.id FROM items_fts JOIN items ON items.id = items_fts.rowid "
            "WHERE items_fts MATCH :match AND items.tenant_id = :tenant "
            f"ORDER BY bm25(items_fts, {weights}), items.id LIMIT :depth"
        ),
        {"match": match, "tenant": tenant_id, "depth": depth},
    )
    return [row[0] for row in rows]


def _postgresql(session: Session, tenant_id: int, terms: list[str], depth: int) -> list[int]:
    # to_tsquery wants operators between plain lexemes: keep only letters and digits of each word.
    lexemes = [re.sub(r"[^\w]", "", term) for term in terms]
    tsquery = " | ".join(lexeme for lexeme in lexemes if lexeme)
    if not tsquery:
        return []
    rows = session.execute(
        text(
            "SELECT f.item_id FROM items_fts f, to_tsquery('english', :query) q "
            "WHERE f.tenant_id = :tenant AND f.document @@ q "
            "ORDER BY ts_rank(f.document, q) DESC, f.item_id LIMIT :depth"
        ),
        {"query": tsquery, "tenant": tenant_id, "depth": depth},
    )
    return [row[0] for row in rows]
