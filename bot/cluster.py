"""Story clustering: which articles from different outlets tell one story (pure).

Owns two decisions: `same_story` (are two articles about the same event?) and `cluster`
(an edition's candidates → `Story` groups: one main article and the other outlets' versions,
ranked for the edition).

How two articles are compared, on their title and summary only (every feed has those;
bodies are often missing or of very different lengths):

1. Tokens. Text is folded (no diacritics, đ → d, lowercase) and cut into syllables, so
   "Hòa"/"Hoà"/"Hoa" and feeds typed without marks compare equal. Numbers are normalised
   first ("1.000" → 1000, "4,5" → 4_5, "VN213" → vn 213). A few spellings that outlets
   use for one thing are merged ("TP.HCM" = "TPHCM" = "Thành phố Hồ Chí Minh", "động thổ" =
   "khởi công", "thiệt mạng" = "tử vong"). Capitalised syllables are remembered as names.
2. Score. Weighted Dice overlap of the two sets of syllables: function words weigh 0,
   very common news syllables 0.3, ordinary syllables 1, figures ("25.410", "7,4%") 2,
   small numbers and years 0.5. A rare shared figure or word says more than "người" or "Hà Nội".
   Pairs at or above `THRESHOLD` are the same story, unless a guard below says otherwise.
3. Guards, for the hard negatives a bag of syllables cannot see:
   * the window: articles shown more than `WINDOW` apart are never one story;
   * labelled numbers differ: "bão số 3" / "bão số 4", "Nghị định 73" / "Nghị định 24",
     "quý III" / "quý 2";
   * opposite directions: one says "tăng" and the other "giảm" (gold up in the morning,
     down in the afternoon), when at least one of them says so in its title;
   * each title names someone or somewhere the other article never mentions ("Kon Tum" /
     "Điện Biên", "Luật Đất đai" / "Luật Thủ đô"): same kind of event, another instance.

rapidfuzz's token_set/token_sort ratios on titles were tried as a further score and added
nothing on the labelled pairs: token_set_ratio is high exactly when two headlines share
a person and differ in the event, which is the hard case here.

Clustering is a star around the main article, never a chain (see `cluster`).
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from bot.models import StoredArticle
from bot.vietnamese import fold, match_key, nfc, words

WINDOW = timedelta(hours=36)
# Chosen on tests/data/cluster_pairs.json: 90% of same-story pairs score 0.44 or more
# (median 0.57); different events that share a place or person and pass the guards
# mostly score 0.1-0.35. Precision is preferred over recall: merging two events hides
# one from the edition, a missed merge only shows a story twice.
THRESHOLD = 0.44

# Function words, times of day and administrative prefixes (folded): they say nothing
# about which event a text reports.
_STOP = frozenset(
    (
        "va cua la co duoc cho cac nhung mot trong voi da dang se nay do khi de tu theo tai "
        "ve nhu thi ma cung khong ra vao len nen bi den nhieu rat hon ngay ong ba anh chi em "
        "toi chung ho no viec sau truoc tren duoi hay hoac neu vi van con deu moi lai qua o "
        "lam the sang chieu trua dem hom vua biet luc gio tinh huyen quan phuong xa tp thanh "
        "pho ubnd nam thang tuan ca khoang gan muc dua nhat khien xay"
    ).split()
)
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
_WEIGHT_STOP, _WEIGHT_COMMON, _WEIGHT_WORD = 0.0, 0.3, 1.0
_WEIGHT_FIGURE, _WEIGHT_SMALL_NUMBER = 2.0, 0.5
# One thing, several spellings (folded syllables → one token). Outputs are single
# tokens so that a stop syllable inside them ("tu" in "tu vong") is not lost.
_ALIASES: dict[tuple[str, ...], str] = {
    ("thanh", "pho", "ho", "chi", "minh"): "tphcm",
    ("tp", "ho", "chi", "minh"): "tphcm",
    ("tp", "hcm"): "tphcm",
    ("hoa", "ky"): "my",
    ("ngan", "hang", "nha", "nuoc"): "nhnn",
    ("trung", "hoc", "pho", "thong"): "thpt",
    ("giao", "thong", "van", "tai"): "gtvt",
    ("giao", "duc", "va", "dao", "tao"): "gddt",
    ("gd", "dt"): "gddt",
    ("o", "to"): "oto",
    ("xe", "hoi"): "oto",
    ("dong", "tho"): "khoicong",
    ("khoi", "cong"): "khoicong",
    ("tu", "vong"): "tuvong",
    ("thiet", "mang"): "tuvong",
    ("chet",): "tuvong",
    ("hoa", "hoan"): "chay",
}


def _index_aliases() -> dict[str, list[tuple[tuple[str, ...], str]]]:
    """Aliases by first syllable, longest spelling first ("tp ho chi minh" before "tp hcm")."""
    index: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for spelling, alias in sorted(_ALIASES.items(), key=lambda item: -len(item[0])):
        index.setdefault(spelling[0], []).append((spelling, alias))
    return index


_ALIASES_BY_FIRST = _index_aliases()
# Capitalised but not names of anyone or anywhere.
_UNITS = frozenset("usd vnd kwh km kg euro".split())
# A number right after one of these (match keys, so "số" is not "sở") names a thing:
# "bão số 3", "Nghị định 73", "quý III". For "số" the word before says what is numbered.
_LABEL_HEADS = frozenset({("số",), ("quý",), ("nghị", "định"), ("quyết", "định"), ("thông", "tư")})
_ROMAN = {"i": "1", "ii": "2", "iii": "3", "iv": "4"}  # quý I-IV

_THOUSANDS = re.compile(r"(?<=\d)\.(?=\d{3}(?!\d))")  # 1.000.000: Vietnamese separators
_DECIMAL = re.compile(r"(?<=\d),(?=\d)")  # 4,5: the decimal comma, kept inside the token
_LETTER_DIGIT = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")
# A mark then a space ends a sentence; "TP.HCM" and "4.5" have no space after the dot.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?:;…])\s+")


@dataclass(frozen=True)
class Story:
    """One event: the article to show and the other outlets' versions of it.

    `others` holds at most one article per feed, never from the main article's feed.
    `duplicates` are further versions from feeds already in the story (an outlet that
    published twice); they are not shown, but they belong to the story.
    """

    main: StoredArticle
    others: tuple[StoredArticle, ...]
    duplicates: tuple[StoredArticle, ...] = ()

    @property
    def outlets(self) -> int:
        """How many feeds carry the story."""
        return 1 + len(self.others)

    @property
    def latest(self) -> datetime:
        """When the story was last reported (by shown_at)."""
        return max(a.shown_at for a in (self.main, *self.others))


class _Token(NamedTuple):
    folded: str
    key: str  # match_key form: keeps "tăng" apart from "tầng" and "tặng"
    name: bool  # capitalised as part of a name


@dataclass(frozen=True)
class _Profile:
    """What the comparison needs from one article, computed once."""

    shown_at: datetime
    terms: frozenset[str]  # weighted syllables of title and summary
    mass: float  # sum of the weights of `terms`
    syllables: frozenset[str]  # every syllable, for name look-ups
    bigrams: frozenset[str]
    title_names: tuple[tuple[str, ...], ...]
    labels: Mapping[str, frozenset[str]]
    direction: int  # +1 up, -1 down, 0 neither or both
    direction_in_title: bool


def same_story(a: StoredArticle, b: StoredArticle, *, window: timedelta = WINDOW) -> bool:
    """Whether two articles report the same event (see the module docstring)."""
    return _related(_profile(a), _profile(b), window)


def cluster(articles: Sequence[StoredArticle], window: timedelta = WINDOW) -> list[Story]:
    """Group an edition's candidates into stories, ranked for the edition.

    Greedy star clustering. Articles are taken best summary first; each one not yet in a
    story becomes the main article of a new story, and every unassigned article related
    to *it* joins. Requiring the link to the main (not to any member) stops chains such
    as storm → flood in the storm's path → flood in another province.

    The main article is the one with the best summary, because it is what the edition
    shows: a complete summary before one cut with "…", longer before shorter (more of the
    story told), then the earliest shown (the outlet that had it first), then the lowest
    id, so the result never depends on input order.

    Stories are ranked by how many outlets carry them, then by the latest report.
    """
    ordered = sorted(articles, key=_main_rank)
    profiles = [_profile(article) for article in ordered]
    assigned = [False] * len(ordered)
    stories: list[Story] = []
    for i, main in enumerate(ordered):
        if assigned[i]:
            continue
        assigned[i] = True
        feeds = {main.feed_id}
        others: list[StoredArticle] = []
        duplicates: list[StoredArticle] = []
        for j in range(i + 1, len(ordered)):
            if assigned[j] or not _related(profiles[i], profiles[j], window):
                continue
            assigned[j] = True
            # Candidates come in main order, so the best version from each feed is kept.
            if ordered[j].feed_id in feeds:
                duplicates.append(ordered[j])
            else:
                feeds.add(ordered[j].feed_id)
                others.append(ordered[j])
        stories.append(Story(main, tuple(others), tuple(duplicates)))
    stories.sort(key=lambda s: (-s.outlets, -s.latest.timestamp(), _main_rank(s.main)))
    return stories


def _main_rank(article: StoredArticle) -> tuple[int, int, datetime, int]:
    """Sort key: best summary first (complete, then cut with "…", then none)."""
    summary = article.summary.strip()
    quality = 2 if not summary else 1 if summary.endswith(("…", "...")) else 0
    return (quality, -len(summary), article.shown_at, article.id)


def _related(p: _Profile, q: _Profile, window: timedelta) -> bool:
    if abs(p.shown_at - q.shown_at) > window:
        return False
    if _score(p, q) < THRESHOLD:
        return False
    return not (_labels_differ(p, q) or _directions_differ(p, q) or _names_differ(p, q))


def _score(p: _Profile, q: _Profile) -> float:
    """Weighted Dice overlap of the two articles' syllables, 0..1."""
    if not p.mass or not q.mass:
        return 0.0
    shared = sum(map(_weight, p.terms & q.terms))
    return 2 * shared / (p.mass + q.mass)


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
            if name[0] not in q.syllables:
                return True
        elif not any(f"{x} {y}" in q.bigrams for x, y in itertools.pairwise(name)):
            return True  # no two consecutive syllables of the name appear together
    return False


def _profile(article: StoredArticle) -> _Profile:
    title = _tokens(article.title)
    summary = _tokens(article.summary)
    everything = title + summary
    terms = frozenset(t.folded for t in everything if _weight(t.folded) > 0)
    title_direction = _direction(title, whole=True)
    in_title = title_direction is not None
    direction = title_direction if in_title else _direction(summary, whole=False)
    return _Profile(
        shown_at=article.shown_at,
        terms=terms,
        mass=sum(map(_weight, terms)),
        syllables=frozenset(t.folded for t in everything),
        bigrams=frozenset(_bigrams(title) | _bigrams(summary)),
        title_names=tuple(_names(title)),
        labels=_labels(title, summary),
        direction=direction or 0,
        direction_in_title=in_title,
    )


@functools.lru_cache(maxsize=65536)  # syllables repeat; figures do not, hence the bound
def _weight(term: str) -> float:
    if term[0].isdigit():
        is_year = len(term) == 4 and term.startswith(("19", "20"))
        is_figure = "_" in term or (len(term) >= 3 and not is_year)
        return _WEIGHT_FIGURE if is_figure else _WEIGHT_SMALL_NUMBER
    if term in _STOP or len(term) == 1:
        return _WEIGHT_STOP
    return _WEIGHT_COMMON if term in _COMMON else _WEIGHT_WORD


def _tokens(text: str) -> list[_Token]:
    """Folded syllables of `text`, numbers normalised, aliases merged, names marked."""
    text = nfc(text)
    text = _LETTER_DIGIT.sub(" ", _DECIMAL.sub("_", _THOUSANDS.sub("", text)))
    raw: list[str] = []
    starts: list[bool] = []  # whether each word opens a sentence (or the title)
    for sentence in _SENTENCE_BREAK.split(text):
        sentence_words = words(sentence)
        raw.extend(sentence_words)
        starts.extend(i == 0 for i in range(len(sentence_words)))
    # Words met inside a sentence, looked up once: scanning the text again for each
    # sentence's first word grew with the square of the sentences ("A. A. A. …").
    inside = frozenset(w for w, first in zip(raw, starts, strict=True) if not first)
    tokens = [_Token(*_forms(w), _is_name(raw, starts, i, inside)) for i, w in enumerate(raw)]
    return _merge_aliases(tokens)


@functools.lru_cache(maxsize=65536)  # news reuses a few thousand syllables: stays warm
def _forms(word: str) -> tuple[str, str]:
    return fold(word), match_key(word)


def _is_name(raw: list[str], starts: list[bool], i: int, inside: frozenset[str]) -> bool:
    """A capitalised word ("Hà", "Samsung") or a camel-cased brand ("iPhone").

    A sentence's first word is capitalised anyway, so there it counts only when the next
    word is capitalised too ("Hà Nội mưa lớn") or the same word is a name elsewhere in
    the text ("Apple ra mắt… tại sự kiện, Apple giới thiệu").
    """
    word = raw[i]
    capital = word[0].isupper() or (word[0].isalpha() and not word.islower())
    if not capital or not starts[i]:
        return capital
    following = raw[i + 1] if i + 1 < len(raw) and not starts[i + 1] else ""
    if following[:1].isupper():
        return True
    return word in inside


def _merge_aliases(tokens: list[_Token]) -> list[_Token]:
    merged: list[_Token] = []
    i = 0
    while i < len(tokens):
        for spelling, alias in _ALIASES_BY_FIRST.get(tokens[i].folded, ()):
            span = tokens[i : i + len(spelling)]
            if tuple(t.folded for t in span) == spelling:
                merged.append(_Token(alias, alias, any(t.name for t in span)))
                i += len(spelling)
                break
        else:
            merged.append(tokens[i])
            i += 1
    return merged


def _bigrams(tokens: list[_Token]) -> set[str]:
    return {f"{x.folded} {y.folded}" for x, y in itertools.pairwise(tokens)}


def _names(title: list[_Token]) -> list[tuple[str, ...]]:
    """Runs of consecutive name syllables in a title, leaving out units and initials."""
    runs: list[tuple[str, ...]] = []
    run: list[str] = []
    for token in [*title, _Token("", "", False)]:
        if token.name and not token.folded[0].isdigit():
            run.append(token.folded)
            continue
        if any(s not in _STOP and s not in _UNITS and len(s) > 1 for s in run):
            runs.append(tuple(run))
        run = []
    return runs


def _labels(*parts: list[_Token]) -> dict[str, frozenset[str]]:
    """Numbers that name a thing: "bão số 3" → {"bao số": {"3"}}, "quý III" → {"quý": {"3"}}."""
    labels: dict[str, set[str]] = {}
    for tokens in parts:
        for i in range(1, len(tokens)):
            head = _label_head(tokens, i)
            if head is None:
                continue
            value = tokens[i].folded
            value = _ROMAN.get(value, value) if head == "quý" else value
            if value[0].isdigit():
                labels.setdefault(head, set()).add(value.split("_")[0])
    return {head: frozenset(values) for head, values in labels.items()}


def _label_head(tokens: list[_Token], i: int) -> str | None:
    """The label that the number at `i` would carry, if the words before it make one."""
    one = (tokens[i - 1].key,)
    two = (tokens[i - 2].key, tokens[i - 1].key) if i >= 2 else one
    if two in _LABEL_HEADS:
        return " ".join(two)
    if one not in _LABEL_HEADS:
        return None
    if one == ("số",):  # "bão số 3" and "metro số 1" are different series
        return f"{tokens[i - 2].folded} số" if i >= 2 else "số"
    return one[0]


def _direction(tokens: list[_Token], *, whole: bool) -> int | None:
    """+1 if the text says "tăng", -1 if "giảm", None if neither.

    A title is read whole, and saying both is 0 (no direction). In a summary the first of
    the two words counts: the lead states the news first ("giảm 530 đồng, sau hai kỳ tăng").
    """
    found: list[int] = []
    for i, token in enumerate(tokens):
        following = tokens[i + 1].key if i + 1 < len(tokens) else ""
        if token.key == "tăng" and following != "cường":  # "tăng cường" = to strengthen
            found.append(1)
        elif token.key == "giảm":
            found.append(-1)
    if not found:
        return None
    return found[0] if not whole or len(set(found)) == 1 else 0
