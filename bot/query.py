"""Search queries as people type them → a structured query (pure).

Syntax for people, not FTS5: words (all must match), "quoted phrases", `-word` or
`-"phrase"` to exclude, `nguon:ID` (or `nguồn:ID`) to keep one source. Anything else is
plain words: quotes that never close, `*`, `NOT`, `NEAR(`, SQL, emoji. Each word is kept in
two forms: folded (every mark gone, đ → d) to match however it was typed, and the match key
(tone convention normalised) to prefer the exact diacritics when the user typed them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.vietnamese import Term, words

# Each term is one more posting list to read: bounded, so is a query's cost.
MAX_TERMS = 8
MAX_CHARS = 2000
MAX_WORDS_PER_PHRASE = 8
MAX_TOKEN_CHARS = 40
_PIECE = re.compile(r'(-?)"([^"]*)"?|(\S+)')
_SOURCE = re.compile(r"^(?:nguon|nguồn|source):(\S+)$", re.IGNORECASE)


@dataclass(frozen=True)
class SearchQuery:
    text: str
    include: tuple[Term, ...] = ()
    exclude: tuple[Term, ...] = ()
    sources: tuple[str, ...] = ()
    dropped: int = 0  # words or phrases past MAX_TERMS (or the text past MAX_CHARS): ignored

    @property
    def searchable(self) -> bool:
        return bool(self.include)

    def without(self, term: Term) -> SearchQuery:
        """The same query less one included term (to suggest what to drop)."""
        rest = tuple(t for t in self.include if t is not term)
        return SearchQuery(self.text, rest, self.exclude, self.sources, self.dropped)

    @property
    def highlight_words(self) -> frozenset[str]:
        """Folded words to show in bold in results."""
        return frozenset(w for term in self.include for w in term.folded)


def parse_query(text: str) -> SearchQuery:
    """Parse what a user typed; never fails, whatever the input."""
    include: list[Term] = []
    exclude: list[Term] = []
    sources: list[str] = []
    for match in _PIECE.finditer(text[:MAX_CHARS]):
        negated, quoted, bare = match.group(1) == "-", match.group(2), match.group(3)
        if bare is not None:
            source = _SOURCE.match(bare)
            if source:
                sources.append(source.group(1).lower())
                continue
            negated = bare.startswith("-") and len(bare) > 1
            pieces = [bare[1:]] if negated else words(bare)
        else:
            pieces = [quoted]  # a phrase stays one term
        for piece in pieces:
            term = Term.parse(piece, max_words=MAX_WORDS_PER_PHRASE, max_chars=MAX_TOKEN_CHARS)
            if term is not None:
                (exclude if negated else include).append(term)
    dropped = max(0, len(include) - MAX_TERMS) + max(0, len(exclude) - MAX_TERMS)
    dropped += len(text) > MAX_CHARS
    return SearchQuery(
        text,
        tuple(include[:MAX_TERMS]),
        tuple(exclude[:MAX_TERMS]),
        tuple(dict.fromkeys(sources))[:MAX_TERMS],
        dropped,
    )
