"""HTML to readable text with a real HTML parser (lexbor, through selectolax). Pure.

Paragraph-level elements become line breaks, so later stages can treat them as sentence
boundaries; scripts, styles and captions are dropped; entities come out decoded; NFC.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser

from bot.vietnamese import nfc

# Elements whose text is never article text.
_DROPPED = ["script", "style", "noscript", "iframe", "object", "svg", "template", "figcaption"]
# Elements that end a line: their boundaries become paragraph breaks.
_BLOCKS = "p,div,br,li,ul,ol,h1,h2,h3,h4,h5,h6,tr,blockquote,figure,section,article,table"
_SPACES = re.compile(r"[^\S\n]+")
_NEWLINES = re.compile(r"\s*\n\s*")


def html_to_text(markup: str) -> str:
    """Readable text of an HTML fragment: tags gone, entities decoded, one line a paragraph."""
    if "<" not in markup and "&" not in markup:
        return collapse_whitespace(nfc(markup))
    tree = LexborHTMLParser(markup)
    for node in tree.css(",".join(_DROPPED)):
        node.decompose()
    for node in tree.css(_BLOCKS):
        node.insert_before("\n")
        node.insert_after("\n")
    body = tree.body
    text = body.text(separator="") if body is not None else ""
    return collapse_whitespace(nfc(text))


def collapse_whitespace(text: str) -> str:
    """Runs of spaces become one space; runs of blank lines become one line break."""
    text = _SPACES.sub(" ", text.replace("\u00a0", " ").replace("\u200b", ""))
    return _NEWLINES.sub("\n", text).strip()


def html_to_text_with_links(markup: str) -> str:
    """Like html_to_text, but each link's address follows its text: for terminals."""
    tree = LexborHTMLParser(markup)
    for node in tree.css("a[href]"):
        node.insert_after(f"\n{node.attributes.get('href')}")
    body = tree.body
    return html_to_text(body.html or "" if body is not None else "")
