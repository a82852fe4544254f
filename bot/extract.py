"""Extract stage: an article page's main text, with trafilatura (pure, CPU-bound).

Used when a feed gives no real sapo. Callers run it off the event loop. Navigation,
comments, tables and boilerplate are left out; paragraphs come one a line.
"""

from __future__ import annotations

import trafilatura

from bot.summarize import MAX_TEXT_CHARS
from bot.text import html_to_text
from bot.vietnamese import nfc


def extract_main_text(page: str | bytes, url: str | None = None) -> str:
    """The article's text from a full HTML page; "" when nothing article-like is found."""
    text = trafilatura.extract(
        page,
        url=url,
        favor_precision=True,
        include_comments=False,
        include_tables=False,
        include_images=False,
        deduplicate=True,
    )
    return nfc(text or "")[:MAX_TEXT_CHARS]


def document_text(document: str) -> str:
    """Text of what a user hands the `summarize` command: a page, an HTML fragment or text."""
    lowered = document[:2000].lower()
    if "<html" in lowered or "<body" in lowered or "<article" in lowered:
        extracted = extract_main_text(document)
        if extracted:
            return extracted
    if "<" in document:
        return html_to_text(document)
    return nfc(document)
