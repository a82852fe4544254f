"""Vietnamese text: Unicode normalisation, tone-mark convention and diacritic folding.

Pure functions only. Three forms of the same text are used across Bản tin:

* display text: NFC, the outlet's own spelling (``thuỷ`` stays ``thuỷ``);
* the *match key*: lowercase, NFC, with every syllable's tone mark moved to one canonical
  vowel, so the two conventions in use (``hòa``/``hoà``, ``thủy``/``thuỷ``) compare equal;
* the *folded* form: lowercase with every mark removed and ``đ`` turned into ``d``, which is
  how people type on phones ("ha noi", "da nang").

It also holds the one list of function words (`FUNCTION_WORDS`) and splits news text into
sentences (`split_sentences`) without breaking at the dots of
titles (``PGS.TS.``), place prefixes (``TP.``, ``Q.``), initials (``Nguyễn Văn A.``),
numbers, dates, codes or domain names.
"""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

# Tone marks as combining characters (NFD). Shape marks (breve, circumflex, horn) are not
# tones: they make different letters (ă â ê ô ơ ư) and stay in the match key.
_TONES = frozenset("\u0300\u0301\u0303\u0309\u0323")  # huyền sắc ngã hỏi nặng
_VOWELS = frozenset("aăâeêioôơuưy")
_SHAPED_VOWELS = frozenset("ăâêôơư")
# Two-vowel nuclei whose tone sits on the second vowel in the convention we use as the key
# ("hoà", "khoẻ", "thuỷ"); the other convention puts it on the first ("hòa", "khỏe", "thủy").
_SECOND_VOWEL_NUCLEI = frozenset({"oa", "oe", "uy"})
_WORD = re.compile(r"\w+")
# đ/Đ are letters of their own, not d + a mark, so NFD does not split them.
_FOLD_TABLE = str.maketrans({"đ": "d", "Đ": "D"})

# Function words (match-key form): they carry no topic, so summaries leave them out of
# overlap and clustering gives them no weight. FUNCTION_WORDS_FOLDED is the same list in
# the folded form, for code that compares folded text ("những" and "nhưng" both → "nhung").
FUNCTION_WORDS = frozenset(
    (
        "và của là có được cho các những một trong với đã đang sẽ này đó khi để từ theo tại "
        "về như thì mà cũng không ra vào lên nên do bị đến nhiều rất hơn năm ngày ông bà "
        "anh chị em tôi chúng họ nó việc cùng sau trước trên dưới hay hoặc nếu vì nhưng vẫn còn "
        "chỉ đều mới lại qua ở làm thể"
    ).split()
)


def nfc(text: str) -> str:
    """Compose decomposed text (some CMSs and every windows-1258 feed give NFD)."""
    return unicodedata.normalize("NFC", text)


def fold(text: str) -> str:
    """Lowercase and strip every diacritic, đ included: "Đà Nẵng" → "da nang"."""
    decomposed = unicodedata.normalize("NFD", text.translate(_FOLD_TABLE))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", stripped).lower()


FUNCTION_WORDS_FOLDED = frozenset(fold(word) for word in FUNCTION_WORDS)


def match_key(text: str) -> str:
    """Lowercase NFC text with tone marks placed by one convention: "Thủy" → "thuỷ"."""
    return _WORD.sub(lambda m: _canonical_syllable(m.group()), nfc(text).lower())


@functools.lru_cache(maxsize=65536)  # Vietnamese has ~7,000 syllables: the cache stays warm
def _canonical_syllable(word: str) -> str:
    decomposed = unicodedata.normalize("NFD", word)
    tones = [ch for ch in decomposed if ch in _TONES]
    if len(tones) != 1:  # no tone, or not a Vietnamese syllable: leave it alone
        return word
    base = unicodedata.normalize("NFC", "".join(ch for ch in decomposed if ch not in _TONES))
    position = _tone_position(base)
    if position is None:
        return word
    marked = base[: position + 1] + tones[0] + base[position + 1 :]
    return unicodedata.normalize("NFC", marked)


def _tone_position(base: str) -> int | None:
    """Index of the vowel that carries the tone in a toneless lowercase syllable."""
    start = 0
    # "qu" and "gi" + vowel: the u/i belongs to the initial consonant, not the nucleus.
    if base.startswith("qu") or (base.startswith("gi") and len(base) > 2 and base[2] in _VOWELS):
        start = 2
    nucleus = []
    for index in range(start, len(base)):
        if base[index] in _VOWELS:
            nucleus.append(index)
        elif nucleus:
            break
    if not nucleus:
        return None
    shaped = [i for i in nucleus if base[i] in _SHAPED_VOWELS]
    if shaped:
        return shaped[-1]  # "ươ" takes it on ơ, "uyê" on ê
    has_final = nucleus[-1] + 1 < len(base)
    if len(nucleus) == 1 or has_final:
        return nucleus[-1]
    if len(nucleus) == 3:
        return nucleus[1]  # "oai", "uya", "oay"
    vowels = base[nucleus[0]] + base[nucleus[1]]
    return nucleus[1] if vowels in _SECOND_VOWEL_NUCLEI else nucleus[0]


def words(text: str) -> list[str]:
    """The word tokens of a text, as Unicode \\w+ runs (SQLite's unicode61 agrees)."""
    return _WORD.findall(text)


# Sentence splitting. A boundary is a run of terminal marks (plus the quotes and brackets
# that close right after it) followed by whitespace and something that can start a
# sentence; every line break is one too. Dots inside numbers, dates, codes, versions and
# domains ("1.000.000", "v2.0", "TP.HCM", "tuoitre.vn") have no whitespace after them, so they
# never become candidates. A straight quote standing alone after the mark is a detached
# closing quote, as tokenised corpora (VietNews) write it: `… nó. " Với …`.
# The look-behind starts a candidate only at the first mark of a run: retried from each mark
# of "x....…" with no space after, `[.!?…]+` would rescan the rest of the run every time.
_CANDIDATE = re.compile(r"(?<![.!?…])(?P<run>[.!?…]+)(?P<close>[”’\"'»)\]}]*(?:\s+\"(?=\s))?)\s+")
_TOKEN = re.compile(r"\S+")
_CONTENT = re.compile(r"\S")
# What may follow the whitespace, after an optional dash or bullet: the first two characters.
_START = re.compile(r"(?:[-–—•·*●▪►+]\s*)?(\S)(\S?)")
_OPENERS = "“‘«([{„"
_QUOTES = "\"'“‘«"
# Dotted titles, always followed by the name they qualify, so their dot never ends a
# sentence. Ordinary words and acronyms ("UBND.", "USD.", "v.v.") can end one.
_TITLES = frozenset(
    {"GS", "PGS", "TS", "TSKH", "ThS", "Ths", "BS", "CKI", "CKII", "BSCKI", "BSCKII", "KS"}
    | {"KTS", "LS", "DS", "NS", "NXB", "Nxb", "Mr", "Mrs", "Ms", "Dr", "Prof", "St"}
)
# Place prefixes: thành phố, thị xã, thị trấn, khu phố, quận, phường. "TP" also stands
# alone for "the city" and can end a sentence ("trên địa bàn TP. Mức thu…"), so these
# continue only when a place name follows. H. (huyện) and X. (xã) are left out: as
# initials ("trợ cấp cho H. Căn nhà…") they end sentences far more often.
_PLACE_PREFIXES = frozenset({"TP", "Tp", "tp", "TX", "Tx", "TT", "KP", "Q", "P"})
# The cities whose name is one syllable, which the two-capitals test below cannot see.
_ONE_SYLLABLE_CITIES = frozenset({"Vinh", "Huế"})
# Abbreviations that mean "page"/"number" only when a number follows ("Tr. 45").
_NUMBER_PREFIXES = frozenset({"Tr", "tr", "No"})
# One initial of a name: a capital without a tone mark, or a Vietnamese initial consonant
# cluster ("Nguyễn Văn Th."). Toned capitals are words of their own ("châu Á.", "nước Ý.").
_INITIAL_PATTERN = r"[A-ZĐÂÊÔƠƯĂ]|Ch|Gh|Gi|Kh|Ngh|Ng|Nh|Ph|Qu|Th|Tr"
_INITIAL = re.compile(_INITIAL_PATTERN)
_NEXT_INITIAL = re.compile(rf"(?:{_INITIAL_PATTERN})\.")
# A list label opening an item: "1. …", "II. …", "a. …".
_LABEL = re.compile(r"\d{1,3}|[IVXLC]+|[^\W\d_]")
# Capitalised only because they start a sentence: "Bà D. Sau đó…" is two sentences.
_PERSON_TITLES = frozenset({"ông", "bà", "anh", "chị", "em", "cô", "chú", "bác", "cụ", "bé"})


def split_sentences(text: str) -> list[str]:
    """The sentences of NFC news text, stripped and in order; a line break always ends one.

    Linear in the text: each candidate looks only at the words right before and after its
    marks, never back to the start of the sentence, which may be far behind when many
    dots in a row are not boundaries ("A. B. C. …").
    """
    sentences: list[str] = []
    for line in text.splitlines():
        located = _Words(line)
        start = 0
        for candidate in _CANDIDATE.finditer(line):
            if _is_boundary(located, start, candidate):
                sentences.append(line[start : candidate.end("close")].strip())
                start = candidate.end()
        rest = line[start:].strip()
        if rest:
            sentences.append(rest)
    return sentences


class _Words:
    """One line's whitespace-separated words, located by position without rescanning."""

    def __init__(self, line: str) -> None:
        self.line = line
        self._starts: list[int] | None = None  # made on first use: most lines need none
        self._ends: list[int] = []

    def has_content(self, start: int, end: int) -> bool:
        """Whether line[start:end] holds anything but whitespace."""
        found = _CONTENT.search(self.line, start, end)
        return found is not None

    def last_two(self, start: int, end: int) -> tuple[str, str | None]:
        """The last word of line[start:end] (which ends inside a word) and the one before
        it, if that one begins at `start` or later: what `rsplit(None, 2)` would give."""
        if self._starts is None:
            spans = [m.span() for m in _TOKEN.finditer(self.line)]
            self._starts = [a for a, _ in spans]
            self._ends = [b for _, b in spans]
        index = bisect.bisect_right(self._starts, end - 1) - 1
        last = self.line[max(self._starts[index], start) : end]
        if index == 0 or self._starts[index - 1] < start:
            return last, None
        return last, self.line[self._starts[index - 1] : self._ends[index - 1]]


def _is_boundary(words: _Words, start: int, candidate: re.Match[str]) -> bool:
    """Whether the terminal marks of `candidate` end the sentence begun at `start`."""
    line = words.line
    marks = candidate.start()
    if not words.has_content(start, marks):  # "… Ông": a leading ellipsis is no sentence
        return False
    if line[marks - 1] in "([":  # "(…)", "(?)": an elision or an aside inside brackets
        return False
    if not _starts_sentence(line, candidate.end()):
        return False
    if candidate["run"] == "." and not candidate["close"]:
        return not _is_abbreviation(words, start, marks, candidate.end())
    return True


def _starts_sentence(line: str, position: int) -> bool:
    """Whether a sentence can begin at `position`: a capital, a digit, an opening quote."""
    found = _START.match(line, position)
    if found is None:
        return False
    first, second = found.groups()
    if first.isupper() or first.isdigit() or first in _OPENERS:
        return True
    if first in "\"'":  # opening only if it hugs a word: `"Tôi`, not `" ông` or `",`
        return second.isalnum() or second == "…"
    return first.islower() and second.isupper()  # "iPhone", "eKYC" start with lowercase


def _is_abbreviation(words: _Words, start: int, dot: int, after: int) -> bool:
    """Whether the dot at `dot` closes an abbreviation that the text at `after` continues."""
    line = words.line
    if line[dot - 1].isspace():  # a detached dot, " . ", ends whatever came before
        return False
    last, previous = words.last_two(start, dot)
    token = last.lstrip(_OPENERS + _QUOTES)
    parts = token.split(".")  # "PGS.TS" → ["PGS", "TS"]: the last one decides
    if parts[-1] in _TITLES:
        return True
    if parts[-1] in _PLACE_PREFIXES:
        return _place_name_follows(line, after)
    if parts[-1] in _NUMBER_PREFIXES and line[after].isdigit():
        return True
    if _LABEL.fullmatch(token) and (previous is None or previous.endswith((":", ";"))):
        return True
    if all(_INITIAL.fullmatch(part) for part in parts):
        return _initial_continues(line, after, len(parts), previous)
    return False


def _place_name_follows(line: str, position: int) -> bool:
    """Whether a place name starts at `position`: "Q. 1", "TP. HCM", "TP. Hồ Chí Minh"."""
    following = line[position : position + 60].split(None, 2)
    first = following[0]
    if first[0].isdigit() or first.rstrip(",.;:)").isupper() or first in _ONE_SYLLABLE_CITIES:
        return True
    if first[0] in _OPENERS + _QUOTES or first.lower() in _PERSON_TITLES:
        return False
    # Names have two capitalised syllables or more ("Đà Nẵng", "Bình Thạnh"), or one and
    # then punctuation ("TP. Huế, …", "TP. Vinh (Nghệ An)"); "TP. Đây là…" is a new sentence.
    second = following[1] if len(following) > 1 else ""
    return not first[-1].isalpha() or not second[:1].islower()


def _initial_continues(line: str, after: int, count: int, previous: str | None) -> bool:
    """Whether a name's initials ("A.", "Th.", "V.T.") are followed by more of the sentence."""
    # "N.V.A.", "Th.S", "Văn A. (30 tuổi)", "thầy Đ. B.M." are names, never sentence ends.
    if count > 1 or previous is None or line[after] == "(" or _NEXT_INITIAL.match(line, after):
        return True
    # A lone initial continues only after a capitalised name word ("George W. Bush"), a
    # choice that loses "phường Tân Tạo A. Theo đó…" but keeps "Nguyễn Văn A. Ông cho biết…".
    name = previous.strip(".").lstrip(_OPENERS + _QUOTES)
    return (
        name[:1].isupper()
        and name.replace(".", "").isalpha()
        and name.lower() not in _PERSON_TITLES
    )


# --- terms: a word or phrase someone typed, to match against text ------------------------


@dataclass(frozen=True)
class Term:
    """A word or phrase typed by a reader (search) or an admin (filters), in two forms.

    `key` keeps the marks the person typed, in one tone-mark convention; `folded` drops
    every mark and đ → d. Typed without marks, a term matches any marks ("bao": bão, báo,
    bảo); typed with marks, it matches those. Always whole syllables ("Hà" is not "hàng").
    """

    folded: tuple[str, ...]
    key: tuple[str, ...]

    @classmethod
    def parse(
        cls, text: str, *, max_words: int | None = None, max_chars: int | None = None
    ) -> Term | None:
        """The term for `text`, or None when it holds no word; limits cut what users type."""
        keys = [w[:max_chars] for w in words(match_key(text))][:max_words]
        if not keys:
            return None
        return cls(tuple(fold(k) for k in keys), tuple(keys))

    @property
    def accented(self) -> bool:
        """Typed with marks (or đ): only these marks match (search ranks them first)."""
        return self.key != self.folded

    def found_in(self, key_tokens: Sequence[str], folded_tokens: Sequence[str]) -> bool:
        """Whether the term occurs as whole syllables in a text given in both forms."""
        haystack, needle = (key_tokens, self.key) if self.accented else (folded_tokens, self.folded)
        size = len(needle)
        return any(tuple(haystack[i : i + size]) == needle for i in range(len(haystack) - size + 1))
