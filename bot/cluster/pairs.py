"""Which pairs of articles are compared, how they score, and `same_story`.

Blocking keeps the pairs to those sharing one of their heaviest terms; a pair's score is
the cosine of its profiles less what its time gap costs, and the guards (labels,
directions, names) set it to 0 for the hard negatives a bag of syllables cannot see.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
from collections.abc import Iterator, Sequence
from datetime import timedelta

from bot.cluster.terms import _reading
from bot.cluster.weights import TermStats, _Profile, _profile, _weigher
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
_BLOCK_KEYS, _BLOCK_SHARE, _BLOCK_MIN = 8, 0.02, 50


def same_story(
    a: StoredArticle,
    b: StoredArticle,
    *,
    window: timedelta = WINDOW,
    stats: TermStats | None = None,
) -> bool:
    """Whether two articles report the same event (see the docstring of bot.cluster)."""
    weigh = _weigher(stats)
    p, q = (_profile(x, _reading(x), weigh) for x in (a, b))
    return _related(p, q, window)


def _candidate_pairs(profiles: Sequence[_Profile]) -> Iterator[tuple[int, int]]:
    """Pairs that share one of their heaviest terms (blocking), each once, in order.

    Comparing every pair is quadratic: 5,000 candidates are 12.5 million pairs. Two
    reports of one story share names, figures or rare title words, which are each one's
    heaviest terms (`_BLOCK_KEYS` of them); a term in more than `_BLOCK_SHARE` of the
    candidates says little and would pair almost everything.

    Pairs are made article by article and never gathered into one set: half a million
    pairs would be freed in one go at the end, a pause of tens of milliseconds that holds
    the interpreter (and the event loop waiting for it) however the work is threaded.
    """
    keys = [
        [term for term, _ in heapq.nlargest(_BLOCK_KEYS, p.folded.items(), key=_second)]
        for p in profiles
    ]
    postings: dict[str, list[int]] = {}
    for i, terms in enumerate(keys):
        for term in terms:
            postings.setdefault(term, []).append(i)  # ascending: i only grows
    limit = max(_BLOCK_MIN, int(len(profiles) * _BLOCK_SHARE))
    for i, terms in enumerate(keys):
        later: set[int] = set()
        for term in terms:
            members = postings[term]
            if len(members) <= limit:
                later.update(members[bisect.bisect_right(members, i) :])
        for j in sorted(later):
            yield i, j


def _second(item: tuple[str, float]) -> float:
    return item[1]


def _related(p: _Profile, q: _Profile, window: timedelta) -> bool:
    return _similarity(p, q, window.total_seconds()) >= THRESHOLD


def _similarity(p: _Profile, q: _Profile, window: float) -> float:
    """The pair's score less what its time gap costs; 0 when out of the window or guarded.

    Below `THRESHOLD` a pair is not the same story by itself, but its similarity still
    counts toward a group's mean; below `_FLOOR` it is noise and counts 0.

    Outlets report one event within hours of each other; a day later, the same place and
    people are more often in a new event (the next day's exam results, another crash on
    the same pass). So the bar rises with the gap, from `THRESHOLD` to `THRESHOLD_FAR`.

    `window` and the profiles' times are in seconds: this runs for every candidate pair
    (hundreds of thousands in a day's edition), and float arithmetic is much cheaper than
    datetime arithmetic.
    """
    gap = abs(p.at - q.at)
    if gap > window:
        return 0.0
    rise = _BAR_RISE * (gap / _RISE_SECONDS if gap < _RISE_SECONDS else 1.0)
    score = _score(p, q) - rise
    if score < _FLOOR:
        return 0.0
    if _labels_differ(p, q) or _directions_differ(p, q) or _names_differ(p, q):
        return 0.0
    return score


def _score(p: _Profile, q: _Profile) -> float:
    """Cosine of the two articles' weighted terms, 0..1.

    Terms keep their diacritics ("tăng" is not "tặng") unless one article has none.
    """
    pv, qv = (p.vector, q.vector) if p.marked and q.marked else (p.folded, q.folded)
    # The hot loop of `cluster`. The intersection is a set operation in C; two reports
    # share three or four terms, few enough that a plain loop adds them up faster than
    # sum(map(...)) would, in the same order.
    dot = 0.0
    for term in pv.keys() & qv.keys():
        dot += pv[term] * qv[term]
    return dot


def _labels_differ(p: _Profile, q: _Profile) -> bool:
    """ "bão số 3" vs "bão số 4": the same label with no number in common."""
    return any(key in q.labels and not values & q.labels[key] for key, values in p.labels.items())


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
    for name in p.title_names:
        if len(name) == 1:
            if f" {name[0]} " not in q.folded_text:
                return True
        elif not any(f" {x} {y} " in q.folded_text for x, y in itertools.pairwise(name)):
            return True  # no two consecutive syllables of the name appear together
    return False
