"""Reading an article's text: what its title and summary say, whatever the weights.

Text is cut into syllables, kept as match keys ("tăng" is not "tặng") and folded (no
diacritics, đ → d). Numbers are normalised, number words become digits, spellings and
abbreviations of one thing are merged, and capitalised syllables are remembered as names
(honorifics and words also written in lower case left out). Labels ("bão số 3") and the
direction ("tăng"/"giảm") are read too. A `_Reading` holds all of it; `_read` keeps the
readings of recent texts (see bot.cluster for how they are used).
"""

from __future__ import annotations

import functools
import itertools
import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from bot.models import Article, StoredArticle
from bot.vietnamese import FUNCTION_WORDS_FOLDED, fold, match_key, nfc, words

# Folded syllables that say nothing about which event a text reports: the function words
# (bot.vietnamese), and these news words on top of them.
_TIMES = frozenset("sang chieu trua dem hom luc gio thang tuan".split())  # "sáng 27/11"
_ADMINISTRATIVE = frozenset("tinh huyen quan phuong xa tp thanh pho ubnd".split())  # "UBND tỉnh"
# Degree and approximation ("khoảng", "gần", "nhất"), and the verbs of any report
# ("cho biết", "đưa tin", "xảy ra", "khiến").
_VAGUE = frozenset("ca khoang gan muc nhat vua biet dua xay khien".split())
_STOP = FUNCTION_WORDS_FOLDED | _TIMES | _ADMINISTRATIVE | _VAGUE

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
    # Common abbreviations, spelled out by other outlets.
    ("doanh", "nghiep"): "dn",
    ("viet", "nam"): "vn",
    ("ha", "noi"): "hn",
    ("trung", "quoc"): "tq",
    ("lien", "hop", "quoc"): "lhq",
    ("quoc", "hoi"): "qh",
    ("dai", "bieu", "quoc", "hoi"): "dbqh",
    ("cau", "lac", "bo"): "clb",
    ("doi", "tuyen"): "dt",
    ("huan", "luyen", "vien"): "hlv",
    ("dai", "hoc"): "dh",
    ("cong", "an"): "ca",
    ("canh", "sat", "giao", "thong"): "csgt",
    ("bao", "hiem", "xa", "hoi"): "bhxh",
    ("bao", "hiem", "y", "te"): "bhyt",
    ("bat", "dong", "san"): "bds",
    ("toa", "an", "nhan", "dan"): "tand",
    ("vien", "kiem", "sat"): "vks",
    ("nha", "dau", "tu"): "ndt",
    ("thi", "truong", "chung", "khoan"): "ttck",
    ("ngan", "hang"): "nh",
}


def _index_aliases() -> dict[str, list[tuple[tuple[str, ...], str]]]:
    """Aliases by first syllable, longest spelling first ("tp ho chi minh" before "tp hcm")."""
    index: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for spelling, alias in sorted(_ALIASES.items(), key=lambda item: -len(item[0])):
        index.setdefault(spelling[0], []).append((spelling, alias))
    return index


_ALIASES_BY_FIRST = _index_aliases()
# Number words as digits (match keys: "sáu" is six, "sau" is after). "Một" and "năm"
# (also "a" and "year") are left alone.
_NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate("hai ba bốn _ sáu bảy tám chín mười".split(), start=2)
    if word != "_"
}
# Capitalised but not names of anyone or anywhere.
_UNITS = frozenset("usd vnd kwh km kg euro".split())
# Honorifics, offices and roles written before a name (folded); "cựu"/"phó" come before
# an office ("cựu Tổng thống", "Phó Thủ tướng").
_HONORIFICS = frozenset(
    tuple(title.split())
    for title in (
        "ong|ba|anh|chi|em|co|chu|bac|cu|be|ngai|cuu|pho|"
        "tong thong|thu tuong|chu tich|bo truong|ngoai truong|tong bi thu|bi thu|dai su|"
        "thu truong|thong doc|chanh an|giam doc|tong giam doc|chu nhiem|truong ban|"
        "dai tuong|thuong tuong|trung tuong|thieu tuong|dai ta|thuong ta|trung ta|thieu ta|"
        "giao su|tien si|thac si|bac si|luat su|nha bao|nha van|nha tho|"
        "ca si|nhac si|dien vien|dao dien|nguoi mau|hoa hau|a hau|"
        "hlv|huan luyen vien|tien dao|tien ve|hau ve|thu mon|cau thu|danh thu|tay vot|"
        "vua|nu hoang|hoang tu|cong chua|cong nuong|giao hoang|hoang de|"
        "gs|pgs|ts|ths|bs|ls|mr|mrs|ms|dr"
    ).split("|")
)
# A number right after one of these (match keys, so "số" is not "sở") names a thing:
# "bão số 3", "Nghị định 73", "quý III". For "số" the word before says what is numbered.
_LABEL_HEADS = frozenset({("số",), ("quý",), ("nghị", "định"), ("quyết", "định"), ("thông", "tư")})
_ROMAN = {"i": "1", "ii": "2", "iii": "3", "iv": "4"}  # quý I-IV
_LABEL_LAST = frozenset(head[-1] for head in _LABEL_HEADS)  # no label without one of these

_THOUSANDS = re.compile(r"(?<=\d)\.(?=\d{3}(?!\d))")  # 1.000.000: Vietnamese separators
_DECIMAL = re.compile(r"(?<=\d),(?=\d)")  # 4,5: the decimal comma, kept inside the token
_LETTER_DIGIT = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")
# A mark then a space ends a sentence; "TP.HCM" and "4.5" have no space after the dot.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?:;…])\s+")
_HAS_DIGIT = re.compile(r"\d")


class _Token(NamedTuple):
    folded: str
    key: str  # match_key form: keeps "tăng" apart from "tầng" and "tặng"
    name: bool  # capitalised as part of a name


_FOLDED = operator.itemgetter(0)  # a token's folded form, read from C (map, join)


@dataclass(frozen=True, slots=True)
class _Reading:
    """What an article's title and summary say, whatever the word weights: read once.

    The weights change with every edition's counts; the rest of a `_Profile` does not.
    """

    terms: tuple[str, ...]  # match-key and folded forms, as `TermStats` counts them
    # Each match key once, in order of first appearance (the order `_profile` builds its
    # vectors in, which fixes how their floats add up), and its folded form; flat tuples
    # of strings, the smallest a cache entry can hold them in.
    summary_keys: tuple[str, ...]
    summary_folds: tuple[str, ...]
    title_keys: tuple[str, ...]
    title_folds: tuple[str, ...]
    marked: bool
    # Every folded syllable between spaces, the title and the summary on two lines
    # (" bao so 3 \n ... "): names are looked up in it as " x " or " x y ", never across
    # the two. One string rather than a set of syllables and pairs: a sixth of the memory
    # in the cache, and nothing for the garbage collector to walk.
    folded_text: str
    # Each name in the title as what `folded_text` must hold for another article to
    # mention it: " x " for a one-syllable name, else any of its pairs " x y ".
    title_names: tuple[tuple[str, ...], ...]
    labels: Mapping[str, frozenset[str]]
    direction: int
    direction_in_title: bool


def _reading(article: Article | StoredArticle) -> _Reading:
    return _read(article.title, article.summary)


# Editions and breaking-news checks cluster overlapping windows of the same articles over
# and over: cutting their text into tokens is most of a run's work after the pairs. The
# bound holds a day and a half of 50 outlets' news.
@functools.lru_cache(maxsize=8192)
def _read(title_text: str, summary_text: str) -> _Reading:
    title, summary = _tokens(title_text), _tokens(summary_text)
    everything = title + summary
    title_direction = _direction(title, whole=True)
    in_title = title_direction is not None
    direction = title_direction if in_title else _direction(summary, whole=False)
    summary_folds = {t.key: t.folded for t in summary}
    title_folds = {t.key: t.folded for t in title}
    keys = summary_folds.keys() | title_folds.keys()
    folds = {*summary_folds.values(), *title_folds.values()}
    return _Reading(
        terms=tuple(keys | folds),
        summary_keys=tuple(summary_folds),
        summary_folds=tuple(summary_folds.values()),
        title_keys=tuple(title_folds),
        title_folds=tuple(title_folds.values()),
        # A key with a mark is no folded term, and without marks the two sets are one.
        marked=keys != folds,
        folded_text=f" {_spaced(title)} \n {_spaced(summary)} ",
        title_names=tuple(_mentions(name) for name in _names(title, everything)),
        labels=_labels(title, summary) if not keys.isdisjoint(_LABEL_LAST) else {},
        direction=direction or 0,
        direction_in_title=in_title,
    )


def _tokens(text: str) -> list[_Token]:
    """Folded syllables of `text`, numbers normalised, aliases merged, names marked."""
    text = nfc(text)
    if _HAS_DIGIT.search(text):  # most titles have none: three substitutions saved
        text = _LETTER_DIGIT.sub(" ", _DECIMAL.sub("_", _THOUSANDS.sub("", text)))
    raw: list[str] = []
    starts: list[int] = []  # the index of each sentence's (or the title's) first word
    for sentence in _SENTENCE_BREAK.split(text):
        if sentence_words := words(sentence):
            starts.append(len(raw))
            raw.extend(sentence_words)
    tokens = list(map(_token, raw))  # the cached function called from C: no frame per word
    # A sentence's first word is capitalised anyway, so there it is a name only when the
    # next word is capitalised too ("Hà Nội mưa lớn") or the same word is written inside
    # a sentence as well ("Apple ra mắt… tại sự kiện, Apple giới thiệu").
    opening = set(starts)
    inner: set[str] | None = None  # the words written inside a sentence, when needed
    for i in starts:
        if not tokens[i].name or _followed_by_capital(raw, opening, i):
            continue
        if inner is None:  # each sentence but its first word, added in C
            inner = set()
            for start, end in itertools.pairwise([*starts, len(raw)]):
                inner.update(raw[start + 1 : end])
        if raw[i] not in inner:
            tokens[i] = _token_unnamed(raw[i])
    return _merge_aliases(tokens)


@functools.lru_cache(maxsize=65536)  # news reuses a few thousand syllables: stays warm
def _token(word: str) -> _Token:
    """The word's token, a name when capitalised ("Hà", "Samsung") or camel-cased ("iPhone")."""
    capital = word[0].isupper() or (word[0].isalpha() and not word.islower())
    key = match_key(word)
    if key in _NUMBER_WORDS:  # "Sáu lính dù" / "6 binh lính"
        return _Token(_NUMBER_WORDS[key], _NUMBER_WORDS[key], capital)
    return _Token(fold(word), key, capital)


@functools.lru_cache(maxsize=4096)
def _token_unnamed(word: str) -> _Token:
    """A capitalised word that only opens a sentence."""
    return _token(word)._replace(name=False)


def _followed_by_capital(raw: list[str], opening: set[int], i: int) -> bool:
    """Whether the word after `i`, in the same sentence, is capitalised."""
    return i + 1 < len(raw) and i + 1 not in opening and raw[i + 1][:1].isupper()


def _merge_aliases(tokens: list[_Token]) -> list[_Token]:
    folds = list(map(_FOLDED, tokens))
    starts = [i for i, folded in enumerate(folds) if folded in _ALIASES_BY_FIRST]
    if not starts:
        return tokens
    merged: list[_Token] = []
    done = 0  # tokens before this index are in `merged`
    for i in starts:
        if i < done:
            continue  # inside an alias already merged
        for spelling, alias in _ALIASES_BY_FIRST[folds[i]]:
            if tuple(folds[i : i + len(spelling)]) == spelling:
                span = tokens[i : i + len(spelling)]
                merged += tokens[done:i]
                merged.append(_Token(alias, alias, any(t.name for t in span)))
                done = i + len(spelling)
                break
    return merged + tokens[done:]


def _spaced(tokens: list[_Token]) -> str:
    return " ".join(map(_FOLDED, tokens))


def _names(title: list[_Token], text: list[_Token]) -> list[tuple[str, ...]]:
    """Runs of consecutive name syllables in a title, leaving out units and initials.

    Headlines capitalise ordinary words ("Lễ Khai mạc", "Kỳ họp Thứ sáu"): a run that
    `text` (the title and summary) also writes in lower case, syllable by syllable or
    pair by pair (match keys), is no name.
    Honorifics and titles before a name ("Bà Merkel", "Thủ tướng Abe") are dropped: the
    other outlet may name the person without them.
    """
    runs: list[tuple[str, ...]] = []
    run: list[_Token] = []
    lowercase: _Lowercase | None = None
    for token in [*title, _Token("", "", False)]:
        if token.name and not token.folded[0].isdigit():
            run.append(token)
            continue
        if run:
            lowercase = lowercase or _Lowercase(text)
            if not lowercase.writes([t.key for t in run]):
                name = _without_honorifics([t.folded for t in run])
                if any(s not in _STOP and s not in _UNITS and len(s) > 1 for s in name):
                    runs.append(tuple(name))
        run = []
    return runs


class _Lowercase:
    """The syllables, and pairs of syllables, a text writes in lower case (match keys).

    The pairs are only gathered when a run of two or more syllables needs them.
    """

    def __init__(self, tokens: list[_Token]) -> None:
        self._tokens = tokens
        self._single = {t.key for t in tokens if not t.name}
        self._pairs: set[tuple[str, str]] | None = None

    def writes(self, keys: list[str]) -> bool:
        if not all(key in self._single for key in keys):
            return False
        if len(keys) == 1:
            return True
        if self._pairs is None:
            self._pairs = {
                (x.key, y.key)
                for x, y in itertools.pairwise(self._tokens)
                if not (x.name or y.name)
            }
        return all(pair in self._pairs for pair in itertools.pairwise(keys))


def _mentions(name: tuple[str, ...]) -> tuple[str, ...]:
    if len(name) == 1:
        return (f" {name[0]} ",)
    return tuple(f" {x} {y} " for x, y in itertools.pairwise(name))


def _without_honorifics(run: list[str]) -> list[str]:
    stripped = True
    while run and stripped:
        stripped = False
        for size in (3, 2, 1):
            if tuple(run[:size]) in _HONORIFICS:
                run, stripped = run[size:], True
                break
    return run


def _labels(*parts: list[_Token]) -> dict[str, frozenset[str]]:
    """Numbers that name a thing: "bão số 3" → {"bao số": {"3"}}, "quý III" → {"quý": {"3"}}."""
    labels: dict[str, set[str]] = {}
    for tokens in parts:
        for i in range(1, len(tokens)):
            value = tokens[i].folded
            if not (value[0].isdigit() or value in _ROMAN):
                continue  # the cheap test first: few words are numbers
            head = _label_head(tokens, i)
            if head is None:
                continue
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
    keys = [t.key for t in tokens]
    if "tăng" not in keys and "giảm" not in keys:
        return None
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
