"""Decide stage: what one poll changes for its feed, as one FeedUpdate value. Pure.

    fetch failed, parse failed, or a bug   → error, backoff from the failures so far
    304 Not Modified                        → caching headers; hints with the stored <ttl>
    a document                              → its articles, caching headers, redirect,
                                              <ttl>; hints with the document's <ttl>
    in every case                           → the next check (bot.politeness)

Which articles are new is not decided here: storage's UNIQUE (feed, dedup key) knows, and
applying the update tells (`FeedUpdate.result`). The orchestrator (bot.pipeline) does the
I/O around this: fetch, parse, normalise before it; storage and article pages after.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from bot.errors import FetchError, ParseError, RateLimited
from bot.models import FeedState, FeedUpdate, FetchResult
from bot.normalize import NormalizedFeed
from bot.parse import ParsedFeed
from bot.politeness import Freshness, plan_next_check
from bot.settings import MIN_INTERVAL, FeedConfig

MAX_HINTED = timedelta(hours=6)


def decide(
    feed: FeedConfig,
    state: FeedState | None,
    fetched: FetchResult | BaseException,
    now: datetime,
    document: tuple[ParsedFeed, NormalizedFeed] | None = None,
) -> FeedUpdate:
    """The update one poll makes: `fetched` is the fetch's result, or the error that ended
    the poll (a FetchError, a ParseError, or an unexpected one: a bug); `document` is the
    parsed and normalised body when one came."""
    failures = state.consecutive_failures if state else 0
    if isinstance(fetched, BaseException):
        retry = fetched.retry_after if isinstance(fetched, RateLimited) else None
        hints = Freshness(retry_after=retry) if retry is not None else None
        at, reason = _next_check(feed, now, hints, failures + 1)
        return FeedUpdate(feed.id, now, at, reason, error=describe_error(fetched))
    if document is None:  # 304: the <ttl> to honour is the one the last full answer gave
        hints = Freshness.of(fetched, state.ttl if state else None)
        update = FeedUpdate(feed.id, now, *_next_check(feed, now, hints, 0))
    else:
        parsed, normalized = document
        update = FeedUpdate(
            feed.id,
            now,
            *_next_check(feed, now, Freshness.of(fetched, parsed.ttl), 0),
            articles=tuple(normalized.articles),
            ttl=parsed.ttl,
            document=True,
            entries=len(parsed.entries),
            dropped=parsed.dropped,
            skipped=normalized.skipped,
        )
    return replace(
        update,
        etag=fetched.etag,
        last_modified=fetched.last_modified,
        redirected_to=fetched.permanent_redirect,
    )


def describe_error(error: BaseException) -> str:
    """How a failed poll is stored and shown: expected failures by their class, bugs marked."""
    if isinstance(error, FetchError | ParseError):
        return f"{type(error).__name__}: {error}"
    return f"internal error: {error!r}"


def _next_check(
    feed: FeedConfig, now: datetime, hints: Freshness | None, failures: int
) -> tuple[datetime, str]:
    plan = plan_next_check(
        now,
        interval=feed.interval,
        min_interval=MIN_INTERVAL,
        # A server's hints may stretch a feed's interval, up to 4 times or 6 hours.
        max_interval=max(feed.interval, min(4 * feed.interval, MAX_HINTED)),
        result=hints,
        consecutive_failures=failures,
    )
    return plan.at, plan.reason
