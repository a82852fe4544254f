"""Untrusted text is handled in bounded, linear time, whatever a feed or a page holds.

Feed descriptions, titles and pages are written by strangers. A regular expression that
backtracks, or a loop that rescans what it has seen, turns one crafted line into seconds of
CPU on every poll. The bounds here are generous (the machine is shared): they catch growth
by the square or worse, not constant factors. Figures: bench/hostile.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import logging
import random
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from conftest import settings_for
from feedserver import FeedServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import BotParts
from bot.cluster import cluster
from bot.digest import passes_filters
from bot.extract import document_text
from bot.fetch import MAX_BODY_BYTES, make_http_client
from bot.format import escape, highlight, split_plain
from bot.handlers import latest_reply
from bot.models import FeedEntry, StoredArticle
from bot.normalize import absolute_link, normalize_entry, title_from_text
from bot.parse import MAX_ENTRIES, parse_feed_document, repair_utf8, to_utf8
from bot.pipeline import poll_all
from bot.publish import ConsoleSender
from bot.query import parse_query
from bot.storage import Storage
from bot.summarize import content_terms, cut_at_word, is_real_sapo, summarize
from bot.text import (
    clean_article_text,
    collapse_whitespace,
    html_to_text,
    html_to_text_with_links,
    strip_outlet_tag,
)
from bot.vietnamese import Term, fold, match_key, nfc, split_sentences, words
from bot.web import Site, WebServer, make_app


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


def elapsed(function: Callable[[], object], *, budget: float = 5.0) -> float:
    """CPU seconds the call took in this thread: the suite's other workers, sharing two
    cores, made wall time six times longer once. `budget` (wall time) stops a hang."""
    with deadline(budget):
        started = time.thread_time()
        function()
        return time.thread_time() - started


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
    feed += "allow_private = true\n"
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


# -- every text function, fed repeats of what its rules look for -----------------------------

SMALL, LARGE = 10_000, 100_000
MAX_GROWTH = 25  # for 10× the input: linear work gives about 10×, the square 100×
PATTERNS = [
    *(".", ". ", "…", "?!", "- ", "– ", "—", "A - ", "A", "a", "Đ", "ễ", "x", "1"),
    *("Thu Hà - Minh Anh ", "Theo TTXVN ", "Xem thêm: ", "Tin liên quan\n", "(BLC) - "),
    *('"', ' " ', "“", "”", "'", "«", ")", "(", "]", "A. ", "Nguyễn Văn A. ", "Th. "),
    *("N.V.A. ", "PGS.TS. ", "TP. ", "Q. ", "Tr. 4", "v.v. ", "1.000.", "12/3/", "1. "),
    *("3,5 ", " ", "  ", "\t", "\u00a0", "\n", "\r\n", " \n ", "<p>", "<div>", "</div>"),
    *("<b>", "<ul><li>", "<a href='x'>", "<br>", "&amp;", "&#", "<!--", "<script>", "<"),
    *("<img src=a.jpg>", "(Ảnh: ", "Ảnh: TTXVN\n", "anh.jpg)\n", '-"', "nguon:"),
]
HEADS = ["", "x", "A - ", "Ông ", "(", "<p>", "https://"]
TAILS = ["", "!", ".", " x"]  # a last character that makes a pattern fail at the very end


def _article(text: str, number: int) -> StoredArticle:
    moment = datetime(2026, 11, 27, 7, tzinfo=UTC)
    return StoredArticle(number, f"f{number}", None, text, text, moment, moment)


def _feed_document(text: str) -> bytes:
    item = f"<item><title>{escape(text)}</title><description>{escape(text)}</description></item>"
    return f'<rss version="2.0"><channel>{item}</channel></rss>'.encode()


_KEYWORDS = [Term.parse("mưa lớn"), Term.parse("a")]
TEXT_FUNCTIONS: dict[str, Callable[[str], object]] = {
    "html_to_text": html_to_text,
    "html_to_text_with_links": html_to_text_with_links,
    "collapse_whitespace": collapse_whitespace,
    "clean_article_text": clean_article_text,
    "strip_outlet_tag": strip_outlet_tag,
    "nfc": nfc,
    "fold": fold,
    "match_key": match_key,
    "words": words,
    "split_sentences": split_sentences,
    "summarize": lambda s: summarize(s, title="Mưa lớn ở Hà Nội"),
    "is_real_sapo": lambda s: is_real_sapo(s, "Mưa lớn ở Hà Nội"),
    "content_terms": content_terms,
    "cut_at_word": lambda s: cut_at_word(s, len(s) // 2),
    "normalize_entry": lambda s: normalize_entry(
        FeedEntry(None, s[:2000], s, True, s, None), "f", "https://e.vn/rss"
    ),
    "title_from_text": title_from_text,
    "absolute_link": lambda s: absolute_link(s, "https://e.vn/rss"),
    "to_utf8": lambda s: to_utf8(s.encode().replace(b"a", b"\xe1\xbb")),
    "repair_utf8": lambda s: repair_utf8(s.encode().replace(b"A", b"\xff")),
    "parse_feed_document": lambda s: parse_feed_document(_feed_document(s), "https://e.vn/"),
    "document_text": lambda s: document_text(f"<html><body><p>{s}</p></body></html>"),
    "parse_query": parse_query,
    "Term.parse": Term.parse,
    "passes_filters": lambda s: passes_filters(_article(s, 1), _KEYWORDS, _KEYWORDS),
    "escape": escape,
    "highlight": lambda s: highlight(s, frozenset({"a", "mua", "x"})),
    "split_plain": split_plain,
    "cluster": lambda s: cluster([_article(s, 1), _article("Mưa lớn ở Hà Nội", 2)]),
}


def hostile(head: str, unit: str, tail: str, size: int) -> str:
    return head + unit * ((size - len(head) - len(tail)) // len(unit)) + tail


def cpu_time(function: Callable[[str], object], text: str) -> float:
    """CPU seconds of one call (so other processes on the machine do not count): the best
    of three rounds, each of enough calls to last 10 ms, which timer noise cannot swamp."""
    calls, best = 1, float("inf")
    for _ in range(3):
        while True:
            gc.disable()
            started = time.thread_time()
            for _ in range(calls):
                function(text)
            spent = time.thread_time() - started
            gc.enable()
            if spent >= 0.01:
                break
            calls *= 2
        best = min(best, spent / calls)
    return best


def growth(function: Callable[[str], object], head: str, unit: str, tail: str) -> float:
    """How many times longer `function` takes on 100 kB of `unit` than on 10 kB."""
    small, large = hostile(head, unit, tail, SMALL), hostile(head, unit, tail, LARGE)
    with deadline(30):  # fail, never hang, if something backtracks
        for _attempt in range(3):  # a busy machine can slow one measurement down
            ratio = cpu_time(function, large) / cpu_time(function, small)
            if ratio <= MAX_GROWTH:
                break
    return ratio


@pytest.mark.parametrize("name", TEXT_FUNCTIONS)
@settings(
    max_examples=3,
    deadline=None,
    derandomize=True,  # the same inputs on every run: a timing test must not wander
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    head=st.sampled_from(HEADS),
    unit=st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=3).map("".join),
    tail=st.sampled_from(TAILS),
)
def test_text_functions_take_linear_time(name: str, head: str, unit: str, tail: str) -> None:
    ratio = growth(TEXT_FUNCTIONS[name], head, unit, tail)
    assert ratio <= MAX_GROWTH, f"{name}: {ratio:.0f}× for 10× {head!r} + {unit!r}… + {tail!r}"


# The inputs the functions used to choke on: in the square of the input or worse.
@pytest.mark.parametrize(
    ("name", "head", "unit", "tail"),
    [
        ("clean_article_text", "A - ", "A", "!"),  # the byline pattern
        ("clean_article_text", "x", " ", "(ảnh"),  # spaces before a credit
        ("normalize_entry", "A - ", "A", "!"),
        ("split_sentences", "x", ".", ""),
        ("html_to_text", "", "<div>", ""),  # nesting: the tree builder walks the stack
        ("html_to_text", "", "<dl><dt>", ""),
        ("html_to_text", "", "<b></div>", ""),
        ("html_to_text_with_links", "", "<ul>", ""),
        ("normalize_entry", "", "<blockquote>", ""),
        ("split_plain", "", "x", ""),  # one long paragraph, measured again at each cut
        ("cluster", "", "A. ", ""),  # each sentence's first word looked up everywhere
    ],
)
def test_known_hostile_inputs_take_linear_time(name: str, head: str, unit: str, tail: str) -> None:
    ratio = growth(TEXT_FUNCTIONS[name], head, unit, tail)
    assert ratio <= MAX_GROWTH, f"{name}: {ratio:.0f}× for 10× {head!r} + {unit!r}… + {tail!r}"


# -- the event loop and /healthz during a poll of a huge feed -------------------------------


def huge_feed(entries: int) -> bytes:
    """A feed of many tiny items (every hundredth dated), near the fetch cap in size."""

    def item(i: int) -> str:
        if i % 100:
            return f"<item><title>T{i}</title><guid>{i}</guid></item>"
        when = f"Mon, 02 Nov 2026 {i // 6000 % 24:02d}:{i // 100 % 60:02d}:00 GMT"
        return f"<item><title>T{i}</title><guid>{i}</guid><pubDate>{when}</pubDate></item>"

    items = "".join(item(i) for i in range(entries))
    return f'<rss version="2.0"><channel><title>Lớn</title>{items}</channel></rss>'.encode()


def probe(url: str, stop: threading.Event, delays: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                response.read()
        except urllib.error.HTTPError as exc:  # 503 while no poll has finished: an answer
            exc.read()
        delays.append(time.perf_counter() - started)
        stop.wait(0.05)


@pytest.mark.slow
async def test_health_answers_and_the_loop_runs_during_a_huge_poll(
    tmp_path: Path, feed_server: FeedServer, storage: Storage
) -> None:
    body = huge_feed(100_000)
    assert 4_000_000 < len(body) <= MAX_BODY_BYTES
    feed_server.add("/huge.rss", body)
    url = feed_server.url("/huge.rss")
    settings = settings_for(
        tmp_path, f'[[feeds]]\nid = "lon"\nname = "Lớn"\nurl = "{url}"\nallow_private = true\n'
    )
    await storage.sync_feeds((f.id, f.url) for f in settings.feeds)
    stop, delays, stalls = threading.Event(), list[float](), list[float]()

    async def tick() -> None:  # how long the event loop goes without running a task
        while not stop.is_set():
            started = time.perf_counter()
            await asyncio.sleep(0.01)
            stalls.append(time.perf_counter() - started - 0.01)

    async with make_http_client() as client:
        app = BotParts(settings, storage, client, sender=ConsoleSender(io.StringIO())).app
        # The health endpoint runs on the bot's own event loop, as in `run`.
        site = Site(lambda: settings, storage)
        server = WebServer(("127.0.0.1", 0), make_app(site, app.metrics, app.health))
        await server.start()
        health = "http://{}:{}/healthz".format(*server.address)
        prober = threading.Thread(target=probe, args=(health, stop, delays))
        prober.start()
        ticker = asyncio.create_task(tick())
        try:
            [result] = await app.poll_now()
        finally:
            stop.set()
            await ticker
            prober.join()
            await server.stop()
    assert (result.new_articles, result.dropped) == (MAX_ENTRIES, 100_000 - MAX_ENTRIES)
    assert len(delays) > 10
    assert max(delays) < 1.0, f"/healthz took {max(delays):.1f} s to answer"
    assert max(stalls) < 1.0, f"the event loop stalled {max(stalls):.1f} s"
