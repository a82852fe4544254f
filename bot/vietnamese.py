"""Vietnamese text: Unicode normalisation, tone-mark convention and diacritic folding.

Pure functions only. Three forms of the same text are used across Bản tin:

* display text: NFC, the outlet's own spelling (``thuỷ`` stays ``thuỷ``);
* the *match key*: lowercase, NFC, with every syllable's tone mark moved to one canonical
  vowel, so the two conventions in use (``hòa``/``hoà``, ``thủy``/``thuỷ``) compare equal;
* the *folded* form: lowercase with every mark removed and ``đ`` turned into ``d``, which is
  how people type on phones ("ha noi", "da nang").
"""

from __future__ import annotations

import re
import unicodedata

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


def nfc(text: str) -> str:
    """Compose decomposed text (some CMSs and every windows-1258 feed give NFD)."""
    return unicodedata.normalize("NFC", text)


def fold(text: str) -> str:
    """Lowercase and strip every diacritic, đ included: "Đà Nẵng" → "da nang"."""
    decomposed = unicodedata.normalize("NFD", text.translate(_FOLD_TABLE))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", stripped).lower()


def match_key(text: str) -> str:
    """Lowercase NFC text with tone marks placed by one convention: "Thủy" → "thuỷ"."""
    return _WORD.sub(lambda m: _canonical_syllable(m.group()), nfc(text).lower())


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
