"""One poll of the configured feeds, each ending as a value.

    for each feed, at most MAX_CONCURRENT at a time:
        state   = storage.feed_states()[feed]           # ETag, Last-Modified
        fetched = fetch(feed.url, state)                 # FetchError → PollResult(ERROR)
                  # public addresses only; allow_private lets the feed's own host be private
        if fetched is 304: record UNCHANGED; done
        entries = parse(fetched.body)  (in a thread)     # ParseError → PollResult(ERROR)
                                                         # the newest 500 entries at most
        articles = normalize(entries)  (in a thread)     # clean text, link, date, dedup key
        new = storage.add_articles(articles)             # UNIQUE key: re-polls add nothing
        for new articles without a real sapo (a few per poll),
                whose link is on the feed's own site or its page_domains:
            page = fetch_page(article.url) once, ever    # recorded in `pages`
            text = extract_main_text(page)  (in a thread)
            storage.set_article_text(summarize(text))
        record NEW (or UNCHANGED when nothing was new)
    then, for every feed, success or not:
        next check = interval, stretched by Cache-Control/Expires/<ttl>/Retry-After,
                     or exponential backoff while failing (bot.politeness)

Expected failures (fetch, parse) are logged and stored with the feed; anything else is a
bug: logged loudly with its traceback, stored, and re-raised after the batch finishes so
one feed's bug never starves the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx

from bot.addresses import page_allowed, same_host
from bot.errors import FetchError, ParseError
from bot.extract import extract_main_text
from bot.fetch import RateLimited, fetch_feed, fetch_page, is_remote
from bot.models import Article, FeedState, FetchResult, PollOutcome, PollResult
from bot.normalize import normalize_feed
from bot.parse import parse_feed_document
from bot.politeness import Freshness, describe, plan_next_check
from bot.settings import FeedConfig
from bot.storage import Storage
from bot.summarize import is_real_sapo, summarize

log = logging.getLogger(__name__)
MAX_CONCURRENT = 16  # feeds in flight; the HTTP client also limits requests per host
MAX_PAGES_PER_POLL = 10
MIN_INTERVAL = timedelta(minutes=1)
MAX_HINTED = timedelta(hours=6)
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


async def poll_feed(
    feed: FeedConfig,
    storage: Storage,
    client: httpx.AsyncClient,
    clock: Clock = utc_now,
    state: FeedState | None = None,
) -> PollResult:
    """Poll one feed and store what is new; expected failures come back as ERROR results.

    Either way, the outcome decides the next check (bot.politeness) and is stored.
    `state` is what the database remembers of the feed; read here when not given (a batch
    reads all states once: reading them per feed grows with the square of the feeds).
    """
    if state is None:
        state = (await storage.feed_states(counts=False)).get(feed.id)
    url = (state.redirected_to if state else None) or feed.url
    failures = state.consecutive_failures if state else 0
    fetched: FetchResult | None = None
    hints: Freshness | None = None
    ttl: int | None = None
    try:
        fetched = await fetch_feed(
            client,
            url,
            etag=state.etag if state else None,
            last_modified=state.last_modified if state else None,
            # Judged against the configured URL: a remembered redirect target is not
            # trusted with private addresses just because the feed's own host is.
            allow_private=feed.allow_private and same_host(url, feed.url),
        )
        if fetched.not_modified:
            result = PollResult(feed.id, PollOutcome.UNCHANGED)
            hints = Freshness.of(fetched, state.ttl if state else None)  # <ttl> from the last 200
        else:
            assert fetched.body is not None
            parsed = await asyncio.to_thread(
                parse_feed_document, fetched.body, fetched.url, fetched.content_type
            )
            hints = Freshness.of(fetched, parsed.ttl)
            ttl = parsed.ttl
            # Cleaning and summarising hundreds of entries is CPU work: off the event loop.
            normalized = await asyncio.to_thread(
                normalize_feed, parsed.entries, feed.id, fetched.url
            )
            articles = normalized.articles
            ids = await storage.add_articles(articles, clock())
            new = [(i, a) for i, a in zip(ids, articles, strict=True) if i is not None]
            if feed.fetch_pages:
                await fill_from_pages(feed, fetched.url, new, storage, client, clock)
            outcome = PollOutcome.NEW if new else PollOutcome.UNCHANGED
            result = PollResult(
                feed.id,
                outcome,
                new_articles=len(new),
                entries=len(parsed.entries),
                dropped=parsed.dropped,
                skipped=normalized.skipped,
            )
    except (FetchError, ParseError) as exc:
        if isinstance(exc, RateLimited):
            hints = Freshness(retry_after=exc.retry_after)
        result = PollResult(feed.id, PollOutcome.ERROR, error=f"{type(exc).__name__}: {exc}")
    now = clock()
    plan = plan_next_check(
        now,
        interval=feed.interval,
        min_interval=MIN_INTERVAL,
        # A server's hints may stretch a feed's interval, up to 4 times or 6 hours.
        max_interval=max(feed.interval, min(4 * feed.interval, MAX_HINTED)),
        result=hints,
        consecutive_failures=failures + 1 if result.error else 0,
    )
    result = replace(result, next_check=plan.at, next_check_reason=plan.reason)
    redirect = fetched.permanent_redirect if fetched else None
    if redirect and redirect != url:
        log.warning("poll feed=%s moved permanently to=%s (update the config)", feed.id, redirect)
    await storage.record_poll(
        result,
        now,
        etag=fetched.etag if fetched else None,
        last_modified=fetched.last_modified if fetched else None,
        redirected_to=redirect,
        ttl=ttl,
        document=fetched is not None and not fetched.not_modified,
    )
    level = logging.WARNING if result.error else logging.INFO
    log.log(
        level,
        'poll feed=%s outcome=%s new=%d entries=%d next="%s"%s%s',
        feed.id,
        result.outcome.value,
        result.new_articles,
        result.entries,
        describe(plan, now),
        _ignored(result),
        f" reason={result.error}" if result.error else "",
    )
    return result


def _ignored(result: PollResult) -> str:
    """ " dropped=… skipped=…" for the entries a poll left out, when it left any out."""
    counts = {"dropped": result.dropped, "skipped": result.skipped}
    return "".join(f" {name}={count}" for name, count in counts.items() if count)


async def poll_due(
    feeds: Sequence[FeedConfig],
    storage: Storage,
    client: httpx.AsyncClient,
    clock: Clock = utc_now,
) -> list[PollResult]:
    """Poll the feeds whose next check has come (never-polled feeds included)."""
    states = await storage.feed_states(counts=False)
    now = clock()
    due = [
        f
        for f in feeds
        if f.id not in states
        or states[f.id].next_check_at is None
        or states[f.id].next_check_at <= now  # type: ignore[operator]
    ]
    return await poll_all(due, storage, client, clock) if due else []


async def fill_from_pages(
    feed: FeedConfig,
    fetched_from: str,
    new: Sequence[tuple[int, Article]],
    storage: Storage,
    client: httpx.AsyncClient,
    clock: Clock = utc_now,
) -> int:
    """Summarise from the article page where the feed gave no real sapo; return pages used.

    Each page is fetched at most once (the `pages` table remembers failures too), and at
    most MAX_PAGES_PER_POLL per feed poll, to stay polite to the outlet. Entry links are
    written by whoever runs the feed, so only pages on the feed's own site (the configured
    URL's or `fetched_from`'s registrable domain) or its `page_domains` are fetched.
    """
    sites = (feed.url, fetched_from)
    wanted = [(i, a) for i, a in new if a.url and is_remote(a.url)]
    wanted = [(i, a) for i, a in wanted if not is_real_sapo(a.body, a.title)]
    elsewhere = [
        a.url for _, a in wanted if not page_allowed(a.url or "", sites, feed.page_domains)
    ]
    if elsewhere:
        log.info(
            "pages feed=%s skipped=%d not on the feed's site (see page_domains) first=%s",
            feed.id,
            len(elsewhere),
            elsewhere[0],
        )
    wanted = [(i, a) for i, a in wanted if a.url not in elsewhere]
    used = 0
    for article_id, article in wanted[:MAX_PAGES_PER_POLL]:
        assert article.url is not None
        if await storage.page_attempted(article.url):
            continue
        text, error = "", None
        try:
            page = await fetch_page(
                client,
                article.url,
                allow_private=feed.allow_private and same_host(article.url, feed.url),
            )
            assert page.body is not None
            text = await asyncio.to_thread(extract_main_text, page.body, page.url)
            error = None if text else "no article text found"
        except FetchError as exc:
            error = str(exc)
        await storage.record_page(article.url, clock(), error)
        if error:
            log.info("page url=%s error=%s", article.url, error)
            continue
        summary = summarize(text, title=article.title)
        if summary:
            await storage.set_article_text(article_id, text, summary)
            used += 1
    return used


async def poll_all(
    feeds: Sequence[FeedConfig],
    storage: Storage,
    client: httpx.AsyncClient,
    clock: Clock = utc_now,
) -> list[PollResult]:
    """Poll every feed concurrently (bounded); results in the order of `feeds`."""
    limit = asyncio.Semaphore(MAX_CONCURRENT)
    states = await storage.feed_states(counts=False)

    async def one(feed: FeedConfig) -> PollResult:
        async with limit:
            return await poll_feed(feed, storage, client, clock, states.get(feed.id))

    outcomes = await asyncio.gather(*(one(f) for f in feeds), return_exceptions=True)
    results: list[PollResult] = []
    bugs: list[BaseException] = []
    for feed, outcome in zip(feeds, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            log.error("poll feed=%s crashed", feed.id, exc_info=outcome)
            failed = PollResult(feed.id, PollOutcome.ERROR, error=f"internal error: {outcome!r}")
            failed = replace(failed, next_check=clock() + feed.interval, next_check_reason="error")
            await storage.record_poll(failed, clock())
            results.append(failed)
            bugs.append(outcome)
        else:
            results.append(outcome)
    if bugs:
        raise bugs[0]
    return results
