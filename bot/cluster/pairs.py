"""Which pairs of articles are the same story, how they score, and `same_story`.

Every pair of candidates is scored, exactly, in a few matrix products (`_edges`); a pair's
score is the cosine of its profiles less what its time gap costs, and the guards (labels,
directions, names) set it to 0 for the hard negatives a bag of syllables cannot see.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta

import numpy as np
import numpy.typing as npt

from bot.cluster.terms import _reading
from bot.cluster.weights import TermStats, _Profile, _profile, _Weights
from bot.models import StoredArticle

WINDOW = timedelta(hours=36)
# Chosen on VMDS (bench/cluster.py, every article in one window) and on the labelled pairs
# (with their real time gaps), precision first: merging two events hides one from the
# edition, a missed merge only shows a story twice.
THRESHOLD = 0.22
THRESHOLD_FAR = 0.6
THRESHOLD_RISE = timedelta(hours=12)
_BAR_RISE, _RISE_SECONDS = THRESHOLD_FAR - THRESHOLD, THRESHOLD_RISE.total_seconds()
_FLOOR = 0.1
# A term in more than this share of the candidates (and at least _DENSE_MIN of them) is
# scored in the dense product, the others pair by pair (see `_Dots`).
_DENSE_SHARE, _DENSE_MIN = 0.02, 50
_ROWS = 256  # rows of the similarity matrix made at once: 256 × 5,000 floats is 10 MB

Floats = npt.NDArray[np.float64]


def same_story(
    a: StoredArticle,
    b: StoredArticle,
    *,
    window: timedelta = WINDOW,
    stats: TermStats | None = None,
) -> bool:
    """Whether two articles report the same event (see the docstring of bot.cluster)."""
    weights = _Weights(stats)
    p, q = (_profile(x, _reading(x), weights) for x in (a, b))
    return _similarity(p, q, window.total_seconds()) >= THRESHOLD


def _similarity(p: _Profile, q: _Profile, window: float) -> float:
    """The pair's score less what its time gap costs; 0 when out of the window or guarded.

    Below `THRESHOLD` a pair is not the same story by itself, but its similarity still
    counts toward a group's mean; below `_FLOOR` it is noise and counts 0.

    Outlets report one event within hours of each other; a day later, the same place and
    people are more often in a new event (the next day's exam results, another crash on
    the same pass). So the bar rises with the gap, from `THRESHOLD` to `THRESHOLD_FAR`.
    `_edges` computes the same for every pair of an edition at once.
    """
    gap = abs(p.at - q.at)
    if gap > window:
        return 0.0
    score = _score(p, q) - _BAR_RISE * min(gap / _RISE_SECONDS, 1.0)
    if score < _FLOOR or _guarded(p, q):
        return 0.0
    return score


def _score(p: _Profile, q: _Profile) -> float:
    """Cosine of the two articles' weighted terms, 0..1.

    Terms keep their diacritics ("tăng" is not "tặng") unless one article has none.
    """
    pv, qv = (p.vector, q.vector) if p.marked and q.marked else (p.folded, q.folded)
    return sum(pv[term] * qv[term] for term in pv.keys() & qv.keys())


def _edges(profiles: Sequence[_Profile], window: float) -> dict[tuple[int, int], float]:
    """`_similarity` of every pair (i < j) where it is above 0, computed for all at once.

    5,000 candidates are 12.5 million pairs: one at a time in Python that is seconds, and
    comparing only pairs that share a heavy term (blocking) misses paraphrases. As
    matrices, the scores, the time gaps and the floor are a few products and comparisons
    over a block of rows at a time; only the pairs above the floor (a fraction of a
    percent) reach the guards, which read text and stay in Python.
    """
    first, second, score = _above_floor(profiles, window)
    # A pair below `THRESHOLD` only adds to a group's mean, and an article joins a group
    # only if one of its pairs reaches the bar (a mean never exceeds its largest term). So
    # the weak pairs of an article with no strong pair change nothing, and are left out
    # before the guards read their text.
    edges: dict[tuple[int, int], float] = {}
    joins = np.zeros(len(profiles), dtype=bool)
    strong = score >= THRESHOLD
    for i, j, value in _where(strong, first, second, score):
        if not _guarded(profiles[i], profiles[j]):
            edges[i, j] = value
            joins[i] = joins[j] = True
    weak = ~strong & joins[first] & joins[second]
    for i, j, value in _where(weak, first, second, score):
        if not _guarded(profiles[i], profiles[j]):
            edges[i, j] = value
    return edges


def _where(
    mask: npt.NDArray[np.bool_],
    first: npt.NDArray[np.int64],
    second: npt.NDArray[np.int64],
    score: Floats,
) -> Iterator[tuple[int, int, float]]:
    return zip(first[mask].tolist(), second[mask].tolist(), score[mask].tolist(), strict=True)


def _above_floor(
    profiles: Sequence[_Profile], window: float
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], Floats]:
    """Every pair (i < j) whose score less its time gap's cost reaches `_FLOOR`."""
    count = len(profiles)
    marked = np.array([p.marked for p in profiles])
    by_key = _Dots([p.vector for p in profiles])
    # Articles typed without diacritics compare by folded terms (`_score`): rare, so the
    # second set of products is only made when one is there.
    by_fold = None if marked.all() else _Dots([p.folded for p in profiles])
    at = np.array([p.at for p in profiles], dtype=np.float64)
    firsts, seconds, scores = [], [], []
    for start in range(0, count, _ROWS):
        stop = min(count, start + _ROWS)
        score = by_key.block(start, stop)
        if by_fold is not None:
            both = marked[start:stop, None] & marked[None, start:]
            score = np.where(both, score, by_fold.block(start, stop))
        # The time gap only lowers a score, so it is worked out for the few pairs already
        # at the floor without it, not for the whole block.
        rows, columns = np.nonzero(score >= _FLOOR)
        upper = columns > rows  # j > i: each pair once, never an article with itself
        rows, columns = rows[upper], columns[upper]
        first, second = rows + start, columns + start
        gap = np.abs(at[first] - at[second])
        value = score[rows, columns] - _BAR_RISE * np.minimum(gap / _RISE_SECONDS, 1.0)
        kept = (gap <= window) & (value >= _FLOOR)
        firsts.append(first[kept])
        seconds.append(second[kept])
        scores.append(value[kept])
    if not firsts:
        nothing = np.zeros(0, dtype=np.int64)
        return nothing, nothing, np.zeros(0)
    return np.concatenate(firsts), np.concatenate(seconds), np.concatenate(scores)


class _Dots:
    """Dot products of sparse unit vectors, `block` rows at a time (the upper part).

    Terms split in two by how many vectors hold them. A common term ("giá", "tăng") is a
    column of a dense matrix, and the block is one matrix product in BLAS. A rare term
    (a name, a figure) is shared by a few vectors: its pairs are listed and their
    products added in with `bincount`. Either way alone costs far more: dense over all
    terms multiplies mostly zeros, and listing pairs for a term in half the candidates
    lists millions.
    """

    def __init__(self, vectors: Sequence[Mapping[str, float]]) -> None:
        self._count = count = len(vectors)
        # Numbered in order of first appearance; each step below runs in C.
        ids = {term: n for n, term in enumerate(dict.fromkeys(itertools.chain(*vectors)))}
        rows = np.repeat(np.arange(count), [len(v) for v in vectors])
        terms = np.fromiter(map(ids.__getitem__, itertools.chain(*vectors)), dtype=np.int64)
        weights = np.fromiter(
            itertools.chain.from_iterable(v.values() for v in vectors), dtype=np.float64
        )
        df = np.bincount(terms, minlength=len(ids))
        dense = df > max(_DENSE_MIN, int(count * _DENSE_SHARE))
        column = np.cumsum(dense) - 1
        # Single precision halves the product's time; a score moves by a ten-millionth,
        # which no threshold here is fine enough to notice.
        self._dense = np.zeros((count, int(dense.sum())), dtype=np.float32)
        held = dense[terms]
        self._dense[rows[held], column[terms[held]]] = weights[held]
        shared = ~held & (df[terms] > 1)
        self._pairs = _SharedTerms(terms[shared], rows[shared], weights[shared])

    def block(self, start: int, stop: int) -> npt.NDArray[np.float32]:
        """Rows `start:stop` of the dot products, columns `start:` on (the upper part)."""
        width = self._count - start
        block: npt.NDArray[np.float32] = self._dense[start:stop] @ self._dense[start:].T
        first, second, products = self._pairs.rows(start)
        flat = (first - start) * width + (second - start)
        block += np.bincount(flat, weights=products, minlength=(stop - start) * width).reshape(
            stop - start, width
        )
        return block


class _SharedTerms:
    """Every pair of vectors that shares a rare term, with the product of its weights.

    A pair sharing three terms is listed three times; `bincount` adds them up.
    """

    def __init__(
        self,
        terms: npt.NDArray[np.int64],
        rows: npt.NDArray[np.int64],
        weights: Floats,
    ) -> None:
        # By term, then row: each term's holders in a run, the lower row first. An entry
        # and the k-th next one in the same run make a pair; only an entry that made a
        # pair at k can make one at k + 1, so the entries looked at shrink to the pairs.
        order = np.lexsort((rows, terms))
        terms, rows, weights = terms[order], rows[order], weights[order]
        firsts, seconds, products = [], [], []
        pair = np.arange(len(terms))
        for offset in itertools.count(1):
            pair = pair[pair + offset < len(terms)]
            pair = pair[terms[pair + offset] == terms[pair]]
            if not pair.size:
                break
            firsts.append(rows[pair])
            seconds.append(rows[pair + offset])
            products.append(weights[pair] * weights[pair + offset])
        first = np.concatenate(firsts) if firsts else np.zeros(0, dtype=np.int64)
        # Grouped by block of `_ROWS` rows, not sorted: few block numbers, small integers,
        # which numpy sorts by radix in one pass (a full sort of a million pairs is ten
        # times slower).
        block = first // _ROWS
        if block.size and block.max() <= np.iinfo(np.int16).max:  # 8 million rows
            block = block.astype(np.int16)
        order = np.argsort(block, kind="stable")
        self._bounds = np.searchsorted(block[order], np.arange(block.max(initial=0) + 2))
        self._first = first[order]
        self._second = np.concatenate(seconds)[order] if seconds else first
        self._products = np.concatenate(products)[order] if products else first.astype(float)

    def rows(self, start: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], Floats]:
        """The pairs whose first vector is in the block of rows that begins at `start`."""
        block = start // _ROWS
        if block + 1 >= len(self._bounds):
            nothing = self._first[:0]
            return nothing, nothing, self._products[:0]
        lo, hi = self._bounds[block], self._bounds[block + 1]
        return self._first[lo:hi], self._second[lo:hi], self._products[lo:hi]


def _guarded(p: _Profile, q: _Profile) -> bool:
    """Whether a guard keeps the two apart, however alike their words."""
    return _labels_differ(p, q) or _directions_differ(p, q) or _names_differ(p, q)


def _labels_differ(p: _Profile, q: _Profile) -> bool:
    """ "bão số 3" vs "bão số 4": the same label with no number in common."""
    return bool(p.labels) and any(
        key in q.labels and not values & q.labels[key] for key, values in p.labels.items()
    )


def _directions_differ(p: _Profile, q: _Profile) -> bool:
    """One rises and the other falls, and at least one title says so."""
    return p.direction * q.direction < 0 and (p.direction_in_title or q.direction_in_title)


def _names_differ(p: _Profile, q: _Profile) -> bool:
    """Each title names someone or somewhere that the other article never mentions.

    One-sided absence is normal (one outlet writes "Bình Nhưỡng", the other "Triều
    Tiên"); when both sides do it, the articles are about different instances.
    """
    return _names_missing(p, q) and _names_missing(q, p)


def _names_missing(p: _Profile, q: _Profile) -> bool:
    for mentions in p.title_names:
        for mention in mentions:
            if mention in q.folded_text:
                break
        else:
            return True  # not the name, nor two consecutive syllables of it
    return False
