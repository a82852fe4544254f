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
# Elements nested deeper than this are flattened before parsing (browsers stop nesting at
# 512; feed fragments nest a dozen deep, whole pages some forty). The HTML tree builder
# walks the stack of open elements at most tags, so its time grows with the square of the
# depth: 20,000 nested <div>s took 0.4 s, and a few MB of them would keep a core busy
# for hours.
MAX_NESTING = 256
_TAG = re.compile(r"<(/?)([A-Za-z][^\s/<>]*)[^<>]*>?")
_VOID = frozenset("area base br col embed hr img input link meta source track wbr".split())
_BLOCK_NAMES = frozenset(_BLOCKS.split(","))


def html_to_text(markup: str) -> str:
    """Readable text of an HTML fragment: tags gone, entities decoded, one line a paragraph."""
    if "<" not in markup and "&" not in markup:
        return collapse_whitespace(nfc(markup))
    tree = LexborHTMLParser(limit_nesting(markup))
    for node in tree.css(",".join(_DROPPED)):
        node.decompose()
    for node in tree.css(_BLOCKS):
        node.insert_before("\n")
        node.insert_after("\n")
    body = tree.body
    text = body.text(separator="") if body is not None else ""
    return collapse_whitespace(nfc(text))


def limit_nesting(markup: str) -> str:
    """The markup with start tags beyond MAX_NESTING open elements removed.

    Counts the way that can only overestimate the parser's depth: every start tag opens an
    element, and an end tag closes one only when it names the innermost. Markup with fewer
    tags than the limit is returned as it is; so is any that never nests that deep. A
    removed block start becomes <br>, so its line break stays.
    """
    if markup.count("<") <= MAX_NESTING:
        return markup
    stack: list[str] = []
    pieces: list[str] = []
    copied = 0
    for tag in _TAG.finditer(markup):
        is_end, name = tag.group(1), tag.group(2).lower()
        if name in _VOID:
            continue
        if is_end:
            if stack and stack[-1] == name:
                stack.pop()
        elif len(stack) < MAX_NESTING:
            stack.append(name)
        else:
            pieces += [markup[copied : tag.start()], "<br>" if name in _BLOCK_NAMES else ""]
            copied = tag.end()
    return "".join([*pieces, markup[copied:]]) if pieces else markup


def collapse_whitespace(text: str) -> str:
    """Runs of spaces become one space; runs of blank lines become one line break."""
    text = _SPACES.sub(" ", text.replace("\u00a0", " ").replace("\u200b", ""))
    return _NEWLINES.sub("\n", text).strip()


def html_to_text_with_links(markup: str) -> str:
    """Like html_to_text, but each link's address follows its text: for terminals."""
    tree = LexborHTMLParser(limit_nesting(markup))
    for node in tree.css("a[href]"):
        node.insert_after(f"\n{node.attributes.get('href')}")
    body = tree.body
    return html_to_text(body.html or "" if body is not None else "")


# --- scraped debris -------------------------------------------------------------------------
# What scrapers and feeds glue around an article's text. Each rule cites the shape it removes.

# "anh-1.jpg)" and similar stubs left where an image was ("![...](…/x.jpg)" half-parsed).
_IMAGE_STUB = re.compile(r"\.(?:jpe?g|png|gif|webp|avif)\)?\s*$", re.IGNORECASE)
_ONLY_PUNCTUATION = re.compile(r"^[\W_]+$")
# Photo credits and captions markers: "Ảnh: TTXVN", "(Ảnh minh họa)", "Ảnh minh hoạ: Internet".
_CREDIT_LINE = re.compile(
    r"^\(?\s*(?:ảnh|nguồn ảnh|video|clip|đồ họa|đồ hoạ|infographic)"
    r"(?:\s+minh\s+(?:họa|hoạ))?\s*(?::|\)|$)",
    re.IGNORECASE,
)
# The look-behind starts a match only where a run of spaces starts: retried from inside a
# long run, `\s*` would scan the rest of the run again each time.
_INLINE_CREDIT = re.compile(
    r"(?<!\s)\s*\((?:ảnh|nguồn|video|đồ họa|đồ hoạ)(?:\s+minh\s+(?:họa|hoạ))?(?::[^()]{0,80})?\)",
    re.IGNORECASE,
)
# Headers after which a page lists other stories, never article text.
_RELATED_HEADER = re.compile(
    r"^(?:xem thêm|tin liên quan|bài liên quan|tin cùng chuyên mục|đọc thêm|tin khác|"
    r"video đang được xem nhiều|tin nổi bật|có thể bạn quan tâm|bài viết liên quan|"
    r"tin mới nhất|tin đọc nhiều)\b\s*[:>»]?",
    re.IGNORECASE,
)
# Bylines: "Theo TTXVN", "Nhóm PV", "Bài và ảnh: Minh Anh", "PV", "Thu Hà - Minh Anh".
# The name words are possessive (*+, ?+): with plain `\w*\s?` a name could be cut into
# words anywhere, and "A - AAAA…!" tried every cut (2 s at 200 letters, years at 1,000).
# Capitals are word characters and a name word is followed by a space or nothing, so
# taking the whole run never loses a match.
_BYLINE = re.compile(
    r"^(?:theo\s+\S.{0,40}|nhóm pv|pv|ctv|bài(?:\s+và\s+ảnh)?\s*:.{0,60}|"
    r"(?:[A-ZĐÀ-Ỹ][\wÀ-ỹ]*+\s){0,3}[A-ZĐÀ-Ỹ][\wÀ-ỹ]*+\s*+[-–]\s*"
    r"(?:[A-ZĐÀ-Ỹ][\wÀ-ỹ]*+\s?+){1,4})$",
)
MAX_BYLINE_WORDS = 8
_TERMINAL = '.!?…"”’»)'
# "(BLC) - ", "TTO - ", "(Dân trí) - ", "VOV.VN - ": an outlet's dateline tag before the sapo.
# A tag is in parentheses or all capitals, so "Hà Nội - Hải Phòng …" is left alone.
_OUTLET_TAG = re.compile(r"^(?:\([^()\n]{2,24}\)|[A-ZĐ][A-ZĐ0-9.]{1,14})\s*[-–—]\s+(?=\S)")


def clean_article_text(text: str) -> str:
    """Article text without scraped debris: one paragraph a line.

    Drops image stubs and the caption right after them, lone punctuation, photo credits,
    bylines, "Xem thêm"/"Tin liên quan" blocks (and everything after them), and the run of
    other headlines that pages glue after the article (lines with no closing punctuation).
    """
    kept: list[str] = []
    after_image = False
    for raw in text.split("\n"):
        line = _INLINE_CREDIT.sub("", raw).strip()
        if not line:
            continue
        if _RELATED_HEADER.match(line):
            break
        if _IMAGE_STUB.search(line):
            after_image = True
            continue
        if after_image and len(line.split()) <= 30:
            after_image = False  # the caption under the image
            continue
        after_image = False
        if _ONLY_PUNCTUATION.match(line) or _CREDIT_LINE.match(line):
            continue
        if len(line.split()) <= MAX_BYLINE_WORDS and _BYLINE.match(line):
            continue
        kept.append(line)
    while kept and not kept[-1].endswith(tuple(_TERMINAL)) and len(kept) > 1:
        kept.pop()  # a headline list after the article: titles carry no closing punctuation
    return "\n".join(kept)


def strip_outlet_tag(text: str) -> str:
    """ "(BLC) - Chiều 23/6, …" → "Chiều 23/6, …"; the tag says nothing to a reader."""
    return _OUTLET_TAG.sub("", text, count=1)
