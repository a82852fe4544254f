"""How much each term weighs, and an article's weighted vectors (`_Profile`).

Learnt as an inverse document frequency (`TermStats`, from the article store or from the
candidates), or the built-in weights (`_STOP`, `_COMMON`, figures) when there are too few
documents. Title terms count twice; vectors are unit length, so a cosine is a dot product.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.cluster.terms import _ALIASES, _STOP, _Reading, _reading
from bot.models import StoredArticle
from bot.vietnamese import fold, match_key, words

MIN_SAMPLE = 100  # fewer documents than this say little about how common a word is
TITLE_BOOST = 2.0
# Syllables found in a large share of all Vietnamese news whatever the event: people,
# the state, the economy, the two big cities. They count, but little.
_COMMON = frozenset(
    (
        "nguoi cong dong quoc te hoi nuoc chinh viet phat dan nhan tin cao hang kinh dieu "
        "quan thong di hien ly lon thoi gian bo truong hoc sinh can dai an toan dung tiep "
        "thuc hop tac chuc phai nang dat hoat tang giam nha ty trieu ha noi tphcm gia ban "
        "xe tong thu chu tich so hai bon sau bay tram nghin manh dau tien ket qua"
    ).split()
)


def _index_spellings() -> dict[str, list[tuple[str, ...]]]:
    """Each alias and the spellings it stands for: "vn" → [("viet", "nam")]."""
    spellings: dict[str, list[tuple[str, ...]]] = {}
    for spelling, alias in _ALIASES.items():
        spellings.setdefault(alias, []).append(spelling)
    return spellings


_SPELLINGS = _index_spellings()
_WEIGHT_STOP, _WEIGHT_COMMON, _WEIGHT_WORD = 0.0, 0.3, 1.0
_WEIGHT_FIGURE, _WEIGHT_SMALL_NUMBER = 2.0, 0.5
_HAS_DIGIT = re.compile(r"\d")


@dataclass(frozen=True, slots=True)
class _Profile:
    """What the comparison needs from one article, computed once."""

    at: float  # shown_at as a timestamp
    # Unit vectors, so that a cosine is a dot product: match-key term → weight (title
    # terms weigh more), and the same by folded term ("tăng" and "tặng" are one; empty
    # when the run has no article without diacritics, see `_profile`).
    vector: Mapping[str, float]
    folded: Mapping[str, float]
    marked: bool  # written with diacritics (some feeds drop them all)
    folded_text: str  # see `_Reading`
    title_names: tuple[tuple[str, ...], ...]  # see `_Reading`
    labels: Mapping[str, frozenset[str]]
    direction: int  # +1 up, -1 down, 0 neither or both
    direction_in_title: bool


@dataclass(frozen=True)
class TermStats:
    """In how many of `documents` articles each term occurs (title or summary, once each).

    Learnt from the bot's own article store (or from the candidates themselves): a shared
    rare word says more than a shared "người", and what is rare depends on the news.
    """

    documents: int
    df: Mapping[str, int]

    @classmethod
    def of(cls, articles: Sequence[StoredArticle]) -> TermStats:
        return cls._of([_reading(article) for article in articles])

    @classmethod
    def _of(cls, readings: Sequence[_Reading]) -> TermStats:
        counts: Counter[str] = Counter()
        for reading in readings:
            counts.update(reading.terms)
        return cls(len(readings), counts)

    def completed(self, sample: TermStats) -> TermStats:
        """These counts, and the sample's scaled up for the terms they lack.

        The store's index knows words; the terms made here ("tphcm" for "Thành phố Hồ Chí
        Minh", "1000" for "1.000") are not among them, and the edition's own candidates are
        the best guess of how common those are.
        """
        scale = self.documents / max(sample.documents, 1)
        extra = {
            term: max(round(count * scale), 1)
            for term, count in sample.df.items()
            if term not in self.df
        }
        # The index counts "VN" written as such; the term "vn" is every "Việt Nam" too.
        spelled = {
            term: max(self.df.get(term, 0), extra.get(term, 0), self._spelled_out(term))
            for term in sample.df.keys() & _SPELLINGS.keys()
        }
        return TermStats(self.documents, {**self.df, **extra, **spelled})

    def _spelled_out(self, term: str) -> int:
        """How many stored articles may spell an abbreviation out ("vn": "Việt Nam").

        At most as many as hold its rarest known syllable; this bound is the estimate. A
        sample of candidates says little about a word every outlet writes: in an edition
        without much home news "Việt Nam" would look rare, and weigh like a name.
        """
        return max(
            (
                min(known)
                for spelling in _SPELLINGS.get(term, ())
                if (known := [self.df[s] for s in spelling if s in self.df])
            ),
            default=0,
        )

    def idf(self, term: str) -> float:
        return math.log((self.documents + 1) / (self.df.get(term, 0) + 0.5))


def lookup_terms(articles: Iterable[StoredArticle]) -> set[str]:
    """The words to ask the article store about (`Storage.term_stats`), as its index has
    them: the folded and match-key forms of each word of the title and summary. Stop
    words and single letters are left out (they weigh nothing), and so are numbers: the
    index cuts "21.890" and "13h" where `_tokens` does not, and reads "ba" as a word
    where `_tokens` reads 3 (their counts come from the candidates, see `completed`)."""
    terms: set[str] = set()
    for article in articles:
        text = f"{article.title}\n{article.summary}"
        terms.update(words(match_key(text)), words(fold(text)))
    return {t for t in terms if weighs_something(t) and not _HAS_DIGIT.search(t)}


def article_terms(article: StoredArticle) -> frozenset[str]:
    """The terms of an article that `TermStats` counts."""
    return frozenset(_reading(article).terms)


def _profile(
    article: StoredArticle, reading: _Reading, weights: _Weights, *, folded: bool = True
) -> _Profile:
    """The article as `_score` and the guards see it; without `folded`, no folded vector
    (when every article of a run has diacritics, none is compared by it)."""
    # A term's weight depends on its key alone, so a key weighs its title weight if the
    # title has it and its plain weight otherwise; a folded term, its heaviest key's.
    vector = {key: weight for key in reading.summary_keys if (weight := weights[key]) > 0}
    vector |= {
        key: TITLE_BOOST * weight for key in reading.title_keys if (weight := weights[key]) > 0
    }
    return _Profile(
        at=article.shown_at.timestamp(),
        vector=_unit(vector),
        folded=_unit(_by_fold(vector, reading)) if folded else {},
        marked=reading.marked,
        folded_text=reading.folded_text,
        title_names=reading.title_names,
        labels=reading.labels,
        direction=reading.direction,
        direction_in_title=reading.direction_in_title,
    )


def _by_fold(vector: dict[str, float], reading: _Reading) -> dict[str, float]:
    folds = dict(zip(reading.summary_keys, reading.summary_folds, strict=True))
    folds.update(zip(reading.title_keys, reading.title_folds, strict=True))
    folded: dict[str, float] = {}
    for key, weight in vector.items():
        term = folds[key]
        if weight > folded.get(term, 0.0):
            folded[term] = weight
    return folded


def _unit(vector: dict[str, float]) -> dict[str, float]:
    norm = math.hypot(*vector.values())
    return {t: w / norm for t, w in vector.items()} if norm else {}


class _Weights(dict[str, float]):
    """Each term's weight by match key: learnt from `stats` when given, else built in.

    Worked out the first time a key is asked for, then read back as a plain dict lookup:
    one clustering run asks a quarter of a million times for a few thousand syllables.
    A key's folded form follows from it (`fold` strips what `match_key` keeps).
    """

    def __init__(self, stats: TermStats | None) -> None:
        super().__init__()
        self._stats = stats

    def __missing__(self, key: str) -> float:
        folded = fold(key)
        weight = self[key] = (
            _weight(folded) if self._stats is None else _learnt_weight(self._stats, key, folded)
        )
        return weight


def _learnt_weight(stats: TermStats, key: str, folded: str) -> float:
    return stats.idf(key) if weighs_something(folded) else 0.0


def weighs_something(term: str) -> bool:
    """Whether a learnt weight can be above 0: no stop word, no single letter."""
    folded = fold(term)
    return folded not in _STOP and (len(folded) > 1 or folded.isdigit())


@functools.lru_cache(maxsize=65536)  # syllables repeat; figures do not, hence the bound
def _weight(term: str) -> float:
    if term[0].isdigit():
        is_year = len(term) == 4 and term.startswith(("19", "20"))
        is_figure = "_" in term or (len(term) >= 3 and not is_year)
        return _WEIGHT_FIGURE if is_figure else _WEIGHT_SMALL_NUMBER
    if term in _STOP or len(term) == 1:
        return _WEIGHT_STOP
    return _WEIGHT_COMMON if term in _COMMON else _WEIGHT_WORD
