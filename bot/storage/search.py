"""Search: the FTS5 index's keys, the query compiler, ranked search and saved searches.

Every article carries its title and summary twice more: folded (no diacritics, đ → d) and
as a key that keeps the diacritics in one spelling (bot.vietnamese). The FTS5 index, kept in
sync by triggers (bot.storage.migrations), covers both, plus the feed as one opaque token.
A user's words are quoted token by token, so nothing typed is FTS syntax.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from bot.cluster import TermStats
from bot.models import StoredArticle
from bot.query import SearchQuery
from bot.storage.base import (
    ARTICLE_COLUMNS,
    StorageBase,
    _wrap_errors,
    article_from_row,
    to_db_time,
)
from bot.vietnamese import Term, fold, match_key

_VOCAB_BATCH = 100  # terms per look-up: ~0.1 s at a million articles, then writers may go
TERM_COUNTS_FRESH = timedelta(hours=6)
_FRESH = TERM_COUNTS_FRESH.total_seconds()
_TERM_COUNTS_MAX = 200_000  # more terms than news uses in months: start afresh

SEARCH_WINDOW = 1000  # newest matches ranked per query: bounds the cost of common words
RECENCY_DAYS = 14.0  # a match this many days old counts half as much as one from today


def search_keys(text: str) -> tuple[str, str]:
    """(folded, exact-form key) of a title or summary: the two columns the index reads."""
    return fold(text), match_key(text)


def feed_token(feed_id: str) -> str:
    """The feed as one opaque index token, so `nguon:` is an exact match inside FTS5."""
    return "feed" + feed_id.encode().hex()


class SearchStore(StorageBase):
    """Ranked full-text search, and the queries kept for result pages; how common
    each indexed word is (for clustering)."""

    @_wrap_errors
    async def term_stats(self, terms: Iterable[str]) -> TermStats:
        """In how many stored articles each of `terms` occurs (title or summary).

        For clustering: a word's weight is how rare it is in the news, and the store knows
        that far better than an edition's few candidates. Terms are the index's own: the
        folded and match-key forms of each syllable, so one row counts once however many
        of its columns hold the word (`bot.cluster.article_terms` counts the same way).
        A term the index lacks is left out (the caller estimates it).

        Each term is a seek in the FTS index (`articles_vocab`) and a walk over its list
        of rows: about a millisecond for a common word at a million articles, two
        seconds for an edition's 2,600 words (bench/term_stats.py). So counts are kept
        for `TERM_COUNTS_FRESH` (a word's share of a large archive hardly moves in
        hours, and editions and breaking-news checks ask for mostly the same words), and
        the rest are looked up in batches, the connection free for writers in between.
        The number of articles is estimated from the ids, as pruning removes the oldest:
        counting a million rows would walk a whole index.
        """
        now = time.monotonic()
        cache = self._term_counts
        if len(cache) > _TERM_COUNTS_MAX:
            cache.clear()
        wanted = set(terms)
        missing = sorted(t for t in wanted if not (t in cache and now - cache[t][1] < _FRESH))
        for start in range(0, len(missing), _VOCAB_BATCH):
            batch = missing[start : start + _VOCAB_BATCH]
            marks = ", ".join("?" * len(batch))
            rows = await self._fetchall(
                f"SELECT term, doc FROM temp.articles_vocab WHERE term IN ({marks})", batch
            )
            found = {str(term): int(doc) for term, doc in rows}
            cache.update({term: (found.get(term), now) for term in batch})
        documents = await self._scalar("SELECT max(id) - min(id) + 1 FROM articles")
        df = {t: count for t in wanted if (count := cache[t][0]) is not None}
        return TermStats(int(documents or 0), df)

    @_wrap_errors
    async def search(
        self,
        query: SearchQuery,
        limit: int,
        offset: int = 0,
        *,
        now: datetime | None = None,
        deadline: float | None = None,
    ) -> list[StoredArticle]:
        """Articles matching a parsed query, best first.

        FTS5 walks the matches newest first and stops after SEARCH_WINDOW of them, so a
        query as common as "Hà Nội" costs about the same at a million articles as at a
        thousand. bm25 is left out on purpose: it reads every matching document's entry
        for each term (20–40 ms for common words at a million articles). The candidates
        are ranked instead by where the words occur (title over summary, the exact
        diacritics the user typed counted again), blended with recency. Every word is
        quoted, so nothing typed is FTS syntax; a source filter is a token in the index.
        With a `deadline` (time.monotonic()), SearchTooSlow when the query runs past it.
        """
        if not query.searchable:
            return []
        sql, params = ranked_query(query, limit, offset, now)
        rows = await self._fetchall(sql, params, deadline=deadline)
        return [article_from_row(row) for row in rows]

    @_wrap_errors
    async def save_search(self, text: str, at: datetime, chat: str) -> int:
        """Keep a query for its result pages; only `chat` may read it back."""
        async with self._transaction() as db:
            cursor = await db.execute(
                "INSERT INTO searches (query, created_at, chat) VALUES (?, ?, ?)",
                (text, to_db_time(at), chat),
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    @_wrap_errors
    async def saved_search(self, search_id: int, chat: str) -> str | None:
        """The query saved under this id for this chat; None for any other chat."""
        rows = await self._fetchall(
            "SELECT query FROM searches WHERE id = ? AND chat = ?", (search_id, chat)
        )
        return str(rows[0][0]) if rows else None


def ranked_query(
    query: SearchQuery,
    limit: int,
    offset: int,
    now: datetime | None,
    only: str = "",
    only_params: Sequence[object] = (),
) -> tuple[str, tuple[object, ...]]:
    """The ranked search SQL and its parameters (see `SearchStore.search`); `only`, a
    condition on the article `a`, keeps some of the window's matches (the public site)."""
    relevance, params = _relevance(query)
    where = f"WHERE {only}" if only else ""
    sql = f"""
        WITH candidates AS (
            SELECT rowid AS id FROM articles_fts WHERE articles_fts MATCH ?
            ORDER BY rowid DESC LIMIT {SEARCH_WINDOW}
        )
        SELECT {ARTICLE_COLUMNS} FROM candidates c JOIN articles a ON a.id = c.id
        {where}
        ORDER BY ({relevance})
            / (1.0 + (julianday(?) - julianday(a.first_seen_at)) / {RECENCY_DAYS}) DESC,
            a.id DESC
        LIMIT ? OFFSET ?
        """
    when = to_db_time(now or datetime.now(UTC))
    return sql, (fts_expression(query), *only_params, *params, when, limit, offset)


def _relevance(query: SearchQuery) -> tuple[str, list[str]]:
    """An SQL score for a candidate: each word or phrase in the title counts 4, in the
    summary 1; the same with the typed diacritics counts again (2 and 0.5)."""
    terms: list[str] = []
    params: list[str] = []
    for term in query.include:
        folded = " ".join(term.folded)
        terms.append("4.0 * (instr(a.title_fold, ?) > 0) + (instr(a.summary_fold, ?) > 0)")
        params += [folded, folded]
        if term.accented:
            key = " ".join(term.key)
            terms.append("2.0 * (instr(a.title_key, ?) > 0) + 0.5 * (instr(a.summary_key, ?) > 0)")
            params += [key, key]
    return " + ".join(["0.1", *terms]), params


def fts_expression(query: SearchQuery) -> str:
    """The FTS5 MATCH expression for a parsed query; every word is a quoted string.

    A word matches the folded columns; when the user typed diacritics, the same words in
    the key columns are OR-ed in, matching nothing more but ranking exact forms higher.
    """

    def quoted(tokens: Sequence[str]) -> str:
        return '"' + " ".join(t.replace('"', '""') for t in tokens) + '"'

    def positive(term: Term) -> str:
        folded = f"{{title_fold summary_fold}} : {quoted(term.folded)}"
        if term.accented:
            return f"({folded} OR {{title_key summary_key}} : {quoted(term.key)})"
        return f"({folded})"

    def negative(term: Term) -> str:
        if term.accented:
            return f"{{title_key summary_key}} : {quoted(term.key)}"
        return f"{{title_fold summary_fold}} : {quoted(term.folded)}"

    expression = " AND ".join(positive(t) for t in query.include)
    if query.sources:
        sources = " OR ".join(f'"{feed_token(source)}"' for source in query.sources)
        expression = f"({{feed_token}} : ({sources})) AND {expression}"
    for term in query.exclude:
        expression = f"({expression}) NOT {negative(term)}"
    return expression
