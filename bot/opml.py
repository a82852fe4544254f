"""OPML: import a feed reader's subscriptions into the config file, export the configured feeds.

Pure functions over text; the CLI reads and writes the files. Import, step by step:

    decode the bytes (BOM, then the XML declaration, else UTF-8)
    scan them with expat: well-formed, an <opml> root, xmlUrl counts, pages without a feed
    outlines ← listparser (titles, and folders as category paths)
    for each feed outline, in document order:
        skip it: no http(s) xmlUrl | listed earlier in the OPML | already configured
        name ← its title, else the host; id ← a slug of the name, made unique
    new config text ← the original text, untouched, + one [[feeds]] table per new feed

Export writes the http(s) feeds as OPML 2.0, one folder level per "/" in a category.
URLs are compared in `normalize_feed_url` form: scheme and host lowercased, no trailing "/".
"""

from __future__ import annotations

import codecs
import re
import tomllib
import unicodedata
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from xml.parsers import expat

import listparser
import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT

from bot.errors import BantinError
from bot.settings import FeedConfig
from bot.vietnamese import fold, nfc

MAX_ID = 40  # FeedConfig.id: ^[a-z0-9][a-z0-9_-]{0,39}$
SLUG_CHARS = 32  # a generated id stays short and leaves room for a "-NN" suffix
MAX_NAME = 80  # FeedConfig.name max_length
CATEGORY_SEPARATOR = "/"  # "Kinh doanh/Chứng khoán" is the folder Chứng khoán in Kinh doanh

NO_FEED_URL = "no xmlUrl: a web page, not a feed"
NOT_HTTP = "not an http(s) feed URL"
NOT_A_FEED = "a link to another subscription list, not a feed"
DUPLICATE = "duplicate in the OPML"

_HTTP = ("http", "https")
_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
# XML 1.0 forbids these even escaped; ElementTree would write them and produce a broken file.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'


class OpmlError(BantinError):
    """The OPML cannot be read, or the config file cannot take new [[feeds]] tables."""


@dataclass(frozen=True)
class ImportReport:
    """What `import_opml` did: feeds in the OPML's order, then links and pages skipped."""

    added: tuple[tuple[str, str], ...]  # (id, url)
    skipped: tuple[tuple[str, str], ...]  # (url, why)

    def summary(self) -> str:
        """Lines for the admin: a count, then "+ id url" and "- url: why" for each feed."""
        lines = [f"Added {len(self.added)} feed(s), skipped {len(self.skipped)}."]
        lines += [f"  + {feed_id}  {url}" for feed_id, url in self.added]
        lines += [f"  - {url}: {why}" for url, why in self.skipped]
        return "\n".join(lines)


@dataclass(frozen=True)
class _Outline:
    """One of listparser's results, typed: its dicts stay in this module."""

    url: str
    title: str
    category: str  # the first category path, "/"-joined; "" when none
    is_feed: bool  # False for links to other subscription lists


@dataclass(frozen=True)
class _NewFeed:
    id: str
    name: str
    url: str
    category: str


@dataclass
class _OpenOutline:
    attrs: dict[str, str]  # names lowercased, as listparser sees them
    has_children: bool = False


@dataclass
class _Scan:
    """What listparser keeps quiet about, gathered in one expat pass over the OPML."""

    root: str = ""
    xml_urls: Counter[str] = field(default_factory=Counter)  # listparser merges repeats
    pages: list[str] = field(default_factory=list)  # htmlUrl of leaves that have no xmlUrl
    open: list[_OpenOutline] = field(default_factory=list)

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        self.root = self.root or tag
        if tag != "outline":
            return
        if self.open:
            self.open[-1].has_children = True
        outline = _OpenOutline({key.lower(): value.strip() for key, value in attrs.items()})
        self.open.append(outline)
        if outline.attrs.get("xmlurl"):
            self.xml_urls[outline.attrs["xmlurl"]] += 1

    def end(self, tag: str) -> None:
        if tag != "outline":
            return
        outline = self.open.pop()
        attrs = outline.attrs
        # listparser takes a titled outline without xmlUrl for a folder, so a subscription
        # to a site that has no feed would vanish without a word.
        linked = attrs.get("type", "").lower() in ("link", "include")
        is_page = not (outline.has_children or attrs.get("xmlurl") or linked)
        if is_page and attrs.get("htmlurl"):
            self.pages.append(attrs["htmlurl"])


def import_opml(
    config_text: str, opml: bytes | str, *, category: str | None = None
) -> tuple[str, ImportReport]:
    """The config text with the OPML's new feeds appended as [[feeds]] tables, and a report.

    Every byte of `config_text` is kept: the new tables come after it, each after a blank
    line. `category` (when not None) replaces the category taken from the OPML's folders.
    Raises OpmlError when the OPML is not well-formed OPML or the config cannot be appended to.
    """
    configured_ids, configured_urls = _configured(config_text)
    scan, outlines = _read_opml(opml)
    new_feeds: list[_NewFeed] = []
    skipped: list[tuple[str, str]] = []
    seen: set[str] = set()
    taken = set(configured_ids)
    for outline in outlines:
        key = normalize_feed_url(outline.url)
        why = _skip_reason(outline, key, seen, configured_urls)
        if why:
            skipped.append((outline.url, why))
        else:
            feed = _new_feed(outline, category, taken)
            new_feeds.append(feed)
            taken.add(feed.id)
        seen.add(key)
        skipped += [(outline.url, DUPLICATE)] * (scan.xml_urls[outline.url] - 1)
    skipped += [(page, NO_FEED_URL) for page in scan.pages]
    new_text = _append_feeds(config_text, new_feeds)
    added = tuple((feed.id, feed.url) for feed in new_feeds)
    return new_text, ImportReport(added=added, skipped=tuple(skipped))


def export_opml(
    feeds: Sequence[FeedConfig], *, title: str = "Bản tin", created: datetime | None = None
) -> str:
    """The feeds as an OPML 2.0 document, folders nested by the "/" in their categories.

    Feeds whose URL is a local file path are left out: a path on this machine means nothing
    to another feed reader. `created` (default: now) becomes the RFC 822 `dateCreated`.
    """
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = _xml_safe(title)
    when = (created or datetime.now(UTC)).astimezone(UTC)
    ET.SubElement(head, "dateCreated").text = format_datetime(when, usegmt=True)
    body = ET.SubElement(root, "body")
    folders: dict[tuple[str, ...], ET.Element] = {(): body}
    for feed in feeds:
        if not _is_http(feed.url):
            continue
        name = _xml_safe(feed.name)
        attrs = {"type": "rss", "text": name, "title": name, "xmlUrl": _xml_safe(feed.url)}
        ET.SubElement(_folder(folders, _category_path(feed.category)), "outline", attrs)
    ET.indent(root, space="  ")
    return _XML_DECLARATION + ET.tostring(root, encoding="unicode") + "\n"


def normalize_feed_url(url: str) -> str:
    """The form feed URLs are compared in: scheme and host lowercased, no trailing "/".

    "HTTPS://VnExpress.net/rss/" → "https://vnexpress.net/rss". Anything that is not an
    http(s) URL (a local file path) is compared as written.
    """
    url = url.strip()
    if not _is_http(url):
        return url
    scheme, netloc, path, query, fragment = urlsplit(url)
    return urlunsplit((scheme.lower(), netloc.lower(), path.rstrip("/"), query, fragment))


def feed_slug(name: str, url: str = "") -> str:
    """A short id for a feed: "Báo Điện tử VOV" → "bao-dien-tu-vov"; the host when no letters."""
    return _slug(name) or _slug(_host(url)) or "feed"


# --- import: reading the config ------------------------------------------------------------


def _configured(config_text: str) -> tuple[set[str], dict[str, str]]:
    """The configured feed ids, and their URLs (normalised) → id."""
    try:
        document = tomlkit.parse(config_text)
    except TOMLKitError as exc:
        raise OpmlError(f"config: not valid TOML: {exc}") from None
    feeds = document.get("feeds")
    if feeds is None:
        return set(), {}
    if not isinstance(feeds, AoT):
        # `feeds = [{…}]` or `[feeds]`: a [[feeds]] table appended after it is a TOML error.
        raise OpmlError("config: `feeds` must be written as [[feeds]] tables to import into it")
    tables: list[dict[str, Any]] = feeds.unwrap()
    ids = {t["id"] for t in tables if isinstance(t.get("id"), str)}
    urls = {
        normalize_feed_url(t["url"]): str(t.get("id", ""))
        for t in tables
        if isinstance(t.get("url"), str)
    }
    return ids, urls


# --- import: reading the OPML --------------------------------------------------------------


def _read_opml(opml: bytes | str) -> tuple[_Scan, list[_Outline]]:
    data = _decode(opml).encode("utf-8")
    scan = _scan(data)
    # listparser is never given a str: one starting with "http" is fetched over the network.
    # The BOM makes lxml's HTML parser, which listparser uses when lxml is installed, read
    # UTF-8; without one it guesses Latin-1 ("Thá»i sá»±"). Its `bozo` flag is not read: it
    # only reports a dateCreated that is not RFC 822 (listparser 0.20), harmless here.
    parsed = listparser.parse(codecs.BOM_UTF8 + data)
    feeds = [_outline(item, is_feed=True) for item in parsed["feeds"]]
    lists = [_outline(item, is_feed=False) for item in parsed["lists"]]
    return scan, feeds + lists


def _decode(opml: bytes | str) -> str:
    if isinstance(opml, str):
        return opml.removeprefix("\ufeff")
    codec = "utf-8"
    if opml.startswith(codecs.BOM_UTF8):
        codec = "utf-8-sig"
    elif opml.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        codec = "utf-16"
    elif declared := _DECLARED.match(opml):
        codec = declared.group(1).decode("ascii")
    try:
        return opml.decode(codec)
    except (LookupError, UnicodeDecodeError) as exc:
        raise OpmlError(f"OPML: cannot decode the file as {codec}: {exc}") from None


def _scan(data: bytes) -> _Scan:
    """Check `data` is well-formed OPML; listparser (in lxml's recover mode) never says."""
    scan = _Scan()
    # The text is UTF-8 now, whatever its declaration still says.
    parser = expat.ParserCreate("utf-8")
    parser.StartElementHandler = scan.start
    parser.EndElementHandler = scan.end
    parser.EntityDeclHandler = _refuse_entities
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise OpmlError(f"OPML: not well-formed XML: {exc}") from None
    if scan.root.rpartition(":")[2] != "opml":
        raise OpmlError(f"OPML: not an OPML file: the root element is <{scan.root}>")
    return scan


def _refuse_entities(*_: object) -> None:
    # No OPML export declares entities; refusing them rules out "billion laughs" expansion.
    raise OpmlError("OPML: entity declarations are not allowed")


def _outline(item: Mapping[str, Any], *, is_feed: bool) -> _Outline:
    paths = [[_clean(part) for part in path] for path in item.get("categories", [])]
    # Nested feeds give listparser empty path parts; the first non-empty path is the folder.
    category = next(
        (CATEGORY_SEPARATOR.join(p for p in path if p) for path in paths if any(path)), ""
    )
    url = str(item.get("url", "")).strip()
    return _Outline(url, _clean(str(item.get("title", ""))), category, is_feed)


def _clean(text: str) -> str:
    """Display text: NFC, no control characters, single spaces."""
    text = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in nfc(text))
    return " ".join(text.split())


# --- import: deciding ----------------------------------------------------------------------


def _skip_reason(outline: _Outline, key: str, seen: set[str], configured: dict[str, str]) -> str:
    if not outline.is_feed:
        return NOT_A_FEED
    if not _is_http(outline.url):
        return NOT_HTTP
    if key in seen:
        return DUPLICATE
    if key in configured:
        return f"already configured as feed {configured[key]!r}"
    return ""


def _new_feed(outline: _Outline, category: str | None, taken: set[str]) -> _NewFeed:
    name = (outline.title or _host(outline.url))[:MAX_NAME].rstrip()
    chosen = outline.category if category is None else _clean(category)
    return _NewFeed(_unique(feed_slug(name, outline.url), taken), name, outline.url, chosen)


def _slug(text: str) -> str:
    slug = _NOT_SLUG.sub("-", fold(text)).strip("-")
    if len(slug) > SLUG_CHARS:
        cut = slug[: SLUG_CHARS + 1]  # one more: a "-" just past the limit ends a whole word
        slug = cut.rsplit("-", 1)[0] if "-" in cut else slug[:SLUG_CHARS]
    return slug.strip("-")


def _unique(base: str, taken: set[str]) -> str:
    candidate, number = base, 2
    while candidate in taken:
        suffix = f"-{number}"
        candidate = base[: MAX_ID - len(suffix)].rstrip("-") + suffix
        number += 1
    return candidate


def _host(url: str) -> str:
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.removeprefix("www.")


def _is_http(url: str) -> bool:
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # e.g. an unclosed "[" of an IPv6 host
        return False
    return parts.scheme.lower() in _HTTP and bool(parts.hostname)


# --- import: writing -----------------------------------------------------------------------


def _append_feeds(config_text: str, feeds: Sequence[_NewFeed]) -> str:
    """The untouched text + the new tables, each after a blank line, in its line endings.

    Appending to the text rather than to tomlkit's document is deliberate: tomlkit 0.15
    puts tables appended to an AoT after the comment that opens the next section, with no
    blank line, and does not write out a file whose [[feeds]] follow [[channels]] unchanged.
    tomlkit still writes each table, so names and URLs are quoted and escaped correctly.
    """
    if not feeds:
        return config_text
    newline = "\r\n" if "\r\n" in config_text else "\n"
    trailing = config_text[len(config_text.rstrip("\r\n")) :].count("\n")
    gap = newline * (2 - min(trailing, 2)) if config_text else ""
    block = "\n".join(_feed_table(feed) for feed in feeds).replace("\n", newline)
    new_text = config_text + gap + block
    _check_appended(new_text, feeds)
    return new_text


def _feed_table(feed: _NewFeed) -> str:
    table = tomlkit.table()
    table.add("id", feed.id)
    table.add("name", feed.name)
    table.add("url", feed.url)
    if feed.category:
        table.add("category", feed.category)
    tables = tomlkit.aot()
    tables.append(table)
    document = tomlkit.document()
    document.add("feeds", tables)
    return tomlkit.dumps(document)


def _check_appended(new_text: str, feeds: Sequence[_NewFeed]) -> None:
    """Read the result as settings will (tomllib): the new feeds must be the last ones."""
    try:
        tables = tomllib.loads(new_text).get("feeds", [])
    except tomllib.TOMLDecodeError as exc:
        raise OpmlError(f"config: the file cannot take new [[feeds]] tables: {exc}") from None
    if [t.get("id") for t in tables[-len(feeds) :]] != [feed.id for feed in feeds]:
        raise OpmlError("config: the new [[feeds]] tables did not land in `feeds`")


# --- export --------------------------------------------------------------------------------


def _category_path(category: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in category.split(CATEGORY_SEPARATOR) if part.strip())


def _folder(folders: dict[tuple[str, ...], ET.Element], path: tuple[str, ...]) -> ET.Element:
    """The outline for a category path, created (with its parents) on first use."""
    for depth in range(1, len(path) + 1):
        key = path[:depth]
        if key not in folders:
            label = _xml_safe(key[-1])
            folders[key] = ET.SubElement(folders[key[:-1]], "outline", text=label, title=label)
    return folders[path]


def _xml_safe(text: str) -> str:
    return _NOT_XML.sub("", text)
