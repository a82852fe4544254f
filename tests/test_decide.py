"""The poll decider as the pure function it is: (feed, state, fetch, document, now) → update."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from bot.decide import decide
from bot.errors import FetchError, ParseError, RateLimited
from bot.models import Article, FeedEntry, FeedState, FeedUpdate, FetchResult, PollOutcome
from bot.normalize import NormalizedFeed
from bot.parse import ParsedFeed
from bot.settings import FeedConfig

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
FEED = FeedConfig(id="vne", name="VnExpress", url="https://vnexpress.net/rss/tin-moi-nhat.rss")
URL = FEED.url
MOVED = "https://vnexpress.net/rss/moi.rss"


def state(failures: int = 0, ttl: int | None = None) -> FeedState:
    return FeedState("vne", '"v0"', None, NOW - 10 * MIN, None, None, failures, ttl=ttl)


def entry(i: int) -> FeedEntry:
    return FeedEntry(f"g{i}", f"https://vnexpress.net/{i}.html", f"Tin {i}", False, "", None)


def article(i: int) -> Article:
    return Article("vne", f"g{i}", f"https://vnexpress.net/{i}.html", f"Tin {i}", "", None)


def document(
    count: int, ttl: int | None = None, dropped: int = 0, skipped: int = 0
) -> tuple[ParsedFeed, NormalizedFeed]:
    entries = [entry(i) for i in range(count + skipped)]
    parsed = ParsedFeed(entries, ttl, "VnExpress", "utf-8", dropped)
    return parsed, NormalizedFeed([article(i) for i in range(count)], skipped)


@dataclass(frozen=True)
class Case:
    name: str
    fetched: FetchResult | Exception
    expected: FeedUpdate
    state: FeedState | None = field(default_factory=state)
    document: tuple[ParsedFeed, NormalizedFeed] | None = None


def update(delay: timedelta, reason: str, **fields: object) -> FeedUpdate:
    return FeedUpdate("vne", NOW, NOW + delay, reason, **fields)  # type: ignore[arg-type]


CASES = [
    Case(
        "304 keeps the stored <ttl> as a hint and clears nothing",
        FetchResult(URL, None, etag='"v1"', status=304),
        update(30 * MIN, "RSS ttl", etag='"v1"'),
        state=state(ttl=30),
    ),
    Case(
        "new entries: every article goes to storage, which knows which are new",
        FetchResult(URL, b"<rss/>", etag='"v2"', last_modified="Fri, 27 Nov 2026 07:59:00 GMT"),
        update(
            10 * MIN,
            "interval",
            articles=(article(0), article(1), article(2)),
            etag='"v2"',
            last_modified="Fri, 27 Nov 2026 07:59:00 GMT",
            document=True,
            entries=4,
            dropped=7,
            skipped=1,
        ),
        document=document(3, dropped=7, skipped=1),
    ),
    Case(
        "a never-polled feed that fails starts its backoff at the interval",
        FetchError("HTTP 500 Internal Server Error"),
        update(
            10 * MIN, "backoff after 1 failure", error="FetchError: HTTP 500 Internal Server Error"
        ),
        state=None,
    ),
    Case(
        "errors back off exponentially from the failures so far",
        ParseError("not a feed: text/html"),
        update(40 * MIN, "backoff after 3 failures", error="ParseError: not a feed: text/html"),
        state=state(failures=2),
    ),
    Case(
        "a longer Retry-After beats the backoff",
        RateLimited("HTTP 429 Too Many Requests (retry after 3600s)", 3600.0),
        update(
            60 * MIN,
            "Retry-After",
            error="RateLimited: HTTP 429 Too Many Requests (retry after 3600s)",
        ),
    ),
    Case(
        "a permanent redirect is kept, the document's <ttl> stretches the interval",
        FetchResult(MOVED, b"<rss/>", permanent_redirect=MOVED),
        update(
            20 * MIN,
            "RSS ttl",
            articles=(article(0),),
            redirected_to=MOVED,
            ttl=20,
            document=True,
            entries=1,
        ),
        document=document(1, ttl=20),
    ),
    Case(
        "a bug is a failure like any other, marked as one",
        KeyError("title"),
        update(20 * MIN, "backoff after 2 failures", error="internal error: KeyError('title')"),
        state=state(failures=1),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decide(case: Case) -> None:
    assert decide(FEED, case.state, case.fetched, NOW, case.document) == case.expected


@pytest.mark.parametrize(
    ("update_", "new", "outcome"),
    [
        (update(10 * MIN, "interval", document=True), 2, PollOutcome.NEW),
        (update(10 * MIN, "interval", document=True), 0, PollOutcome.UNCHANGED),
        (update(10 * MIN, "interval"), 0, PollOutcome.UNCHANGED),
        (update(10 * MIN, "backoff after 1 failure", error="FetchError: x"), 0, PollOutcome.ERROR),
    ],
)
def test_the_result_follows_what_storage_found_new(
    update_: FeedUpdate, new: int, outcome: PollOutcome
) -> None:
    result = update_.result(new)
    assert (result.outcome, result.new_articles, result.next_check) == (
        outcome,
        new,
        NOW + 10 * MIN,
    )
