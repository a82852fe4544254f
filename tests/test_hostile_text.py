"""Untrusted text is handled in bounded, linear time, whatever a feed or a page holds.

Feed descriptions, titles and pages are written by strangers. A regular expression that
backtracks, or a loop that rescans what it has seen, turns one crafted line into seconds of
CPU on every poll. The bounds here are generous (the machine is shared): they catch growth
by the square or worse, not constant factors. Figures: bench/hostile.py.
"""

from __future__ import annotations

import contextlib
import logging
import random
import signal
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from conftest import settings_for
from feedserver import FeedServer

from bot.fetch import make_http_client
from bot.handlers import latest_reply
from bot.parse import MAX_ENTRIES, parse_feed_document
from bot.pipeline import poll_all
from bot.storage import Storage
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


# -- untitled items ---------------------------------------------------------------------


def rss(items: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Thử</title><link>https://example.vn/</link>{items}</channel></rss>"
    ).encode()


LONG = (
    "Sáng nay, Ủy ban nhân dân thành phố đã họp với các sở ngành để bàn phương án chống "
    "ngập cho mùa mưa năm nay ở những tuyến phố thường xuyên bị ngập sâu nhất"
)
UNTITLED = rss(
    "<item><description>Mưa to</description></item>"
    "<item><description>(BLC) - Chiều 23/6, mưa lớn gây ngập nhiều tuyến phố ở Hà Nội. "
    "Giao thông ùn tắc.</description></item>"
    f"<item><description>{LONG}.</description></item>"
    "<item><guid>chi-co-guid</guid></item>"
    '<item><description><![CDATA[<img src="anh.jpg">]]></description></item>'
)


async def test_untitled_items_take_their_first_sentence_or_are_skipped(
    tmp_path: Path, feed_server: FeedServer, storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    feed_server.add("/untitled.rss", UNTITLED)
    feed = f'[[feeds]]\nid = "thu"\nname = "Thử"\nurl = "{feed_server.url("/untitled.rss")}"\n'
    settings = settings_for(tmp_path, feed)
    await storage.sync_feeds((f.id, f.url) for f in settings.feeds)
    with caplog.at_level(logging.INFO, logger="bot.pipeline"):
        async with make_http_client() as client:
            [result] = await poll_all(settings.feeds, storage, client)
    titles = {a.title for a in await storage.latest(10)}
    assert (
        titles
        == {
            "Mưa to",  # too short to summarise: was stored as an empty headline
            "Chiều 23/6, mưa lớn gây ngập nhiều tuyến phố ở Hà Nội.",
            LONG[:119].rsplit(" ", 1)[0] + "…",
        }
    )
    reply = await latest_reply(storage, settings, None)
    assert "<b></b>" not in reply and "Mưa to" in reply
    assert (result.new_articles, result.skipped) == (3, 2)
    assert "skipped=2" in caplog.text


# -- at most MAX_ENTRIES entries a feed ------------------------------------------------------


def dated_items(count: int, *, undated: set[int] = frozenset()) -> tuple[bytes, list[datetime]]:
    """`count` items with shuffled dates (some without), and the dates in document order."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    dates = [start + timedelta(minutes=i) for i in range(count)]
    random.Random(7).shuffle(dates)
    items = "".join(
        f"<item><title>Tin {i}</title><guid>g{i}</guid>"
        + ("" if i in undated else f"<pubDate>{format_datetime(when)}</pubDate>")
        + "</item>"
        for i, when in enumerate(dates)
    )
    return rss(items), dates


def test_a_feed_keeps_its_newest_entries_in_document_order(
    caplog: pytest.LogCaptureFixture,
) -> None:
    body, dates = dated_items(MAX_ENTRIES + 100)
    with caplog.at_level(logging.INFO, logger="bot.parse"):
        parsed = parse_feed_document(body, "https://example.vn/rss")
    newest = sorted(dates, reverse=True)[:MAX_ENTRIES]
    assert [e.published for e in parsed.entries] == [d for d in dates if d in newest]
    assert parsed.dropped == 100
    assert "keeping the newest 500" in caplog.text


def test_undated_entries_fall_back_to_document_order() -> None:
    body, _ = dated_items(MAX_ENTRIES + 50, undated=set(range(MAX_ENTRIES + 50)))
    parsed = parse_feed_document(body, "https://example.vn/rss")
    assert [e.guid for e in parsed.entries] == [f"g{i}" for i in range(MAX_ENTRIES)]
    mixed, _ = dated_items(MAX_ENTRIES + 50, undated={0, 1, 2, MAX_ENTRIES + 49})
    kept = {e.guid for e in parse_feed_document(mixed, "https://example.vn/rss").entries}
    assert len(kept) == MAX_ENTRIES and "g0" not in kept  # dated entries come first
