"""Summarize stage: one or two clean sentences that carry the point of an article (pure).

Extractive and lead-biased, because Vietnamese news states its point first. Each sentence
is scored on four things:

* position: earlier is better, fading quickly after the first paragraph;
* overlap with the title: the headline names what the story is about;
* centrality: how much of the article's recurring vocabulary the sentence holds;
* length: fragments and run-on lists are poor summaries.

The best sentences are taken while they fit `max_sentences` and `max_chars`, and shown in
the article's order. A sentence too long on its own is cut at a word boundary with "…".
A summary never repeats the title.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from bot.text import clean_article_text, strip_outlet_tag
from bot.vietnamese import FUNCTION_WORDS, match_key, split_sentences, words

SUMMARY_SENTENCES = 2
SUMMARY_CHARS = 280
MIN_SAPO_WORDS = 8
# How much of an article's text is kept, from the feed or from its page: summaries are
# lead-biased, so the first paragraphs are enough.
MAX_TEXT_CHARS = 4000
# Weights chosen on VietNews dev (bench/summaries.py); results sit on a broad plateau
# around these values, so they are not tuned to the last decimal.
POSITION_WEIGHT, TITLE_WEIGHT, CENTRALITY_WEIGHT = 1.0, 3.0, 0.3
_TRAILING = " ,;:-–—"
# Function words carry no topic; leaving them out makes overlap mean something. "Người"
# (person) is no function word, but it is in so much news that counting it blurs overlap:
# on VietNews dev, counting it costs 0.2 ROUGE-1 (bench/summaries.py).
_STOPWORDS = FUNCTION_WORDS | {"người"}


@dataclass(frozen=True)
class _Sentence:
    index: int
    text: str
    terms: frozenset[str]


def content_terms(text: str) -> list[str]:
    """Lowercase, tone-normalised words that are not function words."""
    return [w for w in words(match_key(text)) if w not in _STOPWORDS and not w.isdigit()]


def summarize(
    text: str,
    *,
    title: str,
    max_sentences: int = SUMMARY_SENTENCES,
    max_chars: int = SUMMARY_CHARS,
) -> str:
    """The summary of an article's text (plain text, or several paragraphs one a line)."""
    sentences = _sentences(text, title)
    if not sentences:
        return ""
    if len(sentences) == 1:  # most sapos: nothing to choose between
        return cut_at_word(sentences[0].text, max_chars)
    chosen = _choose(sentences, title, max_sentences, max_chars)
    summary = " ".join(s.text for s in chosen)
    return summary if len(summary) <= max_chars else cut_at_word(summary, max_chars)


def is_real_sapo(text: str, title: str) -> bool:
    """Is a feed description a usable lead (a real sentence), not a stub or the title again?"""
    sentences = _sentences(text, title)
    return any(len(s.text.split()) >= MIN_SAPO_WORDS for s in sentences)


def cut_at_word(text: str, max_chars: int) -> str:
    """At most max_chars, ending at a word boundary with "…"."""
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars - 1]
    if " " in cut and text[max_chars - 1] != " ":
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(_TRAILING) + "…"


def _sentences(text: str, title: str) -> list[_Sentence]:
    cleaned = clean_article_text(text)
    title_key = " ".join(words(match_key(title)))
    result: list[_Sentence] = []
    for raw in split_sentences(cleaned):
        sentence = strip_outlet_tag(raw) if not result else raw
        if len(sentence.split()) < 3:
            continue
        if title_key and " ".join(words(match_key(sentence))) == title_key:
            continue  # the title again
        result.append(_Sentence(len(result), sentence, frozenset(content_terms(sentence))))
    return result


def _choose(
    sentences: Sequence[_Sentence], title: str, max_sentences: int, max_chars: int
) -> list[_Sentence]:
    scores = _scores(sentences, title)
    ranked = sorted(sentences, key=lambda s: scores[s.index], reverse=True)
    chosen = [ranked[0]]
    used = len(ranked[0].text)
    for candidate in ranked[1:]:
        if len(chosen) >= max_sentences:
            break
        if used + 1 + len(candidate.text) > max_chars:
            continue
        if any(_overlap(candidate, other) > 0.6 for other in chosen):
            continue  # says the same again
        chosen.append(candidate)
        used += 1 + len(candidate.text)
    return sorted(chosen, key=lambda s: s.index)


def _scores(sentences: Sequence[_Sentence], title: str) -> list[float]:
    title_terms = set(content_terms(title))
    frequency = Counter(term for s in sentences for term in s.terms)
    recurring = {t: n for t, n in frequency.items() if n > 1}
    top = max(recurring.values(), default=1)
    scores = []
    for s in sentences:
        position = 1.0 / math.sqrt(1 + s.index)
        title_overlap = len(s.terms & title_terms) / len(title_terms) if title_terms else 0.0
        centrality = (
            sum(recurring.get(t, 0) for t in s.terms) / (top * math.sqrt(len(s.terms)))
            if s.terms
            else 0.0
        )
        length = len(s.text.split())
        fit = 1.0 if 10 <= length <= 50 else (0.5 if length < 10 else 0.8)
        weighted = (
            POSITION_WEIGHT * position
            + TITLE_WEIGHT * title_overlap
            + CENTRALITY_WEIGHT * centrality
        )
        scores.append(weighted * fit)
    return scores


def _overlap(a: _Sentence, b: _Sentence) -> float:
    if not a.terms or not b.terms:
        return 0.0
    return len(a.terms & b.terms) / min(len(a.terms), len(b.terms))
