"""Politeness: when to poll a feed next, from its interval and what its server said. Pure.

    healthy feed:  delay = longest of  interval, Cache-Control max-age, Expires − now,
                                       RSS <ttl>, Retry-After
                   then clamped to [min_interval, max_interval]
    failing feed:  delay = interval × 2^(failures − 1), at most max_backoff (6 h),
                   at least min_interval; a longer Retry-After wins (up to a day)

Recovery needs no state: the first success has zero consecutive failures, so the next check
is back on the feed's own interval. The header readers here turn raw HTTP headers into a
`Freshness`; the fetch stage calls them and copies the values into `FetchResult`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from bot.models import FetchResult

MAX_BACKOFF = timedelta(hours=6)
# A server may ask for a long pause, but a typo ("Retry-After: 8640000") must not silence a
# feed for months: a day is the longest we obey.
MAX_RETRY_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class Freshness:
    """What one poll said about when the feed may change; every hint is optional."""

    cache_max_age: float | None = None  # seconds: Cache-Control max-age (s-maxage) less Age
    expires: datetime | None = None  # aware: when the Expires header says the copy goes stale
    retry_after: float | None = None  # seconds: Retry-After (429, 503)
    ttl: int | None = None  # minutes: RSS <ttl>, or sy:updatePeriod / sy:updateFrequency

    @classmethod
    def of(cls, fetched: FetchResult, ttl: int | None = None) -> Freshness:
        """The hints of a successful fetch, plus the <ttl> its document declared."""
        return cls(fetched.cache_max_age, fetched.expires, fetched.retry_after, ttl)


@dataclass(frozen=True)
class NextCheck:
    """When to poll next, and which rule decided it (for logs and /status)."""

    at: datetime
    reason: str


def plan_next_check(
    now: datetime,
    *,
    interval: timedelta,
    min_interval: timedelta,
    max_interval: timedelta,
    result: Freshness | None = None,
    consecutive_failures: int = 0,
    max_backoff: timedelta = MAX_BACKOFF,
) -> NextCheck:
    """When to poll a feed next, and why; see the module docstring for the rules."""
    if min_interval > max_interval:
        raise ValueError(f"min_interval {min_interval} is longer than max_interval {max_interval}")
    hints = result or Freshness()
    if consecutive_failures > 0:
        delay, reason = _backoff(interval, consecutive_failures, max_backoff)
        delay = max(delay, min_interval)
    else:
        delay, reason = _longest_hint(now, interval, hints)
        delay, reason = _clamp(delay, reason, min_interval, max_interval)
    if hints.retry_after is not None:
        asked = min(timedelta(seconds=max(hints.retry_after, 0.0)), MAX_RETRY_AFTER)
        if asked > delay:
            delay, reason = asked, "Retry-After"
    return NextCheck(now + delay, reason)


def describe(check: NextCheck, now: datetime) -> str:
    """'in 1 h 30 min (Cache-Control max-age)': for logs and the /status reply."""
    return f"in {describe_delay(check.at - now)} ({check.reason})"


def describe_delay(delay: timedelta) -> str:
    """A delay rounded to what a person cares about: '45 s', '12 min', '6 h', '1 h 30 min'."""
    seconds = max(round(delay.total_seconds()), 0)
    if seconds < 60:
        return f"{seconds} s"
    hours, minutes = divmod(round(seconds / 60), 60)
    if not hours:
        return f"{minutes} min"
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def _backoff(interval: timedelta, failures: int, cap: timedelta) -> tuple[timedelta, str]:
    # 2 ** failures grows without bound; stop doubling long before it could overflow.
    # A feed polled less often than the cap anyway is never polled *more* often for failing.
    factor = 2 ** min(failures - 1, 32)
    delay = min(interval * factor, max(cap, interval))
    return delay, f"backoff after {failures} failure{'s' if failures > 1 else ''}"


def _longest_hint(now: datetime, interval: timedelta, hints: Freshness) -> tuple[timedelta, str]:
    candidates = [(interval, "interval")]
    if hints.cache_max_age is not None:
        candidates.append((timedelta(seconds=hints.cache_max_age), "Cache-Control max-age"))
    if hints.expires is not None:
        candidates.append((hints.expires - now, "Expires"))
    if hints.ttl is not None:
        candidates.append((timedelta(minutes=hints.ttl), "RSS ttl"))
    # max() keeps the first of equal delays, so a hint equal to the interval reads "interval".
    return max(candidates, key=lambda c: c[0])


def _clamp(delay: timedelta, reason: str, low: timedelta, high: timedelta) -> tuple[timedelta, str]:
    if delay < low:
        return low, f"{reason}, raised to min_interval"
    if delay > high:
        return high, f"{reason}, capped at max_interval"
    return delay, reason


# -- reading the headers ---------------------------------------------------------------------


def freshness_from_headers(headers: Mapping[str, str], now: datetime) -> Freshness:
    """Cache-Control, Age, Expires, Date and Retry-After of one response, as hints.

    Per RFC 9111 §5.3, max-age beats Expires, and no-store / no-cache leave neither: the
    server wants every poll revalidated, so only the feed's interval applies.
    """
    lower = {key.lower(): value for key, value in headers.items()}
    directives = cache_directives(lower.get("cache-control", ""))
    date = http_date(lower.get("date"))
    retry = retry_after_seconds(lower.get("retry-after"), date, now)
    if "no-store" in directives or "no-cache" in directives:
        return Freshness(retry_after=retry)
    max_age = _max_age(directives, lower.get("age"))
    if max_age is not None:
        return Freshness(cache_max_age=max_age, retry_after=retry)
    return Freshness(expires=expires_at(lower.get("expires"), date, now), retry_after=retry)


def cache_directives(value: str) -> dict[str, str | None]:
    """'public, max-age=300' → {'public': None, 'max-age': '300'}; names lower-cased."""
    directives: dict[str, str | None] = {}
    for part in value.split(","):
        name, sep, argument = part.partition("=")
        name = name.strip().lower()
        if name:
            directives[name] = argument.strip().strip('"') if sep else None
    return directives


def _max_age(directives: Mapping[str, str | None], age: str | None) -> float | None:
    # We are a private cache, so max-age rules; s-maxage is only a fallback for servers that
    # send nothing else. Age is how long the copy already sat in a CDN (RFC 9111 §4.2.3).
    raw = directives.get("max-age") or directives.get("s-maxage")
    if raw is None or not raw.isdigit():
        return None
    already = int(age) if age and age.strip().isdigit() else 0
    return float(max(int(raw) - already, 0))


def http_date(value: str | None) -> datetime | None:
    """An HTTP-date (RFC 9110 §5.6.7) as an aware datetime; None when absent or invalid."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def expires_at(expires: str | None, date: datetime | None, now: datetime) -> datetime | None:
    """When the copy goes stale on *our* clock: Expires − Date + now, so a server clock that
    is off by an hour does not shift our polling by an hour. Invalid values ("0", "-1")
    mean "already stale" (RFC 9111 §5.3), which leaves only the interval: None."""
    when = http_date(expires)
    if when is None:
        return None
    return now + (when - date) if date is not None else when


def retry_after_seconds(value: str | None, date: datetime | None, now: datetime) -> float | None:
    """Retry-After as seconds from now: delay-seconds, or an HTTP-date measured against the
    response's Date (the server's clock) when there is one."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    when = http_date(value)
    if when is None:
        return None
    return max((when - (date or now)).total_seconds(), 0.0)
