"""What the public site shows, as plain data: an edition's Telegram HTML turned into page
blocks, and a channel's editions as an Atom feed and a JSON Feed.

The site shows exactly what the channel was sent. Its markup comes from bot.format, which
escapes every piece of feed text (`html.escape`) and adds only <b>, <i> and <a href="…">;
here that markup is passed through a whitelist again, so even a part written by something
else could only ever show as text, never as markup. Pure: no I/O.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from feedgen.feed import FeedGenerator

from bot.format import vietnamese_date
from bot.models import PublishedEdition

# The tags bot.format writes, exactly as it writes them; anything else is shown as text.
_TAG = re.compile(r'(<b>|</b>|<i>|</i>|<a href="[^"<>]*">|</a>)')
_ANY_TAG = re.compile(r"<[^>]*>")
_SECTION_MARK = "▍"
_CONTINUED = " (tiếp)"


@dataclass(frozen=True)
class Story:
    """One story of an edition: its headline line, summary lines and source line (HTML)."""

    headline: str
    lines: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class Section:
    """A section title and its stories (an edition without sections has one, untitled)."""

    title: str
    stories: tuple[Story, ...]


def safe_markup(telegram_html: str) -> str:
    """Telegram HTML as web HTML: bot.format's own tags kept, any other '<' or '>' escaped."""
    pieces = _TAG.split(telegram_html)
    out = []
    for index, piece in enumerate(pieces):
        if index % 2:  # a whitelisted tag (split keeps the separators at odd positions)
            out.append(piece)
        else:
            out.append(piece.replace("<", "&lt;").replace(">", "&gt;"))
    return "".join(out)


def visible_text(telegram_html: str) -> str:
    """What a reader sees of the markup: tags dropped, entities decoded."""
    return html.unescape(_ANY_TAG.sub("", telegram_html))


def edition_sections(parts: Sequence[str]) -> list[Section]:
    """The sent parts of an edition as sections of stories, in the order they were sent."""
    sections: list[Section] = []
    title, stories = "", list[Story]()
    for part in parts:
        blocks = part.split("\n\n")
        for index, block in enumerate(blocks):
            lines = block.split("\n")
            text = visible_text(block)
            if len(lines) == 1 and block.startswith("<b>") and "<a " not in block:
                if text.startswith(_SECTION_MARK):
                    if stories:
                        sections.append(Section(title, tuple(stories)))
                    title, stories = text.removeprefix(_SECTION_MARK).strip(), []
                    continue
                if index == 0:
                    continue  # the edition's title (or "… (tiếp)"): the page has its own
            stories.append(_story([safe_markup(line) for line in lines]))
    if stories:
        sections.append(Section(title, tuple(stories)))
    return sections


def _story(lines: list[str]) -> Story:
    if len(lines) == 1:
        return Story(lines[0], (), "")
    return Story(lines[0], tuple(lines[1:-1]), lines[-1])


def edition_summary(edition: PublishedEdition, limit: int = 200) -> str:
    """A line for link previews and feeds: the first headlines, as text."""
    headlines = [
        visible_text(story.headline)
        for section in edition_sections(edition.parts)
        for story in section.stories
    ]
    text = " · ".join(headlines)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def local_date(moment: datetime, tz: ZoneInfo) -> str:
    """ "Thứ Sáu, 27/11/2026 07:00" in the bot's time zone."""
    local = moment.astimezone(tz)
    return f"{vietnamese_date(local)} {local:%H:%M}"


def edition_html(edition: PublishedEdition) -> str:
    """The edition's stories as one HTML fragment, for feed readers."""
    out = []
    for section in edition_sections(edition.parts):
        if section.title:
            out.append(f"<h2>{html.escape(section.title)}</h2>")
        for story in section.stories:
            lines = "<br>".join(story.lines)
            out.append(
                f"<h3>{story.headline}</h3>"
                + (f"<p>{lines}</p>" if lines else "")
                + (f"<p>{story.source}</p>" if story.source else "")
            )
    return "\n".join(out)


@dataclass(frozen=True)
class ChannelFeed:
    """What both feed formats need: the channel, its addresses and its newest editions."""

    chat: str
    title: str
    page_url: str  # absolute: /kenh/<chat>
    feed_url: str  # absolute: this feed's own address
    edition_url: str  # absolute, with "{id}" for the edition's id
    editions: Sequence[PublishedEdition]


def atom_feed(feed: ChannelFeed) -> bytes:
    """The channel's editions as Atom (RFC 4287), newest first."""
    generator = FeedGenerator()
    generator.id(feed.page_url)
    generator.title(feed.title)
    generator.link(href=feed.page_url, rel="alternate")
    generator.link(href=feed.feed_url, rel="self")
    generator.language("vi")
    generator.generator("Bản tin")
    if feed.editions:
        generator.updated(feed.editions[0].planned_at)
    # feedgen prepends each entry, so add the oldest first to keep newest-first order.
    for edition in reversed(feed.editions):
        url = feed.edition_url.format(id=edition.id)
        entry = generator.add_entry()
        entry.id(url)
        entry.title(edition.title)
        entry.link(href=url)
        entry.updated(edition.planned_at)
        entry.published(edition.planned_at)
        entry.summary(edition_summary(edition))
        entry.content(edition_html(edition), type="html")
    return bytes(generator.atom_str(pretty=True))


def json_feed(feed: ChannelFeed) -> bytes:
    """The channel's editions as JSON Feed 1.1 (jsonfeed.org), newest first."""
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": feed.title,
        "home_page_url": feed.page_url,
        "feed_url": feed.feed_url,
        "language": "vi",
        "items": [
            {
                "id": feed.edition_url.format(id=edition.id),
                "url": feed.edition_url.format(id=edition.id),
                "title": edition.title,
                "summary": edition_summary(edition),
                "content_html": edition_html(edition),
                "date_published": edition.planned_at.isoformat(),
            }
            for edition in feed.editions
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=1).encode()


def channel_title(chat: str) -> str:
    return f"Bản tin {chat}"
