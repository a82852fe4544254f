"""Summarize stage: the short text shown under each headline.

For now the outlet's own sapo (the feed description, cleaned), cut at a word boundary.
"""

from __future__ import annotations

from bot.vietnamese import match_key

SUMMARY_CHARS = 280
_TRAILING = " ,;:-–—"


def summarize(text: str, *, title: str, max_chars: int = SUMMARY_CHARS) -> str:
    """The first ~max_chars of the text, ending at a word boundary with "…" when cut.

    A description that only repeats the title is no summary at all.
    """
    text = " ".join(text.split())
    if not text or (title and match_key(text).rstrip(".") == match_key(title).rstrip(".")):
        return ""
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars - 1]
    if " " in cut and text[max_chars - 1] != " ":
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(_TRAILING) + "…"
