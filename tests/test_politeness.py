"""When to poll next (bot.politeness): table-driven, on a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TypedDict

import pytest

from bot.models import FetchResult
from bot.politeness import (
    Freshness,
    NextCheck,
    cache_directives,
    describe,
    expires_at,
    freshness_from_headers,
    plan_next_check,
    retry_after_seconds,
)

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
INTERVAL, MIN_INTERVAL, MAX_INTERVAL = 10 * MIN, 2 * MIN, 2 * HOUR


class Limits(TypedDict):
    interval: timedelta
    min_interval: timedelta
    max_interval: timedelta


def limits() -> Limits:
    return {"interval": INTERVAL, "min_interval": MIN_INTERVAL, "max_interval": MAX_INTERVAL}


# (case, hints, consecutive failures, expected delay, expected reason)
CASES = [
    ("no hints: the interval", None, 0, 10 * MIN, "interval"),
    ("max-age longer", Freshness(cache_max_age=1800), 0, 30 * MIN, "Cache-Control max-age"),
    ("max-age shorter", Freshness(cache_max_age=60), 0, 10 * MIN, "interval"),
    ("max-age past max", Freshness(cache_max_age=86400), 0, 2 * HOUR,
     "Cache-Control max-age, capped at max_interval"),
    ("Expires", Freshness(expires=NOW + 45 * MIN), 0, 45 * MIN, "Expires"),
    ("Expires already past", Freshness(expires=NOW - HOUR), 0, 10 * MIN, "interval"),
    ("RSS ttl", Freshness(ttl=60), 0, HOUR, "RSS ttl"),
    ("longest hint wins", Freshness(cache_max_age=1200, ttl=40), 0, 40 * MIN, "RSS ttl"),
    ("Retry-After on success", Freshness(retry_after=5400), 0, 90 * MIN, "Retry-After"),
    ("first failure", None, 1, 10 * MIN, "backoff after 1 failure"),
    ("third failure", None, 3, 40 * MIN, "backoff after 3 failures"),
    ("backoff capped at 6 h", None, 12, 6 * HOUR, "backoff after 12 failures"),
    ("absurd failures", None, 10_000, 6 * HOUR, "backoff after 10000 failures"),
    ("Retry-After longer than backoff", Freshness(retry_after=3 * 3600), 2, 3 * HOUR,
     "Retry-After"),
    ("Retry-After shorter than backoff", Freshness(retry_after=30), 3, 40 * MIN,
     "backoff after 3 failures"),
    ("Retry-After capped at a day", Freshness(retry_after=9e9), 1, 24 * HOUR, "Retry-After"),
    ("failing ignores cache hints", Freshness(cache_max_age=86400), 1, 10 * MIN,
     "backoff after 1 failure"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("hints", "failures", "delay", "reason"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_next_check(hints: Freshness | None, failures: int, delay: timedelta, reason: str) -> None:
    plan = plan_next_check(NOW, **limits(), result=hints, consecutive_failures=failures)
    assert plan == NextCheck(NOW + delay, reason)


def test_interval_below_min_is_raised() -> None:
    plan = plan_next_check(NOW, interval=timedelta(seconds=10), min_interval=MIN, max_interval=HOUR)
    assert plan == NextCheck(NOW + MIN, "interval, raised to min_interval")


def test_slow_feed_never_polled_faster_for_failing() -> None:
    daily = timedelta(days=1)
    plan = plan_next_check(
        NOW, interval=daily, min_interval=MIN, max_interval=2 * daily, consecutive_failures=3
    )
    assert plan.at == NOW + daily


def test_recovery_is_back_on_the_interval() -> None:
    failing = plan_next_check(NOW, **limits(), consecutive_failures=5).at
    recovered = plan_next_check(NOW, **limits(), consecutive_failures=0).at
    assert (failing - NOW, recovered - NOW) == (160 * MIN, 10 * MIN)


def test_inverted_limits_are_rejected() -> None:
    with pytest.raises(ValueError, match="min_interval"):
        plan_next_check(NOW, interval=HOUR, min_interval=2 * HOUR, max_interval=HOUR)


@pytest.mark.parametrize(
    ("delay", "text"),
    [(timedelta(seconds=42), "42 s"), (12 * MIN, "12 min"), (6 * HOUR, "6 h"),
     (90 * MIN, "1 h 30 min"), (-MIN, "0 s")],
)  # fmt: skip
def test_describe(delay: timedelta, text: str) -> None:
    assert describe(NextCheck(NOW + delay, "interval"), NOW) == f"in {text} (interval)"


# -- headers -----------------------------------------------------------------------------------

DATE = "Fri, 27 Nov 2026 08:00:00 GMT"
SERVER_AHEAD = "Fri, 27 Nov 2026 09:00:00 GMT"  # a server clock one hour fast

HEADER_CASES = [
    ("nothing", {}, Freshness()),
    ("max-age", {"Cache-Control": "public, max-age=600"}, Freshness(cache_max_age=600)),
    ("max-age less Age", {"cache-control": "max-age=600", "age": "100"},
     Freshness(cache_max_age=500)),
    ("Age past max-age", {"Cache-Control": "max-age=60", "Age": "300"},
     Freshness(cache_max_age=0)),
    ("s-maxage as fallback", {"Cache-Control": "s-maxage=900"}, Freshness(cache_max_age=900)),
    ("max-age beats s-maxage", {"Cache-Control": "s-maxage=900, max-age=60"},
     Freshness(cache_max_age=60)),
    ("quoted max-age", {"Cache-Control": 'max-age="120"'}, Freshness(cache_max_age=120)),
    ("garbled max-age", {"Cache-Control": "max-age=soon"}, Freshness()),
    ("no-cache", {"Cache-Control": "no-cache, max-age=600", "Expires": DATE}, Freshness()),
    ("no-store", {"Cache-Control": "NO-STORE"}, Freshness()),
    ("max-age beats Expires", {"Cache-Control": "max-age=60", "Expires": DATE},
     Freshness(cache_max_age=60)),
    ("Expires on our clock", {"Date": SERVER_AHEAD, "Expires": "Fri, 27 Nov 2026 09:30:00 GMT"},
     Freshness(expires=NOW + 30 * MIN)),
    ("Expires without Date", {"Expires": "Fri, 27 Nov 2026 08:20:00 GMT"},
     Freshness(expires=NOW + 20 * MIN)),
    ("Expires: 0", {"Expires": "0"}, Freshness()),
    ("Retry-After seconds", {"Retry-After": " 120 "}, Freshness(retry_after=120)),
    ("Retry-After date, server clock", {"Date": SERVER_AHEAD,
     "Retry-After": "Fri, 27 Nov 2026 09:05:00 GMT"}, Freshness(retry_after=300)),
    ("Retry-After date in the past", {"Retry-After": "Fri, 27 Nov 2026 07:00:00 GMT"},
     Freshness(retry_after=0)),
    ("Retry-After garbled", {"Retry-After": "later"}, Freshness()),
    ("no-cache keeps Retry-After", {"Cache-Control": "no-cache", "Retry-After": "60"},
     Freshness(retry_after=60)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("headers", "expected"),
    [case[1:] for case in HEADER_CASES],
    ids=[case[0] for case in HEADER_CASES],
)
def test_freshness_from_headers(headers: dict[str, str], expected: Freshness) -> None:
    assert freshness_from_headers(headers, NOW) == expected


def test_header_helpers_on_their_own() -> None:
    assert cache_directives('Public, Max-Age=60, x="a"') == {
        "public": None, "max-age": "60", "x": "a"}  # fmt: skip
    assert expires_at(None, None, NOW) is None
    assert retry_after_seconds("", None, NOW) is None


def test_freshness_of_a_fetch_result() -> None:
    fetched = FetchResult(
        url="https://x.vn/rss", body=b"", cache_max_age=60.0, expires=NOW, retry_after=5.0
    )
    assert Freshness.of(fetched, ttl=30) == Freshness(60.0, NOW, 5.0, 30)
