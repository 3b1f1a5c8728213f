"""Token-aware chunking with the embedding model's own tokenizer.

Chunks are measured in the word pieces of the embedding model, so no chunk is silently
truncated when it is embedded (all-MiniLM-L6-v2 reads at most 256 word pieces including
``[CLS]``/``[SEP]``). The text of every chunk is an exact slice of its document's text:
``doc.text[chunk.start:chunk.end] == chunk.text``.

Only the ``tokenizers`` library is used (no transformers, no torch), so chunking starts
fast. Texts are tokenised in batches with ``encode_batch``; the token offsets map token
windows back to character spans.

How a section is cut: a window of ``chunk_size`` tokens ends at the best boundary found
in its last 30% (paragraph break > line break > sentence end > whitespace > punctuation
between words), never inside a word piece and only inside a word when no word boundary
is there (one very long word). The next window starts about ``overlap`` tokens before
the previous end, moved forward to a sentence start when one is near, else to a word
start. Chunks never cross a ``Section``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

from ragcli.errors import UsageError
from ragcli.types import Chunk, Document, Location, Section
from ragcli.weights import unbounded_tokenizer

if TYPE_CHECKING:
    from tokenizers import Encoding, Tokenizer

# The model adds [CLS] and [SEP] around every input.
SPECIAL_TOKENS = 2

# Boundary strength of a cut between two tokens; higher is better.
_MID_WORD = 0  # between two word pieces of one word: last resort only
_PUNCT = 1  # word boundary without whitespace ("foo-bar", "end,", CJK characters)
_SPACE = 2  # whitespace between words
_SENTENCE = 3  # after . ! ? followed by whitespace (or a CJK full stop)
_LINE = 4  # a line break
_PARAGRAPH = 5  # a blank line

_SENTENCE_END = frozenset(".!?")
_CJK_SENTENCE_END = frozenset("。！？｡")
_CLOSERS = frozenset("\"')]}”’»")

# Part of the window, from its end, searched for the best boundary.
_SEARCH_FRACTION = 0.3

# encode_batch is called once this many sections or characters are pending.
_BATCH_SECTIONS = 512
_BATCH_CHARS = 2_000_000


class Chunker:
    """Cuts documents into chunks of at most ``chunk_size`` word pieces."""

    def __init__(
        self,
        tokenizer: Tokenizer,
        chunk_size: int = 200,
        overlap: int = 32,
        max_tokens: int | None = None,
    ) -> None:
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise UsageError(f"chunk size must be a positive number of tokens, got {chunk_size!r}")
        if isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 0:
            raise UsageError(f"chunk overlap must be zero or more tokens, got {overlap!r}")
        if overlap >= chunk_size:
            raise UsageError(
                f"chunk overlap ({overlap}) must be smaller than the chunk size ({chunk_size})"
            )
        if max_tokens is not None and chunk_size > max_tokens - SPECIAL_TOKENS:
            raise UsageError(
                f"chunk size {chunk_size} is too large for the embedding model, which reads "
                f"at most {max_tokens} tokens including {SPECIAL_TOKENS} special tokens; "
                f"use a chunk size of at most {max_tokens - SPECIAL_TOKENS}"
            )
        self.tokenizer = unbounded_tokenizer(tokenizer)
        self.chunk_size = chunk_size
        self.overlap = overlap
        self.max_tokens = max_tokens
        # The first token index (relative to the window start) a cut may be placed at.
        self._search_from = max(1, chunk_size - int(chunk_size * _SEARCH_FRACTION))

    def chunk(self, doc: Document) -> list[Chunk]:
        """The chunks of one document, in text order."""
        return list(self.iter_chunks([doc]))

    def chunk_many(self, docs: Iterable[Document]) -> list[Chunk]:
        """The chunks of many documents, tokenised in batches; document order is kept."""
        return list(self.iter_chunks(docs))

    def iter_chunks(self, docs: Iterable[Document]) -> Iterator[Chunk]:
        """Like :meth:`chunk_many` but yields chunks as each batch is tokenised."""
        pending: list[tuple[Document, list[Section]]] = []
        texts: list[str] = []
        n_chars = 0
        for doc in docs:
            sections = _sections(doc)
            pending.append((doc, sections))
            for section in sections:
                texts.append(_slice(doc.text, section.start, section.end))
                n_chars += section.end - section.start
            if len(texts) >= _BATCH_SECTIONS or n_chars >= _BATCH_CHARS:
                yield from self._flush(pending, texts)
                pending, texts, n_chars = [], [], 0
        if pending:
            yield from self._flush(pending, texts)

    # -- internals ---------------------------------------------------------------------

    def _flush(
        self, pending: list[tuple[Document, list[Section]]], texts: list[str]
    ) -> Iterator[Chunk]:
        encodings = self.tokenizer.encode_batch(texts, add_special_tokens=False) if texts else []
        index = 0
        for doc, sections in pending:
            line_starts = _line_starts(doc.text) if doc.line_numbers else None
            ordinal = 0
            for section in sections:
                encoding = encodings[index]
                text = texts[index]
                index += 1
                for start, end, n_tokens in self._windows(text, encoding):
                    char_start = section.start + start
                    char_end = section.start + end
                    location = section.location
                    if line_starts is not None:
                        location = replace(
                            location,
                            line_start=bisect_right(line_starts, char_start),
                            line_end=bisect_right(line_starts, char_end - 1),
                        )
                    yield Chunk(
                        doc_id=doc.doc_id,
                        source=doc.source,
                        title=doc.title,
                        text=doc.text[char_start:char_end],
                        location=location,
                        start=char_start,
                        end=char_end,
                        ordinal=ordinal,
                        n_tokens=n_tokens,
                    )
                    ordinal += 1

    def _windows(self, text: str, encoding: Encoding) -> Iterator[tuple[int, int, int]]:
        """(char start, char end, token count) of each chunk of one section's text."""
        offsets = encoding.offsets
        n = len(offsets)
        if n == 0:
            return
        size = self.chunk_size
        if n <= size:
            start, end = offsets[0][0], offsets[-1][1]
            if end > start:
                yield start, end, n
            return
        cuts = _Boundaries(text, offsets, encoding.word_ids)
        s = 0
        while True:
            if n - s <= size:
                yield offsets[s][0], offsets[n - 1][1], n - s
                return
            cut = cuts.best_cut(s + self._search_from, s + size)
            yield offsets[s][0], offsets[cut - 1][1], cut - s
            s = cut if self.overlap == 0 else cuts.next_start(s, cut, self.overlap)


class _Boundaries:
    """Where one section's token sequence may be cut, and how well."""

    def __init__(self, text: str, offsets: list[tuple[int, int]], words: list[int | None]):
        self.text = text
        self.offsets = offsets
        self.words = words

    def score(self, i: int) -> int:
        """Strength of a cut between token i-1 and token i (0 < i < n)."""
        words, text = self.words, self.text
        if words[i] is not None and words[i] == words[i - 1]:
            return _MID_WORD
        a = self.offsets[i - 1][1]
        b = self.offsets[i][0]
        if b <= a:
            return _SENTENCE if text[a - 1] in _CJK_SENTENCE_END else _PUNCT
        breaks = text.count("\n", a, b)
        if breaks >= 2:
            return _PARAGRAPH
        if breaks == 1:
            return _LINE
        last = text[a - 1]
        if last in _SENTENCE_END or last in _CJK_SENTENCE_END:
            return _SENTENCE
        if last in _CLOSERS and a >= 2 and text[a - 2] in _SENTENCE_END:
            return _SENTENCE
        return _SPACE

    def best_cut(self, lo: int, hi: int) -> int:
        """Cut before this token: the best boundary in ``lo..hi``, the latest on a tie.

        With no word boundary there (one very long word) every score is _MID_WORD and
        the cut stays at ``hi``, the window end.
        """
        # The strongest boundary the area can hold: stop at the first (latest) one.
        breaks = self.text.count("\n", self.offsets[lo - 1][1], self.offsets[hi][0])
        top = _PARAGRAPH if breaks >= 2 else _LINE if breaks else _SENTENCE
        cut, best = hi, -1
        for i in range(hi, lo - 1, -1):
            strength = self.score(i)
            if strength > best:
                cut, best = i, strength
                if strength >= top:
                    break
        return cut

    def next_start(self, s: int, cut: int, overlap: int) -> int:
        """The next window's start: ``overlap`` tokens back, moved forward to a sentence
        start nearby, else to the next word start (after whitespace, then punctuation)."""
        target = max(s + 1, cut - overlap)
        near = max(1, overlap // 2)
        for i in range(target, min(cut, target + near + 1)):
            if self.score(i) >= _SENTENCE:
                return i
        for wanted in (_SPACE, _PUNCT):
            for i in range(target, cut):
                if self.score(i) >= wanted:
                    return i
        return target


def _sections(doc: Document) -> list[Section]:
    """The document's sections clipped to its text; the whole text when it has none."""
    length = len(doc.text)
    if not doc.sections:
        return [Section(0, length, Location())] if length else []
    out = []
    for section in doc.sections:
        start = max(0, min(section.start, length))
        end = max(start, min(section.end, length))
        if end > start:
            out.append(
                section
                if (start, end) == (section.start, section.end)
                else Section(start, end, section.location)
            )
    return out


def _slice(text: str, start: int, end: int) -> str:
    return text if start == 0 and end == len(text) else text[start:end]


def _line_starts(text: str) -> list[int]:
    """Character offset where each line begins; line ``k`` (1-based) starts at ``[k-1]``."""
    starts = [0]
    find = text.find
    pos = find("\n")
    while pos != -1:
        starts.append(pos + 1)
        pos = find("\n", pos + 1)
    return starts
