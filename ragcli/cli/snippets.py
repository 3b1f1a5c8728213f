"""The part of a chunk a result shows: the window with the most query-term evidence.

Terms are words stemmed as ``ragcli.text`` stems them, without its function words (the
BM25 stopword list would import bm25s into every search), so a snippet shows the passage
the query matched, not the chunk's first line. Windows
start at a sentence or at a little before a matching word, end on a sentence or word
boundary, and are marked with an ellipsis where text was cut.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ragcli.text import FUNCTION_WORDS, stem_words

_WORD = re.compile(r"(?u)\b\w\w+\b")
_SENTENCE_START = re.compile(r"(?:^|(?<=[.!?:;])\s+|\n\s*)(?=\S)")
ELLIPSIS = "…"
LEAD = 60  # characters of context kept before a matching word that starts a window


@dataclass(frozen=True)
class Snippet:
    start: int  # offsets into the chunk's text
    end: int
    text: str  # whitespace flattened, with ellipses where cut

    def to_dict(self) -> dict[str, object]:
        return {"start": self.start, "end": self.end, "text": self.text}


def snippet(text: str, query: str, width: int = 300) -> Snippet:
    """The window of at most ``width`` characters of ``text`` that holds the most
    distinct query terms (then the most matches, then the earliest)."""
    if len(text) <= width:
        return Snippet(0, len(text), _flat(text))
    matches = _matches(text, {term for _, term in _terms(query)})
    windows = [(start, _cut_end(text, start, width)) for start in _starts(text, matches)]
    best, end = max(windows, key=lambda w: (*_evidence(matches, *w), -w[0]))
    shown = _flat(text[best:end])
    return Snippet(
        best,
        end,
        (ELLIPSIS if best > 0 else "") + shown + (ELLIPSIS if end < len(text) else ""),
    )


def _flat(text: str) -> str:
    return " ".join(text.split())


def _terms(text: str) -> list[tuple[int, str]]:
    """(offset, stem) of each word of ``text`` that is not a function word."""
    words = [(m.start(), m.group().lower()) for m in _WORD.finditer(text)]
    words = [(at, word) for at, word in words if word not in FUNCTION_WORDS]
    stems = stem_words([word for _, word in words])
    return [(at, stem) for (at, _), stem in zip(words, stems, strict=True)]


def _matches(text: str, terms: set[str]) -> list[tuple[int, str]]:
    """(offset, term) of every word of ``text`` that is one of the query's ``terms``."""
    return [(at, term) for at, term in _terms(text) if term in terms] if terms else []


def _starts(text: str, matches: list[tuple[int, str]]) -> list[int]:
    sentences = [m.end() for m in _SENTENCE_START.finditer(text)]
    before_match = [_lead_in(text, at, sentences) for at, _ in matches]
    return sorted({0, *sentences, *before_match} - {len(text)})


def _lead_in(text: str, at: int, sentences: list[int]) -> int:
    """A start shortly before the word at ``at``: its sentence's start when that is
    near, else a word ``LEAD`` characters back."""
    near = [start for start in sentences if at - 2 * LEAD <= start <= at]
    return near[-1] if near else _word_start(text, max(0, at - LEAD))


def _evidence(matches: list[tuple[int, str]], start: int, end: int) -> tuple[int, int]:
    inside = [term for at, term in matches if start <= at < end]
    return len(set(inside)), len(inside)


def _word_start(text: str, at: int) -> int:
    """``at`` moved forward to the start of a word (it stays if it already is one)."""
    if at == 0 or text[at - 1].isspace():
        return at
    space = re.compile(r"\s").search(text, at)
    return space.end() if space else at


def _cut_end(text: str, start: int, width: int) -> int:
    """Where a window from ``start`` ends: at the last sentence end in its last third,
    else at the last word boundary, within ``width`` characters."""
    limit = start + width
    if limit >= len(text):
        return len(text)
    window = text[start:limit]
    sentence_ends = [m.end() for m in re.finditer(r"[.!?](?=\s)", window)]
    if sentence_ends and sentence_ends[-1] >= width * 2 // 3:
        return start + sentence_ends[-1]
    space = window.rfind(" ")
    return start + space if space > 0 else limit
