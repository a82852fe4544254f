"""Untrusted text is handled in bounded, linear time, whatever a feed or a page holds.

Feed descriptions, titles and pages are written by strangers. A regular expression that
backtracks, or a loop that rescans what it has seen, turns one crafted line into seconds of
CPU on every poll. The bounds here are generous (the machine is shared): they catch growth
by the square or worse, not constant factors. Figures: bench/hostile.py.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable, Iterator

import pytest

from bot.text import clean_article_text
from bot.vietnamese import split_sentences


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Fail, instead of hanging, when the block runs longer than `seconds`.

    The regex engine checks for signals as it runs, so even a backtracking match stops.
    """

    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def elapsed(function: Callable[[], object], *, budget: float = 2.0) -> float:
    with deadline(budget):
        started = time.perf_counter()
        function()
        return time.perf_counter() - started


# -- the findings ------------------------------------------------------------------------


def test_a_byline_shaped_line_does_not_backtrack() -> None:
    # One such line in a feed description froze the event loop 16 s on every poll.
    line = "A - " + "A" * 200 + "!"
    assert elapsed(lambda: clean_article_text(line)) < 0.5
    assert elapsed(lambda: clean_article_text("A - " + "A" * 100_000 + "!")) < 0.5
    assert clean_article_text(line) == line  # not a byline: it ends with "!"
    assert clean_article_text("Tin chính.\nThu Hà - Minh Anh") == "Tin chính."


def test_a_run_of_dots_is_split_in_linear_time() -> None:
    dots = "x" + "." * 4000
    assert elapsed(lambda: split_sentences(dots)) < 0.1
    assert split_sentences(dots) == [dots]
    many = "x" + "." * 100_000
    assert elapsed(lambda: split_sentences(many)) < 0.5


@pytest.mark.parametrize(
    "line",
    [
        "A. " * 30_000 + "x",  # initials, never a boundary: the sentence start stays behind
        "Ông " + "Nguyễn Văn A. " * 10_000,
        "(" + ")" * 50_000 + ". x",
        " " * 100_000 + "(ảnh",  # a run of spaces before a credit-like bracket
    ],
)
def test_long_sentences_that_never_end_are_linear(line: str) -> None:
    assert elapsed(lambda: split_sentences(line)) < 0.5
    assert elapsed(lambda: clean_article_text(line)) < 0.5
