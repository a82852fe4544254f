"""Vietnamese text keys: NFC, one tone-mark convention, folding with đ."""

from __future__ import annotations

import unicodedata

import pytest

from bot.vietnamese import FUNCTION_WORDS, FUNCTION_WORDS_FOLDED, Term, fold, match_key, nfc, words


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("ha noi", "Hà Nội"),
        ("HA NOI", "Hà Nội"),
        ("da nang", "Đà Nẵng"),
        ("DA NANG", "ĐÀ NẴNG"),
        ("dak lak", "Đắk Lắk"),
        ("thuy dien", "Thuỷ điện"),
        ("tp hcm", "TP HCM"),
        ("nguoi dan", "người dân"),
        ("quy", "Quý"),
    ],
)
def test_fold_matches_how_people_type(typed: str, stored: str) -> None:
    assert fold(stored) == typed.lower()
    assert fold(stored.upper()) == fold(typed)


def test_fold_handles_decomposed_input() -> None:
    decomposed = unicodedata.normalize("NFD", "Đà Nẵng, Hà Nội")
    assert fold(decomposed) == "da nang, ha noi"


@pytest.mark.parametrize(
    ("old_style", "new_style"),
    [
        ("hòa", "hoà"),
        ("Thủy điện", "Thuỷ điện"),
        ("khỏe", "khoẻ"),
        ("Ủy ban", "Uỷ ban"),
        ("tòa án", "toà án"),
        ("hòa bình", "hoà bình"),
        ("thúy", "thuý"),
    ],
)
def test_match_key_ignores_tone_mark_convention(old_style: str, new_style: str) -> None:
    assert match_key(old_style) == match_key(new_style)


@pytest.mark.parametrize(
    "word",
    ["người", "giữa", "quyết", "hoàng", "ngoài", "thuở", "khuya", "tiếng", "Nguyễn"],
)
def test_match_key_keeps_words_without_a_second_convention(word: str) -> None:
    assert match_key(word) == word.lower()


def test_match_key_keeps_diacritics_apart() -> None:
    # bão (storm) and báo (newspaper) must stay different words for matching keys.
    assert match_key("bão") != match_key("báo")


def test_nfc_composes_windows_1258_style_text() -> None:
    # windows-1258 keeps â ă ê ô ơ ư precomposed and the tone as a combining mark.
    assert nfc("Thuy\u0309 đi\u00ea\u0323n") == "Thuỷ điện"


@pytest.mark.parametrize(
    ("typed", "text", "found"),
    [
        ("bao", "Cơn bão số 3 đổ bộ", True),
        ("bão", "Báo chí đưa tin", False),
        ("Hà", "Giá hàng hoá tăng", False),
        ("Hà", "Hà Nội mưa lớn", True),
        ("thuỷ điện", "Nhà máy thủy điện xả lũ", True),
        ("da nang", "Đà Nẵng khởi công cầu mới", True),
        ("Đà Nẵng", "Da Nang Airport", False),
        ("nội mưa", "Hà Nội mưa lớn", True),
    ],
)
def test_term_matches_whole_syllables_with_typed_marks(typed: str, text: str, found: bool) -> None:
    term = Term.parse(typed)
    assert term is not None
    key_tokens = words(match_key(text))
    assert term.found_in(key_tokens, [fold(t) for t in key_tokens]) is found


def test_term_of_no_words_is_none() -> None:
    assert Term.parse(" -- ?! ") is None


def test_the_function_words_are_one_list_in_two_forms() -> None:
    assert all(match_key(word) == word for word in FUNCTION_WORDS)  # the match-key form
    assert {"nhung", "cung", "do", "chi"} <= FUNCTION_WORDS_FOLDED  # những/nhưng, cũng/cùng…
    assert {fold(word) for word in FUNCTION_WORDS} == FUNCTION_WORDS_FOLDED
