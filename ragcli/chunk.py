"""Token-aware chunking with the embedding model's own tokenizer.

Chunks are measured in the word pieces of the embedding model, so no chunk is silently
truncated when it is embedded (all-MiniLM-L6-v2 reads at most 256 word pieces including
``[CLS]``/``[SEP]``). The text of every chunk is an exact slice of its document's text:
``doc.text[chunk.start:chunk.end] == chunk.text``.

Only the ``tokenizers`` library is used (no transformers, no torch), so chunking starts
fast. Sections are tokenised in batches with ``encode_batch`` (at most ``_BATCH_SECTIONS``
sections or ``_BATCH_CHARS`` characters at a time, even within one document); the token
offsets map token windows back to character spans. A section longer than
``piece_chars`` (65,536 characters) is tokenised a few pieces at a time as the windows
move along it, each piece checked against the next (``_PieceTokens``), so a large file
is never held as one token sequence: the chunks are the same as if it were.

How a section is cut: a window of ``chunk_size`` tokens ends at the best boundary found
in its last 30% (paragraph break > line break > sentence end > whitespace > punctuation
between words), never inside a word piece and only inside a word when no word boundary
is there (one very long word). The next window starts about ``overlap`` tokens before
the previous end, moved forward to a sentence start when one is near, else to a word
start. Chunks never cross a ``Section``.

Bounds whatever the text: a chunk is at most ``MAX_CHUNK_CHARS`` characters (a window
whose tokens span more, across a long run of spaces or words the tokenizer reads as one
unknown token, ends earlier; a single token longer than that is cut into pieces of that
size), and encoded data is left out of the index: runs of ``BLOB_MIN_CHARS`` or more
base64 characters mixing digits and both cases (an inline ``data:`` image, a key), and
blocks of such base64 lines (PEM, MIME); a long word or hex run is chunked like any
text, within the bound. Both are reported, one warning line per document.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ragcli.errors import UsageError, warn
from ragcli.types import Chunk, Document, Location, Section
from ragcli.weights import unbounded_tokenizer

if TYPE_CHECKING:
    from tokenizers import Encoding, Tokenizer

    from ragcli.config import Settings

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

# Sections longer than this many characters are tokenised in pieces of about this size,
# a few pieces per encode_batch call, so no section's tokens are ever held whole.
PIECE_CHARS = 65_536
_PIECES_PER_CALL = 4
_WHITESPACE = re.compile(r"\s")

# No chunk is longer than this many characters (200 word pieces of prose are about
# 1,000), however few tokens its text makes.
MAX_CHUNK_CHARS = 8192
# Encoded data (base64) carries no words: left out of the index (chunk texts are slices
# of the document, so the runs are only skipped; the document keeps them).
BLOB_MIN_CHARS = 256
_BLOB = re.compile(
    rf"[A-Za-z0-9+/]{{{BLOB_MIN_CHARS},}}={{0,2}}|(?:[A-Za-z0-9+/=]{{60,}}[ \t]*\r?\n){{8,}}"
)


def chunker_for(settings: Settings) -> Chunker:
    """The chunker ingest uses: the embedding model's tokenizer, the settings' chunk size
    and overlap, checked against what the model reads beside its document prompt."""
    from ragcli.weights import load_tokenizer

    tokenizer = load_tokenizer(chunking_model(settings))
    return Chunker(
        tokenizer,
        chunk_size=settings.chunk_size,
        overlap=settings.chunk_overlap,
        max_tokens=chunk_token_limit(settings, tokenizer),
    )


def chunking_model(settings: Settings) -> str:
    """The model whose tokenizer cuts the chunks: the embedding model, or for a served
    model that is not a Hugging Face model on this machine (``nomic-embed-text``), the
    default model's (packaged, so chunking works offline)."""
    from ragcli.weights import DEFAULT_EMBED_MODEL, SERVED_BACKENDS, canonical_name, local_model

    model = canonical_name(settings.embed_model)
    if settings.embed_backend in SERVED_BACKENDS and not local_model(model).available:
        return DEFAULT_EMBED_MODEL
    return model


def chunk_token_limit(settings: Settings, tokenizer) -> int | None:
    """The most tokens a chunk may take, special tokens included: the model's
    ``max_seq_length`` less the document prompt's tokens (the prompt is embedded with
    each chunk). None when unknown (a served model: the server truncates)."""
    from ragcli.weights import SERVED_BACKENDS, model_max_tokens, model_prompts, resolve_model_path

    model = chunking_model(settings)
    if model != settings.embed_model and settings.embed_backend in SERVED_BACKENDS:
        return None
    limit = model_max_tokens(resolve_model_path(model))
    prompt = settings.document_prompt
    if prompt is None:  # the model's own (ragcli.embed.spec applies the same)
        prompt = model_prompts(settings.embed_model)[1]
    if limit is not None and prompt:
        limit -= len(tokenizer.encode(prompt, add_special_tokens=False).ids)
    return limit


class Chunker:
    """Cuts documents into chunks of at most ``chunk_size`` word pieces.

    ``piece_chars`` only bounds memory: sections longer than that are tokenised in
    pieces of about that many characters, and the chunks are the same.
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        chunk_size: int = 200,
        overlap: int = 32,
        max_tokens: int | None = None,
        piece_chars: int = PIECE_CHARS,
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
        self.piece_chars = max(128, piece_chars)  # twice the shortest margin
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
        batch: list[tuple[_DocChunks, Section, str]] = []
        n_chars = 0
        for doc in docs:
            state = _DocChunks(doc)
            for section in _without_blobs(doc, _sections(doc)):
                length = section.end - section.start
                if length > self.piece_chars:
                    yield from self._flush(batch)
                    batch, n_chars = [], 0
                    tokens = _PieceTokens(self.tokenizer, doc.text, section, self.piece_chars)
                    yield from self._section_chunks(state, section, tokens)
                    continue
                batch.append((state, section, _slice(doc.text, section.start, section.end)))
                n_chars += length
                if len(batch) >= _BATCH_SECTIONS or n_chars >= _BATCH_CHARS:
                    yield from self._flush(batch)
                    batch, n_chars = [], 0
        yield from self._flush(batch)

    # -- internals ---------------------------------------------------------------------

    def _flush(self, batch: list[tuple[_DocChunks, Section, str]]) -> Iterator[Chunk]:
        """The chunks of sections short enough to tokenise whole, in one encode_batch."""
        if not batch:
            return
        texts = [text for _, _, text in batch]
        encodings = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        for (state, section, text), encoding in zip(batch, encodings, strict=True):
            tokens = _Tokens(text, 0, encoding.offsets, encoding.word_ids)
            yield from self._section_chunks(state, section, tokens)

    def _section_chunks(
        self, state: _DocChunks, section: Section, tokens: _Tokens
    ) -> Iterator[Chunk]:
        for start, end, n_tokens in self._windows(tokens, state.word_cut):
            yield state.chunk(section, section.start + start, section.start + end, n_tokens)

    def _windows(self, tokens: _Tokens, on_cut) -> Iterator[tuple[int, int, int]]:
        """(char start, char end, token count) of each chunk of one section, relative to
        the section's start. Only tokens from the current window start on are needed, so
        a section tokenised piece by piece is never held whole. No window spans more
        than ``MAX_CHUNK_CHARS`` (``_within_chars``)."""
        if not tokens.has(0):
            return
        size = self.chunk_size
        s = 0
        while True:
            last = not tokens.has(s + size)
            cut = tokens.count if last else tokens.best_cut(s + self._search_from, s + size)
            bounded = _within_chars(tokens, s, cut)
            if bounded == s:  # one token longer than the bound: cut into pieces
                on_cut(tokens.end(s) - tokens.start(s))
                yield from _token_pieces(tokens, s)
                s += 1
            else:
                start, end = tokens.start(s), tokens.end(bounded - 1)
                if end > start:
                    yield start, end, bounded - s
                if last and bounded == cut:
                    return
                if bounded < cut or self.overlap == 0:
                    s = bounded
                else:
                    s = tokens.next_start(s, bounded, self.overlap)
            if not tokens.has(s):
                return
            tokens.release(s)


def _within_chars(tokens: _Tokens, s: int, cut: int) -> int:
    """The latest cut at or before ``cut`` whose window from token ``s`` spans at most
    ``MAX_CHUNK_CHARS``; ``s`` when token ``s`` alone is longer."""
    start = tokens.start(s)
    if tokens.end(cut - 1) - start <= MAX_CHUNK_CHARS:
        return cut
    while cut > s and tokens.end(cut - 1) - start > MAX_CHUNK_CHARS:
        cut -= 1
    return cut


def _token_pieces(tokens: _Tokens, i: int) -> Iterator[tuple[int, int, int]]:
    start, end = tokens.start(i), tokens.end(i)
    for at in range(start, end, MAX_CHUNK_CHARS):
        yield at, min(at + MAX_CHUNK_CHARS, end), 1


def _encoded(run: str) -> bool:
    """Base64 mixes digits, capitals and small letters; a long word or a hex run (which
    are split into chunks instead) does not."""
    return (
        any(char.isdigit() for char in run)
        and any(char.isupper() for char in run)
        and any(char.islower() for char in run)
    )


def _without_blobs(doc: Document, sections: list[Section]) -> Iterator[Section]:
    """The sections with their runs of encoded data cut out, reported once per document."""
    skipped = runs = 0
    for section in sections:
        start = section.start
        for found in _BLOB.finditer(doc.text, section.start, section.end):
            if not _encoded(found.group()):
                continue
            if found.start() > start:
                yield Section(start, found.start(), section.location)
            skipped += found.end() - found.start()
            runs += 1
            start = found.end()
        if start == section.start:
            yield section
        elif section.end > start:
            yield Section(start, section.end, section.location)
    if skipped:
        warn(f"{doc.source}: {skipped:,} characters of encoded data (base64, "
             f"{runs:,} runs) not indexed")  # fmt: skip


class _DocChunks:
    """Builds one document's chunks in order: ordinals and line ranges."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.ordinal = 0
        self.lines = _LineCounter(doc.text) if doc.line_numbers else None
        self.mapped = [offset for offset, _, _ in doc.line_map] if doc.line_map else None
        self.cut_reported = False

    def word_cut(self, length: int) -> None:
        """A word longer than ``MAX_CHUNK_CHARS`` was cut: said once per document."""
        if not self.cut_reported:
            self.cut_reported = True
            warn(f"{self.doc.source}: a word of {length:,} characters cut into chunks of "
                 f"{MAX_CHUNK_CHARS:,} characters")  # fmt: skip

    def chunk(self, section: Section, start: int, end: int, n_tokens: int) -> Chunk:
        doc, location = self.doc, section.location
        if self.mapped is not None and doc.line_map:
            first = doc.line_map[max(0, bisect_right(self.mapped, start) - 1)][1]
            last = doc.line_map[max(0, bisect_right(self.mapped, end - 1) - 1)][2]
            location = replace(location, line_start=first, line_end=max(first, last))
        elif self.lines is not None:
            first = self.lines.line_at(start)
            location = replace(location, line_start=first, line_end=self.lines.line_at(end - 1))
        chunk = Chunk(
            doc_id=doc.doc_id,
            source=doc.source,
            title=doc.title,
            text=doc.text[start:end],
            location=location,
            start=start,
            end=end,
            ordinal=self.ordinal,
            n_tokens=n_tokens,
        )
        self.ordinal += 1
        return chunk


class _LineCounter:
    """The 1-based line of a character offset, counted on from the last offset asked
    about: chunks come in text order, so each count covers a chunk and its overlap
    rather than the whole text (and no list of every line start is kept)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.offset = 0
        self.line = 1

    def line_at(self, offset: int) -> int:
        if offset >= self.offset:
            self.line += self.text.count("\n", self.offset, offset)
        else:
            self.line -= self.text.count("\n", offset, self.offset)
        self.offset = offset
        return self.line


class _Tokens:
    """The tokens of one section, and where the sequence may be cut and how well.

    ``offsets`` are character offsets relative to the section's start, whose text is
    ``text[origin:]``; ``offsets[0]`` is token ``first`` of the section (``first`` grows
    when a piece-wise section drops tokens it no longer needs). ``words`` are the
    tokenizer's word ids: two neighbours with the same id are pieces of one word.
    """

    def __init__(
        self, text: str, origin: int, offsets: list[tuple[int, int]], words: list[int | None]
    ) -> None:
        self.text = text
        self.origin = origin
        self.offsets = offsets
        self.words = words
        self.first = 0

    @property
    def count(self) -> int:
        """Tokens so far (all of them once ``has`` has answered False)."""
        return self.first + len(self.offsets)

    def has(self, i: int) -> bool:
        """Whether the section has a token ``i`` (tokenising further if need be)."""
        while i >= self.count:
            if not self._more():
                return False
        return True

    def _more(self) -> bool:
        return False  # a whole section is tokenised at once

    def release(self, i: int) -> None:
        """Tokens before ``i`` will not be asked about again."""

    def start(self, i: int) -> int:
        return self.offsets[i - self.first][0]

    def end(self, i: int) -> int:
        return self.offsets[i - self.first][1]

    def score(self, i: int) -> int:
        """Strength of a cut between token i-1 and token i (0 < i < n)."""
        j = i - self.first
        words, text, origin = self.words, self.text, self.origin
        if words[j] is not None and words[j] == words[j - 1]:
            return _MID_WORD
        a = self.offsets[j - 1][1]
        b = self.offsets[j][0]
        if b <= a:
            return _SENTENCE if text[origin + a - 1] in _CJK_SENTENCE_END else _PUNCT
        breaks = text.count("\n", origin + a, origin + b)
        if breaks >= 2:
            return _PARAGRAPH
        if breaks == 1:
            return _LINE
        last = text[origin + a - 1]
        if last in _SENTENCE_END or last in _CJK_SENTENCE_END:
            return _SENTENCE
        if last in _CLOSERS and a >= 2 and text[origin + a - 2] in _SENTENCE_END:
            return _SENTENCE
        return _SPACE

    def best_cut(self, lo: int, hi: int) -> int:
        """Cut before this token: the best boundary in ``lo..hi``, the latest on a tie.

        With no word boundary there (one very long word) every score is _MID_WORD and
        the cut stays at ``hi``, the window end.
        """
        # The strongest boundary the area can hold: stop at the first (latest) one.
        origin = self.origin
        breaks = self.text.count("\n", origin + self.end(lo - 1), origin + self.start(hi))
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


@dataclass
class _Piece:
    """One piece of a long section, tokenised: the tokens before its cut, and those of
    the margin after it, which the next piece (starting at the cut) must give again.
    Offsets are relative to the section; word ids are the piece's own."""

    begin: int  # where the piece's text begins, in the document's text
    offsets: list[tuple[int, int]]
    words: list[int | None]
    margin: list[tuple[int, int, bool]]  # (start, end, same word as the token before)
    last: bool  # the section's final piece

    def head(self, n: int) -> list[tuple[int, int, bool]]:
        """The first ``n`` tokens in the margin's form."""
        words = self.words
        return [
            (start, end, i > 0 and words[i] is not None and words[i] == words[i - 1])
            for i, (start, end) in enumerate(self.offsets[:n])
        ]


class _PieceTokens(_Tokens):
    """A long section tokenised piece by piece, about ``piece_chars`` characters each,
    as the windows move on; tokens behind the current window are dropped.

    A piece ends at a line break (else a space) and runs on for a margin; the next piece
    starts at that break. The tokens are those of the whole section when the tokenizer
    does not look across the break, which holds for word-piece tokenizers (they split
    at whitespace first). That is checked: the next piece must give the margin's tokens
    again, with the same offsets and word grouping (so no word spans the break). Where
    it does not, the rest of the section is tokenised in one go, as a short one is.
    """

    def __init__(self, tokenizer: Tokenizer, text: str, section: Section, piece_chars: int):
        super().__init__(text, section.start, [], [])
        self.tokenizer = tokenizer
        self.stop = section.end
        self.next_piece = section.start  # where the next untokenised piece begins
        self.piece_chars = piece_chars
        self.margin_chars = max(64, piece_chars // 32)
        self.held: _Piece | None = None  # the newest piece, until the next one checks it
        self.next_word = 0  # each piece's word ids go on from the last piece's

    def _more(self) -> bool:
        if self.next_piece >= self.stop:
            return False
        bounds = self._bounds()
        texts = [self.text[begin:end] for begin, _, end in bounds]
        encodings = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        pieces = [self._piece(bound, enc) for bound, enc in zip(bounds, encodings, strict=True)]
        if self.held is not None:
            pieces.insert(0, self.held)
        self.held = None
        for piece, after in zip(pieces, [*pieces[1:], None], strict=True):
            if piece.last:
                self._take(piece)
            elif after is None:
                self.held = piece
            elif after.head(len(_compared(piece.margin))) != _compared(piece.margin):
                self._tokenise_rest(piece.begin)
                break
            else:
                self._take(piece)
        return True

    def _bounds(self) -> list[tuple[int, int, int]]:
        """(begin, cut, margin end) of the next few pieces, as character offsets."""
        bounds = []
        begin = self.next_piece
        while begin < self.stop and len(bounds) < _PIECES_PER_CALL:
            cut = self._break_after(begin + self.piece_chars)
            end = cut if cut >= self.stop else self._break_after(cut + self.margin_chars)
            bounds.append((begin, cut, end))
            begin = cut
        self.next_piece = begin
        return bounds

    def _break_after(self, at: int) -> int:
        """The first line break at or after ``at`` within a piece's length, else the
        first space, else any whitespace; the section's end when there is none."""
        if at >= self.stop:
            return self.stop
        limit = min(self.stop, at + self.piece_chars)
        for mark in ("\n", " "):
            found = self.text.find(mark, at, limit)
            if found != -1:
                return found
        space = _WHITESPACE.search(self.text, at, limit)
        return space.start() if space else self.stop

    def _piece(self, bound: tuple[int, int, int], encoding: Encoding) -> _Piece:
        begin, cut, _ = bound
        offsets, words = encoding.offsets, encoding.word_ids
        shift, cut = begin - self.origin, cut - begin  # cut: relative to the piece
        keep = len(offsets)
        while keep and offsets[keep - 1][0] >= cut:
            keep -= 1
        margin = [
            (
                start + shift,
                end + shift,
                i > 0 and words[i] is not None and words[i] == words[i - 1],
            )
            for i, (start, end) in enumerate(offsets[keep:], keep)
        ]
        if keep and offsets[keep - 1][1] > cut:  # a token across the cut,
            margin.insert(0, (-1, -1, False))  # which no next piece gives again
        kept = [(start + shift, end + shift) for start, end in offsets[:keep]]
        return _Piece(begin, kept, words[:keep], margin, cut >= self.stop - begin)

    def _take(self, piece: _Piece) -> None:
        words, base = piece.words, self.next_word
        if None in words:
            present = [w for w in words if w is not None]
            self.words.extend(None if w is None else w + base for w in words)
        else:
            present = words
            self.words.extend([w + base for w in words])
        self.offsets.extend(piece.offsets)
        self.next_word = base + 1 + max(present, default=-1)

    def _tokenise_rest(self, begin: int) -> None:
        """The section from ``begin`` on in one piece (the pieces disagreed after it)."""
        encoding = self.tokenizer.encode(self.text[begin : self.stop], add_special_tokens=False)
        shift = begin - self.origin
        offsets = [(start + shift, end + shift) for start, end in encoding.offsets]
        self._take(_Piece(begin, offsets, encoding.word_ids, [], True))
        self.held = None
        self.next_piece = self.stop

    def release(self, i: int) -> None:
        drop = i - self.first
        if drop > 4096 and 2 * drop > len(self.offsets):
            del self.offsets[:drop]
            del self.words[:drop]
            self.first = i


def _compared(margin: list[tuple[int, int, bool]]) -> list[tuple[int, int, bool]]:
    """The margin tokens the next piece must give again: all but the last two, whose
    right context the margin's end cut short."""
    return margin[:-2] if len(margin) > 2 else margin[:1]


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
