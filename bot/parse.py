"""Parse stage: feed bytes → FeedEntry values. The only module that imports feedparser.

    bytes → UTF-8 (our decision, see `to_utf8`) → feedparser → entries, <ttl>, title
    no RSS/Atom at all             → ParseError "not a feed: …"
    malformed, nothing usable      → ParseError "truncated or malformed: …"
    malformed with entries         → the entries (a truncated tail dropped), logged
    more than MAX_ENTRIES entries  → the newest MAX_ENTRIES, the rest counted and logged

feedparser is synchronous and CPU-bound; callers run `parse_feed_document` off the event
loop.
"""

from __future__ import annotations

import calendar
import codecs
import heapq
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser

from bot.errors import ParseError
from bot.models import FeedEntry
from bot.vietnamese import nfc

log = logging.getLogger(__name__)

# Notices, not damage: feedparser flags a feed served as text/html, or one whose declared
# charset we overrode, yet parses it completely.
_NOTICES = (feedparser.NonXMLContentType, feedparser.CharacterEncodingOverride)
_ROOT_CLOSE = re.compile(rb"</(?:\w+:)?(?:rss|feed|RDF)\s*>\s*$")
_ENTRY_CLOSE = re.compile(rb"</(?:\w+:)?(?:item|entry)\s*>")
_FEED_START = re.compile(rb"<(?:\w+:)?(?:rss|feed|RDF)[\s>]")
_HTML_START = re.compile(
    rb"\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)", re.I | re.S
)
_SY_PERIOD_MINUTES = {"hourly": 60, "daily": 1440, "weekly": 10080, "monthly": 43200}
# Real feeds carry 20–100 items. A feed of 100,000 would cost minutes of cleaning and
# summarising on every change, and no reader wants its tail.
MAX_ENTRIES = 500
_UNDATED = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ParsedFeed:
    """One feed document: its entries, plus what the channel says about itself."""

    entries: list[FeedEntry]
    ttl: int | None  # minutes between polls the publisher asks for (<ttl>, sy:updatePeriod)
    title: str
    encoding: str  # what the bytes were read as, e.g. "utf-8", "windows-1258"
    dropped: int = 0  # entries past the newest MAX_ENTRIES, left out


def parse_feed_document(body: bytes, url: str, content_type: str = "application/xml") -> ParsedFeed:
    """Entries, <ttl> and title of a feed document; ParseError when it is not usable.

    Links come back as the document has them (xml:base applied); normalize makes them
    absolute against the feed URL. `url` names the feed in logs. `content_type` is the HTTP
    header, whose charset is weighed against the bytes themselves (see `to_utf8`).
    """
    if not body.strip():
        raise ParseError("empty response body")
    data, encoding = to_utf8(body, content_type)
    media = content_type.split(";", 1)[0].strip().lower() or "application/xml"
    # Our normalize stage reads HTML with a real parser and keeps text only, so feedparser's
    # sanitizer and URI rewriting would be wasted work (a third of its time). Nor does it get
    # the feed URL as Content-Location: it would then urljoin at every element (another
    # quarter); xml:base still applies, and normalize joins links with the feed URL.
    parsed = feedparser.parse(
        data,
        response_headers={"content-type": f"{media}; charset=utf-8"},
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    entries = [_entry(raw) for raw in _usable_entries(parsed, data, url, media)]
    kept = newest(entries)
    if len(kept) < len(entries):
        log.info("feed %s has %d entries; keeping the newest %d", url, len(entries), len(kept))
    return ParsedFeed(
        entries=kept,
        ttl=_ttl(parsed.feed),
        title=nfc(" ".join(str(parsed.feed.get("title") or "").split())),
        encoding=encoding,
        dropped=len(entries) - len(kept),
    )


def newest(entries: list[FeedEntry], limit: int = MAX_ENTRIES) -> list[FeedEntry]:
    """At most `limit` entries, in document order: the newest by date, then undated ones
    in document order (feeds list their newest first)."""
    if len(entries) <= limit:
        return entries

    def rank(index: int) -> tuple[bool, datetime, int]:
        published = entries[index].published
        return published is not None, published or _UNDATED, -index

    return [entries[i] for i in sorted(heapq.nlargest(limit, range(len(entries)), key=rank))]


def _usable_entries(parsed: Any, data: bytes, url: str, media: str) -> list[Any]:
    exception = parsed.get("bozo_exception")
    damage = None if isinstance(exception, _NOTICES) else exception
    entries = list(parsed.entries)
    if damage is not None and not _ROOT_CLOSE.search(data[-200:]):
        # Cut off mid-document: the last entry may be cut mid-link or mid-title, and a
        # wrong link would be stored for good. Keep only the entries whose end tag arrived.
        entries = entries[: len(_ENTRY_CLOSE.findall(data))]
    if entries:
        if damage is not None:
            # Many real feeds are slightly broken yet readable; keep them, but say so.
            log.info("feed %s is not well-formed (%s); using what parsed", url, damage)
        return entries
    if not parsed.get("version") and not _FEED_START.search(data[:4096]):
        # Typically a feed URL that now lands on the outlet's home page.
        is_html = "html" in media or _HTML_START.match(data[:1024])
        reason = f"an HTML page ({media})" if is_html else exception
        raise ParseError(f"not a feed: {reason or 'no RSS or Atom document found'}")
    if damage is not None:
        raise ParseError(f"truncated or malformed: {damage}")
    return []  # a well-formed feed with nothing in it


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
    # feedparser's *_parsed values are time.struct_time in UTC; garbled dates are None.
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, TypeError):
        return None


def _ttl(channel: Any) -> int | None:
    """<ttl> minutes (RSS 2.0), else sy:updatePeriod / sy:updateFrequency (RSS 1.0)."""
    ttl = str(channel.get("ttl") or "").strip()
    if ttl.isdigit() and int(ttl) > 0:
        return int(ttl)
    period = _SY_PERIOD_MINUTES.get(str(channel.get("sy_updateperiod") or "").strip().lower())
    frequency = str(channel.get("sy_updatefrequency") or "1").strip()
    if period is None or not frequency.isdigit() or int(frequency) < 1:
        return None
    return max(period // int(frequency), 1)


# -- bytes → UTF-8 ----------------------------------------------------------------------------
# We decide the encoding ourselves and hand feedparser clean UTF-8, because its RFC 3023 rules
# trust the HTTP header over the bytes: a UTF-8 feed served as "charset=ISO-8859-1" (a common
# server default) would come out as mojibake, and a UTF-8 feed with one bad byte falls back to
# iso-8859-2 for the *whole* document.

_BOMS = (  # UTF-32 first: its little-endian BOM starts with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# "<?" with no BOM, in the wide encodings (XML 1.0 appendix F).
_WIDE_STARTS = ((b"<\0?\0", "utf-16-le"), (b"\0<\0?", "utf-16-be"))
_PROLOG = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.IGNORECASE)
# Browsers read these labels as windows-1252 (WHATWG Encoding), and so do we: the C1 range
# then holds curly quotes and dashes instead of invisible controls.
_AS_1252 = {"iso-8859-1", "iso8859-1", "latin-1", "latin1", "l1", "us-ascii", "ascii"}
_UTF8_LABELS = {"utf-8", "utf8", "unicode-1-1-utf-8"}
_STRAY = re.compile("[\udc80-\udcff]+")  # undecodable bytes, under surrogateescape
_WIDE_CHAR = re.compile("[^\x00-\x7f\udc80-\udcff]")
_XML_ILLEGAL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # forbidden even as &#x1;
_LEGACY_GUESS = "windows-1258"  # the Vietnamese code page, for documents that declare nothing


def to_utf8(body: bytes, content_type: str = "") -> tuple[bytes, str]:
    """The document as UTF-8 (prolog rewritten to match), and what it was read as.

    In order: a BOM; UTF-8 when the bytes are valid UTF-8, or mostly so (stray bytes are
    repaired, see `repair_utf8`); the XML prolog's encoding, then the HTTP header's;
    windows-1258; and finally UTF-8 with repairs, which cannot fail. So a wrong charset in
    the header or the prolog is overruled by bytes that are plainly UTF-8, and the result
    never holds U+FFFD from us.
    """
    text, encoding = _decode(body, content_type)
    data = _declare_utf8(body if text is None else text.encode("utf-8", "replace"))
    if _XML_ILLEGAL.search(data):
        # One stray control character would push the whole document into feedparser's slow,
        # lossy fallback parser.
        data = _XML_ILLEGAL.sub(b"", data)
    return data, encoding


def _decode(body: bytes, content_type: str) -> tuple[str | None, str]:
    """(text, encoding); text None means `body` is already valid UTF-8 as it stands."""
    for marker, name in _BOMS:
        if body.startswith(marker):
            if name == "utf-8":
                return repair_utf8(body[len(marker) :]), "utf-8"
            return body[len(marker) :].decode(name, "replace"), name
    for marker, name in _WIDE_STARTS:
        if body.startswith(marker):
            return body.decode(name, "replace"), name
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return None, "utf-8"
    if _mostly_utf8(body):
        return repair_utf8(body), "utf-8"
    for name in _declared(body, content_type):
        try:
            return body.decode(name), name
        except (UnicodeDecodeError, LookupError):
            continue
    return repair_utf8(body), "utf-8"


def _mostly_utf8(body: bytes) -> bool:
    # Vietnamese in a legacy code page almost never forms valid multi-byte UTF-8 sequences
    # (tone marks are bytes ≥ 0xC0 after ASCII letters), so more good sequences than stray
    # bytes means UTF-8 with damage, whatever the labels say.
    text = body.decode("utf-8", "surrogateescape")
    strays = sum(len(run) for run in _STRAY.findall(text))
    return len(_WIDE_CHAR.findall(text)) > strays


def _declared(body: bytes, content_type: str) -> list[str]:
    """Legacy encodings to try: the prolog's (its author knew the bytes), then the header's
    (often a server-wide default), then the Vietnamese code page."""
    names: list[str] = []
    prolog = _PROLOG.match(body[:512])
    if prolog:
        names.append(prolog.group(1).decode("ascii").lower())
    header = _CHARSET.search(content_type)
    if header:
        names.append(header.group(1).lower())
    names = ["windows-1252" if n in _AS_1252 else n for n in names if n not in _UTF8_LABELS]
    return [*dict.fromkeys(names), _LEGACY_GUESS]


def repair_utf8(body: bytes) -> str:
    """UTF-8 text with its invalid bytes mended rather than replaced by U+FFFD.

    A run that is the start of a multi-byte character cut short (a CMS trimming a title at
    a byte count) is dropped. Any other stray byte is read as windows-1252 (a Latin-1 or
    Word fragment pasted into a UTF-8 feed: é, curly quotes), and dropped if it is not a
    character there either.
    """
    return _STRAY.sub(_mend, body.decode("utf-8", "surrogateescape"))


def _mend(match: re.Match[str]) -> str:
    raw = match.group().encode("utf-8", "surrogateescape")
    if len(raw) >= 2 and _cut_character(raw):
        return ""
    return raw.decode("windows-1252", "ignore")


def _cut_character(raw: bytes) -> bool:
    """True when `raw` is a lead byte and continuation bytes, short of a full character."""
    lead = raw[0]
    needed = (
        2
        if 0xC2 <= lead <= 0xDF
        else 3
        if 0xE0 <= lead <= 0xEF
        else 4
        if 0xF0 <= lead <= 0xF4
        else 0
    )
    return needed > len(raw) and all(0x80 <= b <= 0xBF for b in raw[1:])


def _declare_utf8(data: bytes) -> bytes:
    prolog = _PROLOG.match(data[:512])
    if prolog is None or prolog.group(1).lower() in {b"utf-8", b"utf8"}:
        return data
    start, end = prolog.span(1)
    return data[:start] + b"utf-8" + data[end:]
