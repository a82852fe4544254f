"""One poll of the configured feeds, each ending as a value.

    for each feed, at most MAX_CONCURRENT at a time:
        state   = storage.feed_states()[feed]           # ETag, Last-Modified, failures
        fetched = fetch(feed.url, state)                 # or the FetchError
                  # public addresses only; allow_private lets the feed's own host be private
        if fetched is a document (not a 304):
            entries  = parse(fetched.body)  (in a thread)      # or the ParseError
                                                               # the newest 500 entries at most
            articles = normalize(entries)  (in a thread)       # clean text, link, date, dedup key
        update = decide(feed, state, fetched or error, articles, now)    # pure: bot.decide
                 # caching headers, redirect, <ttl>, articles, and the next check:
                 # interval, stretched by Cache-Control/Expires/<ttl>/Retry-After,
                 # or exponential backoff while failing (bot.politeness)
        new = storage.apply(update)                      # one transaction; UNIQUE key:
                                                         # re-polls add nothing
        read_ahead(new)  (in a thread)                   # their texts, read for clustering
        record NEW (or UNCHANGED when nothing was new, ERROR when it failed)
        for new articles without a real sapo (a few per poll),
                whose link is on the feed's own site or its page_domains:
            page = fetch_page(article.url) once, ever    # recorded in `pages`
            text = extract_main_text(page)  (in a thread)
            storage.set_article_text(summarize(text))

Expected failures (fetch, parse) are logged and stored with the feed. Anything else is a
bug: logged loudly with its traceback, then decided and stored like any failure (so the
feed backs off), and returned as an ERROR result: one feed's bug never costs the others
of the batch their results, nor the caller its bookkeeping.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import httpx

from bot.addresses import page_allowed, same_host
from bot.cluster import read_ahead
from bot.decide import decide
from bot.errors import FetchError, ParseError
from bot.extract import extract_main_text
from bot.fetch import fetch_feed, fetch_page, is_remote
from bot.models import Article, FeedState, FetchResult, PollResult
from bot.normalize import NormalizedFeed, normalize_feed
from bot.parse import ParsedFeed, parse_feed_document
from bot.politeness import NextCheck, describe
from bot.settings import FeedConfig
from bot.storage import Storage
from bot.summarize import is_real_sapo, summarize

log = logging.getLogger(__name__)
MAX_CONCURRENT = 16  # feeds in flight; the HTTP client also limits requests per host
MAX_PAGES_PER_POLL = 10
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
    """Poll one feed, store what it changed, and say how it ended; never raises Exception.

    Expected failures (fetch, parse) and bugs alike end as ERROR results; a bug is logged
    with its traceback first. `state` is what the database remembers of the feed; read
    here when not given (a batch reads all states once: reading them per feed grows with
    the square of the feeds).
    """
    if state is None:
        state = (await storage.feed_states(counts=False)).get(feed.id)
    try:
        return await _poll(feed, storage, client, clock, state)
    except Exception as exc:
        log.error("poll feed=%s crashed", feed.id, exc_info=exc)
        update = decide(feed, state, exc, clock())
        try:
            await storage.apply(update)
        except Exception:
            log.exception("poll feed=%s: the crash could not be recorded", feed.id)
        result = update.result(new_articles=0)
        _log_poll(feed, result, update.polled_at)
        return result


async def _poll(
    feed: FeedConfig,
    storage: Storage,
    client: httpx.AsyncClient,
    clock: Clock,
    state: FeedState | None,
) -> PollResult:
    url = (state.redirected_to if state else None) or feed.url
    document: tuple[ParsedFeed, NormalizedFeed] | None = None
    fetched: FetchResult | FetchError | ParseError
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
        if not fetched.not_modified:
            document = await _read(feed, fetched)
    except (FetchError, ParseError) as exc:
        fetched = exc
    update = decide(feed, state, fetched, clock(), document)
    if update.redirected_to and update.redirected_to != url:
        log.warning(
            "poll feed=%s moved permanently to=%s (update the config)",
            feed.id,
            update.redirected_to,
        )
    ids = await storage.apply(update)
    new = [(i, a) for i, a in zip(ids, update.articles, strict=True) if i is not None]
    if new:  # read for clustering now, off the loop, not all of a day's in the next edition
        await asyncio.to_thread(read_ahead, [a for _, a in new])
    result = update.result(len(new))
    _log_poll(feed, result, update.polled_at)
    if new and feed.fetch_pages and isinstance(fetched, FetchResult):
        await fill_from_pages(feed, fetched.url, new, storage, client, clock)
    return result


async def _read(feed: FeedConfig, fetched: FetchResult) -> tuple[ParsedFeed, NormalizedFeed]:
    """Parse and normalise a fetched document; both are CPU work, so off the event loop."""
    assert fetched.body is not None
    parsed = await asyncio.to_thread(
        parse_feed_document, fetched.body, fetched.url, fetched.content_type
    )
    normalized = await asyncio.to_thread(normalize_feed, parsed.entries, feed.id, fetched.url)
    return parsed, normalized


def _log_poll(feed: FeedConfig, result: PollResult, now: datetime) -> None:
    assert result.next_check is not None
    next_check = NextCheck(result.next_check, result.next_check_reason)
    log.log(
        logging.WARNING if result.error else logging.INFO,
        'poll feed=%s outcome=%s new=%d entries=%d next="%s"%s%s',
        feed.id,
        result.outcome.value,
        result.new_articles,
        result.entries,
        describe(next_check, now),
        _ignored(result),
        f" reason={result.error}" if result.error else "",
    )


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

    return list(await asyncio.gather(*(one(f) for f in feeds)))
