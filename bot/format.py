"""Format stage: editions and command replies as Telegram HTML or console text (pure).

Every string that came from a feed is escaped. Messages are split at article boundaries so
that each stays under Telegram's limit of 4096 characters of visible text (counted, like
Telegram does, in UTF-16 code units, so an emoji counts twice).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from bot.cluster import Story
from bot.digest import Section
from bot.models import Edition, EditionPart, StoredArticle
from bot.vietnamese import fold

MAX_MESSAGE_CHARS = 4096
# Telegram honours 100 formatting entities in a message and silently drops the rest.
MAX_ENTITIES = 99
_ENTITY_TAG = re.compile(
    r"<(?:b|strong|i|em|u|ins|s|strike|del|a|code|pre|blockquote|span|tg-spoiler)\b"
)
_TOKENS = re.compile(r"\w+|\W+")
_LINK_SCHEME = re.compile(r"https?://[^/\s]", re.IGNORECASE)
# Whitespace, C0/C1 controls and the Unicode line and paragraph separators.
_UNSAFE_IN_LINK = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Bold words in one search snippet: 5 results x (10 + link, bold title, italics) + heading
# stays under Telegram's entity limit, where more would push the results out of the reply.
MARKS_PER_SNIPPET = 10
_NON_SPACE = re.compile(r"\S")
WEEKDAYS = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật")


@dataclass(frozen=True)
class Block:
    """A piece of a message in both renderings: the markup and the text Telegram shows."""

    markup: str
    visible: str
    article_ids: tuple[int, ...] = ()
    url: str | None = None
    heading: bool = False  # a section title: never the last block of a message

    def as_text(self) -> Block:
        """The console rendering: what Telegram would show, with the link spelled out."""
        text = f"{self.visible}\n{self.url}" if self.url else self.visible
        return Block(text, text, self.article_ids, heading=self.heading)

    @property
    def entities(self) -> int:
        return len(_ENTITY_TAG.findall(self.markup))


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def escape(text: str) -> str:
    return html.escape(text, quote=True)


def link_target(url: str | None) -> str | None:
    """A feed's link made safe to put in href, or None when it cannot be a link.

    Telegram refuses the whole message over one bad href (a line break inside it, as a
    feed's link can carry), so whitespace and control characters are percent-encoded, and
    anything but http(s) is shown without a link.
    """
    if not url:
        return None
    url = url.strip()
    if _LINK_SCHEME.match(url) is None:
        return None
    return _UNSAFE_IN_LINK.sub(lambda m: quote(m.group(), safe=""), url)


def _href(url: str) -> str:
    return f'<a href="{escape(url)}">'


def vietnamese_date(moment: datetime) -> str:
    """ "Thứ Sáu, 27/11/2026" """
    return f"{WEEKDAYS[moment.weekday()]}, {moment:%d/%m/%Y}"


def edition_title(moment: datetime, name: str | None = None) -> str:
    """ "Bản tin sáng · Thứ Bảy, 28/11/2026", or "Bản tin 19:00 · …" for a plain schedule
    time; `moment` is in the channel's local time."""
    return f"{name or f'Bản tin {moment:%H:%M}'} · {vietnamese_date(moment)}"


def _headline(article: StoredArticle) -> str:
    title = escape(article.title)
    url = link_target(article.url)
    if not url:
        return f"<b>{title}</b>"
    return f"<b>{_href(url)}{title}</a></b>"


def article_block(article: StoredArticle, outlet: str, tz: ZoneInfo, *, dated: bool) -> Block:
    """Headline as a bold link, the summary, then the outlet (and the local date for replies)."""
    headline = _headline(article)
    source = outlet
    if dated:
        source += f" · {article.shown_at.astimezone(tz):%H:%M %d/%m/%Y}"
    markup = [headline]
    visible = [article.title]
    if article.summary:
        markup.append(escape(article.summary))
        visible.append(article.summary)
    markup.append(f"<i>{escape(source)}</i>")
    visible.append(source)
    return Block("\n".join(markup), "\n".join(visible), (article.id,), link_target(article.url))


def highlight(
    text: str,
    folded_words: frozenset[str],
    max_chars: int = 220,
    max_marks: int = MARKS_PER_SNIPPET,
) -> str:
    """Escaped text with the query's words in bold (the first `max_marks` of them), cut to
    a window around the first one."""
    tokens = _TOKENS.findall(text)
    hits = [i for i, t in enumerate(tokens) if t[0].isalnum() and fold(t) in folded_words]
    marked = set(hits)
    start = 0
    if hits and sum(len(t) for t in tokens[: hits[0]]) > max_chars // 2:
        start = hits[0]
        while start > 0 and sum(len(t) for t in tokens[start : hits[0]]) < max_chars // 3:
            start -= 1
    pieces: list[str] = ["…"] if start else []
    used = 0
    for index in range(start, len(tokens)):
        token = tokens[index]
        used += len(token)
        if used > max_chars:
            pieces.append("…")
            break
        bold = index in marked and max_marks > 0
        max_marks -= bold
        pieces.append(f"<b>{escape(token)}</b>" if bold else escape(token))
    return "".join(pieces).strip()


def search_result_block(
    article: StoredArticle, outlet: str, tz: ZoneInfo, folded_words: frozenset[str]
) -> Block:
    """A search hit: headline link, outlet and local date, and a snippet with words in bold."""
    block = article_block(article, outlet, tz, dated=True)
    if not article.summary:
        return block
    title_line, _, rest = block.markup.partition("\n")
    source_line = rest.rsplit("\n", 1)[-1]
    snippet = highlight(article.summary, folded_words)
    return Block(
        f"{title_line}\n{snippet}\n{source_line}", block.visible, block.article_ids, block.url
    )


def heading_block(text: str) -> Block:
    return Block(f"<b>{escape(text)}</b>", text)


def pack(blocks: Sequence[Block], *, continued: Block | None = None) -> list[EditionPart]:
    """Join blocks into messages under the length and entity limits, never splitting one.

    `continued` heads every message after the first; a section title never ends a message
    (it moves on with the story it introduces).
    """
    parts: list[EditionPart] = []
    current: list[Block] = []
    for block in blocks:
        candidate = [*current, block]
        if current and not _fits(candidate):
            carried: list[Block] = []
            while len(current) > 1 and current[-1].heading:
                carried.insert(0, current.pop())
            parts.append(_part(current))
            current = [*([continued] if continued else []), *carried, block]
        else:
            current = candidate
    if current:
        parts.append(_part(current))
    return parts


def _fits(blocks: Sequence[Block]) -> bool:
    visible = utf16_len("\n\n".join(b.visible for b in blocks))
    return visible <= MAX_MESSAGE_CHARS and sum(b.entities for b in blocks) <= MAX_ENTITIES


def _part(blocks: Sequence[Block]) -> EditionPart:
    ids = tuple(i for b in blocks for i in b.article_ids)
    return EditionPart(text="\n\n".join(b.markup for b in blocks), article_ids=ids)


def story_block(story: Story, outlets: Mapping[str, str]) -> Block:
    """A story: the main article's block, then "+2 nguồn: Tuổi Trẻ, Thanh Niên" as links."""
    main = story.main
    headline = _headline(main)
    outlet = outlets.get(main.feed_id, main.feed_id)
    markup, visible = [headline], [main.title]
    if main.summary:
        markup.append(escape(main.summary))
        visible.append(main.summary)
    source_markup, source_visible = f"<i>{escape(outlet)}</i>", outlet
    if story.others:
        names = [outlets.get(o.feed_id, o.feed_id) for o in story.others]
        targets = [link_target(o.url) for o in story.others]
        links = [
            f"{_href(url)}{escape(n)}</a>" if url else escape(n)
            for url, n in zip(targets, names, strict=True)
        ]
        source_markup += f" · +{len(names)} nguồn: " + ", ".join(links)
        source_visible += f" · +{len(names)} nguồn: " + ", ".join(names)
    markup.append(source_markup)
    visible.append(source_visible)
    # Versions from outlets already shown are part of the story too: recorded, not posted.
    ids = (main.id, *(o.id for o in story.others), *(d.id for d in story.duplicates))
    return Block("\n".join(markup), "\n".join(visible), ids, link_target(main.url))


def section_block(name: str) -> Block:
    return Block(f"<b>▍{escape(name.upper())}</b>", f"▍{name.upper()}", heading=True)


def render_edition(
    destination: str,
    title: str,
    sections: Sequence[Section],
    outlets: Mapping[str, str],
    planned_at: datetime,
    *,
    as_text: bool = False,
    preview: bool = False,
) -> Edition:
    """An edition as Telegram HTML messages (or plain text for the console).

    Section titles are shown when the stories come from more than one section. With
    `preview`, the first message shows the top story's link preview large above the text.
    No stories gives an edition with no parts, which is never recorded nor sent.
    """
    if not any(s.stories for s in sections):
        return Edition(destination=destination, title=title, planned_at=planned_at)
    blocks = [heading_block(title)]
    titled = len(sections) > 1
    for section in sections:
        if titled:
            blocks.append(section_block(section.name or "Tin khác"))
        blocks += [story_block(story, outlets) for story in section.stories]
    continued = heading_block(f"{title} (tiếp)")
    if as_text:
        blocks, continued = [b.as_text() for b in blocks], continued.as_text()
    parts = pack(blocks, continued=continued)
    top = link_target(sections[0].stories[0].main.url) if sections[0].stories else None
    if preview and top and not as_text:
        parts[0] = replace(parts[0], preview_url=top)
    return Edition(destination=destination, title=title, planned_at=planned_at, parts=tuple(parts))


BREAKING_TITLE = "🔴 Tin nóng"


def render_breaking(
    destination: str,
    story: Story,
    outlets: Mapping[str, str],
    planned_at: datetime,
    *,
    as_text: bool = False,
    preview: bool = False,
) -> Edition:
    """Breaking news as one message: the header, then the story as editions show it (its
    best summary, its outlet and the other outlets' links)."""
    section = Section(name="", stories=(story,))
    return render_edition(
        destination, BREAKING_TITLE, [section], outlets, planned_at, as_text=as_text,
        preview=preview,
    )  # fmt: skip


def search_page_message(
    heading: str,
    articles: Sequence[StoredArticle],
    outlets: Mapping[str, str],
    tz: ZoneInfo,
    folded_words: frozenset[str],
) -> str:
    """One page of search results as one message."""
    blocks = [heading_block(heading)] + [
        search_result_block(a, outlets.get(a.feed_id, a.feed_id), tz, folded_words)
        for a in articles
    ]
    return pack(blocks)[0].text


def reply_message(
    heading: str,
    articles: Sequence[StoredArticle],
    outlets: Mapping[str, str],
    tz: ZoneInfo,
) -> str:
    """A command reply listing articles: the first message of what `pack` gives."""
    blocks = [heading_block(heading)] + [
        article_block(a, outlets.get(a.feed_id, a.feed_id), tz, dated=True) for a in articles
    ]
    return pack(blocks)[0].text


def split_plain(text: str, limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """Plain text in pieces under the limit, cut between paragraphs, else between words.

    Lengths are added up as the text is read, and a long paragraph is cut by position:
    measuring or copying what is left at every step grew with the square of the text.
    """
    pieces: list[str] = []
    current: list[str] = []  # paragraphs of the piece being filled
    size = 0  # its length in UTF-16 units; 0 exactly when it holds no text yet
    for paragraph in text.split("\n"):
        length = utf16_len(paragraph)
        joined = size + 1 + length if size else length
        if joined <= limit:
            if not size:
                current = []  # blank lines before any text are dropped
            current.append(paragraph)
            size = joined
            continue
        if size:
            pieces.append("\n".join(current))
        start = 0
        while length > limit:
            window = paragraph[start : start + limit // 2]
            cut = window.rsplit(" ", 1)[0] or window
            pieces.append(cut)
            text_after = _NON_SPACE.search(paragraph, start + len(cut))
            end = text_after.start() if text_after else len(paragraph)
            length -= utf16_len(paragraph[start:end])
            start = end
        current, size = [paragraph[start:]], length
    if size:
        pieces.append("\n".join(current))
    return pieces
