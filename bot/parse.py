"""Parse stage: feed bytes → FeedEntry values. The only module that imports feedparser.

feedparser is synchronous and CPU-bound; callers run `parse_feed` off the event loop.
"""

from __future__ import annotations

import calendar
import logging
from datetime import UTC, datetime
from typing import Any

import feedparser

from bot.errors import ParseError
from bot.models import FeedEntry

log = logging.getLogger(__name__)

# feedparser would otherwise fetch URLs itself and resolve/sanitize with its own rules; we
# hand it bytes only, and clean HTML later with a real parser (normalize stage).
feedparser.RESOLVE_RELATIVE_URIS = True
feedparser.SANITIZE_HTML = True


def parse_feed(body: bytes, url: str, content_type: str = "application/xml") -> list[FeedEntry]:
    """Entries of a feed document; ParseError when the bytes are not a feed at all.

    `url` is the base for relative links; `content_type` is the HTTP header, whose charset
    feedparser weighs against the XML prolog's.
    """
    if not body.strip():
        raise ParseError("empty response body")
    headers = {"content-location": url, "content-type": content_type}
    parsed = feedparser.parse(body, response_headers=headers)
    if not parsed.get("version") and not parsed.entries:
        reason = parsed.get("bozo_exception") or "no RSS or Atom document found"
        raise ParseError(f"not a feed: {reason}")
    if parsed.get("bozo"):
        # Many real feeds are slightly broken yet readable; keep them, but say so.
        log.info("feed %s is not well-formed (%s); using what parsed", url, parsed.bozo_exception)
    return [_entry(raw) for raw in parsed.entries]


def _entry(raw: Any) -> FeedEntry:
    title_detail = raw.get("title_detail") or {}
    return FeedEntry(
        guid=_text(raw.get("id")),
        link=_text(raw.get("link")),
        title=raw.get("title") or "",
        title_is_html=title_detail.get("type") in ("text/html", "application/xhtml+xml"),
        description=_description(raw),
        # dict.get: FeedParserDict's own lookup maps missing keys to others, with a warning.
        published=_date(dict.get(raw, "published_parsed") or dict.get(raw, "updated_parsed")),
    )


def _description(raw: Any) -> str:
    summary = raw.get("summary") or ""
    if summary.strip():
        return str(summary)
    for content in raw.get("content") or ():
        if content.get("value", "").strip():
            return str(content["value"])
    return ""


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _date(value: Any) -> datetime | None:
    # feedparser's *_parsed values are time.struct_time in UTC.
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, TypeError):
        return None
