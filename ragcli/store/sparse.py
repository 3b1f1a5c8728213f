"""The BM25 sidecar: segments of postings, scored with global statistics.

A generation's ``sparse/`` folder holds immutable segments (as Lucene's are), each the
postings of a run of chunks: per term the rows that hold it and how often, plus each
row's chunk id and length in tokens. ``segments.json`` lists the live segments and, for
each, the file of its deleted rows. An ingest copies the previous generation's segment
files into the new one unchanged, writes the new chunks as new segments in bounded batches, marks
removed chunks as deleted, and merges runs of small segments (``MERGE_FACTOR`` of a
size) into one. Scores are computed at query time from the statistics of the live rows
of every segment (N, average length, document frequency), so they are the same whether
the index is one segment or many, with or without deletions (docs/index-format.md,
"BM25 segments"). A posting's term weight depends only on its (term frequency, row
length) pair and the average length, so each segment also stores the distinct pairs it
holds and, per posting, the number of its pair: a search computes the weights of a few
hundred pairs once and looks postings' weights up instead of computing them.

Everything is numpy arrays and JSON, loaded without pickle and memory-mapped; neither
writing nor searching imports bm25s (format-1 sidecars: ``ragcli.store.sparse_bm25s``).
"""

from __future__ import annotations

import bisect
import json
import math
import shutil
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ragcli.store import sparse_bm25s
from ragcli.text import ANALYSER, stopword_list, tokenize

# Anserini's defaults for BM25 on BEIR (k1=0.9, b=0.4) with Lucene's idf.
DEFAULT_PARAMS = {"method": "lucene", "k1": 0.9, "b": 0.4, **ANALYSER}
METHODS = ("lucene", "robertson", "atire")  # bm25s's variants without a non-occurrence term
PARAMS_FILE = "ragcli_params.json"
STOPWORDS_FILE = "stopwords.json"
SEGMENTS_FILE = "segments.json"
# A segment is written every FLUSH_ROWS chunks (about 60 MiB of postings in memory), and
# MERGE_FACTOR adjacent segments of one size class become one; merging stops at
# MAX_MERGE_ROWS (a merge holds about 24 bytes a posting, ~50 postings a chunk).
FLUSH_ROWS = 50_000
MERGE_FACTOR = 10
MAX_MERGE_ROWS = 600_000
# A segment with more than this share of its rows deleted is rewritten without them.
EXPUNGE_SHARE = 0.3
_ARRAYS = ("indptr", "rows", "tfs", "ids", "lengths")
# Each posting's (tf, row length) pair by number: ``codes`` per posting, ``pairs`` the
# distinct pairs (int32, shape (P, 2)). Segments written before these existed lack them.
_PAIR_ARRAYS = ("codes", "pairs")
_PAIR_BLOCK = 1 << 22  # postings coded at a time (bounds the memory of coding)
_DENSE_PAIR_KEYS = 1 << 24  # above this many possible pairs, np.unique finds them


@dataclass
class Segment:
    """One segment's postings; ``rows`` of each term ascending, ``ids`` the chunk ids."""

    name: str
    terms: list[str]  # sorted
    indptr: np.ndarray  # int64, len(terms) + 1
    rows: np.ndarray  # int32 local rows
    tfs: np.ndarray  # int32 term frequencies
    ids: np.ndarray  # int64 chunk id of each row
    lengths: np.ndarray  # int32 tokens of each row
    deleted: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    deleted_file: str | None = None
    on_disk: bool = False
    codes: np.ndarray | None = None  # uint16 (int32 past 65,536 pairs) pair of each posting
    pairs: np.ndarray | None = None  # int32 (P, 2): the distinct (tf, row length) pairs

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def live(self) -> np.ndarray | None:
        """Bool mask of live rows; None when nothing is deleted."""
        if not len(self.deleted):
            return None
        mask = np.ones(len(self.ids), dtype=bool)
        mask[self.deleted] = False
        return mask

    def span(self, term: str) -> tuple[int, int] | None:
        """Where ``term``'s postings are in ``rows``, ``tfs`` and ``codes``."""
        at = bisect.bisect_left(self.terms, term)
        if at == len(self.terms) or self.terms[at] != term:
            return None
        return int(self.indptr[at]), int(self.indptr[at + 1])

    def code_pairs(self) -> None:
        """Number each posting's (tf, row length) pair, if not done yet."""
        if self.codes is None:
            self.codes, self.pairs = pair_codes(self.tfs, self.rows, self.lengths)

    def save(self, folder: Path) -> None:
        self.code_pairs()
        for name in (*_ARRAYS, *_PAIR_ARRAYS):
            np.save(folder / f"{self.name}.{name}.npy", getattr(self, name), allow_pickle=False)
        (folder / f"{self.name}.terms.json").write_text(json.dumps(self.terms))
        self.on_disk = True

    def save_pairs(self, folder: Path) -> None:
        """Add the pair files to a segment written before they existed."""
        self.code_pairs()
        for name in _PAIR_ARRAYS:
            np.save(folder / f"{self.name}.{name}.npy", getattr(self, name), allow_pickle=False)

    def entry(self) -> dict:
        """The segment's line in ``segments.json``."""
        entry = {"name": self.name, "rows": len(self), "deleted": self.deleted_file}
        return entry | ({"pairs": len(self.pairs)} if self.pairs is not None else {})

    def files(self) -> list[str]:
        arrays = (*_ARRAYS, *_PAIR_ARRAYS) if self.codes is not None else _ARRAYS
        names = [f"{self.name}.{name}.npy" for name in arrays] + [f"{self.name}.terms.json"]
        return names + ([self.deleted_file] if self.deleted_file else [])

    @classmethod
    def load(cls, folder: Path, entry: dict) -> Segment:
        """The segment ``entry`` names, memory-mapped; its pair files are read when the
        entry lists them (``pairs``: how many), and their shapes checked."""
        name = entry["name"]
        keys = (*_ARRAYS, *_PAIR_ARRAYS) if "pairs" in entry else _ARRAYS
        arrays = {
            key: _plain(np.load(folder / f"{name}.{key}.npy", mmap_mode="r", allow_pickle=False))
            for key in keys
        }
        terms = json.loads((folder / f"{name}.terms.json").read_text())
        deleted_file = entry.get("deleted")
        deleted = (
            np.load(folder / deleted_file, allow_pickle=False)
            if deleted_file
            else np.zeros(0, np.int32)
        )
        segment = cls(
            name, terms, **arrays, deleted=deleted, deleted_file=deleted_file, on_disk=True
        )
        segment.check_shapes(entry)
        return segment

    def check_shapes(self, entry: dict) -> None:
        """Raise ValueError if the arrays cannot be one segment's (cheap checks only)."""
        postings = len(self.rows)
        problems = [
            len(self.indptr) != len(self.terms) + 1,
            len(self.tfs) != postings,
            len(self.lengths) != len(self.ids),
            len(self.indptr) > 0 and int(self.indptr[-1]) != postings,
        ]
        if self.codes is not None:
            problems += [
                len(self.codes) != postings,
                self.pairs.ndim != 2 or self.pairs.shape != (entry["pairs"], 2),
            ]
        if any(problems):
            raise ValueError(f"segment {self.name}: its arrays do not match each other")


def _plain(array: np.ndarray) -> np.ndarray:
    """A memory-mapped array as a plain ndarray over the same mapping (``np.memmap``'s
    own slicing costs microseconds a call, several per query term)."""
    return array.view(np.ndarray)


def pair_codes(
    tfs: np.ndarray, rows: np.ndarray, lengths: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(each posting's number of its (tf, row length) pair, the distinct pairs in order).

    Postings are coded ``_PAIR_BLOCK`` at a time, so coding a segment holds a few bytes a
    posting beyond the segment itself."""
    if not len(tfs):
        return np.zeros(0, np.uint16), np.zeros((0, 2), np.int32)
    width = int(lengths.max()) + 1
    span = (int(tfs.max()) + 1) * width
    blocks = range(0, len(tfs), _PAIR_BLOCK)

    def keys(start: int) -> np.ndarray:
        stop = start + _PAIR_BLOCK
        tf = np.asarray(tfs[start:stop], dtype=np.int64)
        return tf * width + np.asarray(lengths)[rows[start:stop]]

    if span <= _DENSE_PAIR_KEYS:
        seen = np.zeros(span, dtype=bool)
        for start in blocks:
            seen[keys(start)] = True
        present = np.flatnonzero(seen)
        number = np.zeros(span, dtype=np.int64)
        number[present] = np.arange(len(present))
    else:
        present = np.unique(np.concatenate([np.unique(keys(start)) for start in blocks]))
        number = None
    dtype = np.uint16 if len(present) <= 1 << 16 else np.int32
    codes = np.empty(len(tfs), dtype=dtype)
    for start in blocks:
        block = keys(start)
        found = number[block] if number is not None else np.searchsorted(present, block)
        codes[start : start + len(block)] = found
    pairs = np.stack([present // width, present % width], axis=1).astype(np.int32)
    return codes, pairs


class SegmentBuilder:
    """Postings of chunks as they arrive, in compact arrays, until made a ``Segment``."""

    def __init__(self, params: dict):
        self.params = params
        self.vocab: dict[str, int] = {}
        self._terms, self._tfs, self._rows = array("i"), array("i"), array("i")
        self._ids, self._lengths = array("q"), array("i")

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, chunk_id: int, text: str) -> None:
        tokens = tokenize(text, self.params)
        row = len(self._ids)
        vocab = self.vocab
        for term, count in Counter(tokens).items():
            self._terms.append(vocab.setdefault(term, len(vocab)))
            self._tfs.append(count)
            self._rows.append(row)
        self._ids.append(chunk_id)
        self._lengths.append(len(tokens))

    def build(self, name: str) -> Segment:
        terms = sorted(self.vocab)
        rank = np.empty(len(terms), dtype=np.int64)
        rank[[self.vocab[term] for term in terms]] = np.arange(len(terms))
        keys = rank[np.frombuffer(self._terms, dtype=np.int32)] if terms else np.zeros(0, int)
        order = np.argsort(keys, kind="stable")  # rows stay ascending within a term
        indptr = np.zeros(len(terms) + 1, dtype=np.int64)
        np.cumsum(np.bincount(keys, minlength=len(terms)), out=indptr[1:])
        return Segment(
            name,
            terms,
            indptr,
            np.frombuffer(self._rows, dtype=np.int32)[order],
            np.frombuffer(self._tfs, dtype=np.int32)[order],
            np.frombuffer(self._ids, dtype=np.int64).copy(),
            np.frombuffer(self._lengths, dtype=np.int32).copy(),
        )


def merge(segments: Sequence[Segment], name: str) -> Segment:
    """One segment holding the live rows of ``segments`` (adjacent, in order)."""
    terms = sorted(set().union(*(segment.terms for segment in segments)))
    number = {term: at for at, term in enumerate(terms)}
    keys, rows, tfs, ids, lengths = [], [], [], [], []
    offset = 0
    for segment in segments:
        live = segment.live
        renumber = np.arange(len(segment), dtype=np.int64) if live is None else live.cumsum() - 1
        local = np.fromiter((number[t] for t in segment.terms), np.int64, len(segment.terms))
        term_of = np.repeat(local, np.diff(segment.indptr))
        keep = slice(None) if live is None else live[segment.rows]
        keys.append(term_of[keep])
        rows.append((renumber[segment.rows[keep]] + offset).astype(np.int32))
        tfs.append(np.asarray(segment.tfs[keep]))
        ids.append(np.asarray(segment.ids if live is None else segment.ids[live]))
        lengths.append(np.asarray(segment.lengths if live is None else segment.lengths[live]))
        offset += len(ids[-1])
    key = np.concatenate(keys) if keys else np.zeros(0, np.int64)
    order = np.argsort(key, kind="stable")  # segments in order: rows stay ascending
    indptr = np.zeros(len(terms) + 1, dtype=np.int64)
    np.cumsum(np.bincount(key, minlength=len(terms)), out=indptr[1:])
    return Segment(
        name,
        terms,
        indptr,
        np.concatenate(rows)[order],
        np.concatenate(tfs)[order],
        np.concatenate(ids),
        np.concatenate(lengths),
    )


def _size_class(rows: int) -> int:
    return int(math.log(max(rows, 1) / FLUSH_ROWS, MERGE_FACTOR)) if rows > FLUSH_ROWS else 0


def merge_plan(sizes: Sequence[int]) -> tuple[int, int] | None:
    """``(start, stop)`` of the next run of segments to merge, or None (log merge policy:
    the last ``MERGE_FACTOR`` adjacent segments of one size class, below the cap)."""
    run_end = len(sizes)
    for at in range(len(sizes) - 1, -1, -1):
        if at < run_end - 1 and _size_class(sizes[at]) != _size_class(sizes[run_end - 1]):
            run_end = at + 1
        if run_end - at == MERGE_FACTOR:
            if sum(sizes[at:run_end]) <= MAX_MERGE_ROWS:
                return at, run_end
            run_end = at
    return None


def _idf(method: str, df: int, n: int) -> float:
    if method == "lucene":
        return math.log(1 + (n - df + 0.5) / (df + 0.5))
    if method == "robertson":
        return math.log(max((n - df + 0.5) / (df + 0.5), 1.0))
    return math.log(n / df)  # atire


class SparseIndex:
    """BM25 over segments; ``row_ids[i]`` is the chunk id of live row ``i``."""

    def __init__(
        self,
        segments: list[Segment],
        params: dict,
        stopwords: frozenset[str] | None = None,
        next_name: int = 1,
    ):
        if params["method"] not in METHODS:
            raise ValueError(f"BM25 method {params['method']!r} is not one of {METHODS}")
        self.segments = segments
        self.params = params
        self.stopwords = stopwords
        self.next_name = next_name
        self._stats()

    def _stats(self) -> None:
        lives = [segment.live for segment in self.segments]
        self.offsets = np.cumsum([0, *map(len, self.segments)])
        self.row_ids = _concat(
            [
                s.ids if live is None else s.ids[live]
                for s, live in zip(self.segments, lives, strict=True)
            ],
            np.int64,
        )
        self._live_rows = None
        if any(live is not None for live in lives):  # global row of each live row
            parts = [
                np.arange(len(s)) + offset if live is None else np.flatnonzero(live) + offset
                for s, live, offset in zip(self.segments, lives, self.offsets[:-1], strict=True)
            ]
            self._live_rows = _concat(parts, np.int64)
        self._lives = lives
        total = sum(
            int(np.sum(s.lengths if live is None else s.lengths[live], dtype=np.int64))
            for s, live in zip(self.segments, lives, strict=True)
        )
        self.avgdl = total / len(self.row_ids) if len(self.row_ids) else 0.0
        # Each segment's pairs weighted once for this average length (None: no pair files).
        self._pair_weights = [
            None if s.pairs is None else self._weight(s.pairs[:, 0], s.pairs[:, 1])
            for s in self.segments
        ]

    @classmethod
    def build(
        cls, chunk_ids: Sequence[int], texts: Iterable[str], params: dict | None = None
    ) -> SparseIndex:
        """One segment over ``texts`` (in memory until ``save``)."""
        params = dict(params or DEFAULT_PARAMS)
        builder = SegmentBuilder(params)
        for chunk_id, text in zip(chunk_ids, texts, strict=True):
            builder.add(int(chunk_id), text)
        segments = [builder.build(_segment_name(1))] if len(builder) else []
        return cls(segments, params, next_name=2)

    def save(self, folder: Path) -> None:
        """Write the segments not on disk yet, the segment list, params and stopwords."""
        folder.mkdir(parents=True, exist_ok=True)
        for segment in self.segments:
            if not segment.on_disk:
                segment.save(folder)
        entries = [segment.entry() for segment in self.segments]
        listing = {"next": self.next_name, "segments": entries}
        (folder / SEGMENTS_FILE).write_text(json.dumps(listing, indent=1))
        (folder / PARAMS_FILE).write_text(json.dumps(self.params))
        stop = sorted(stopword_list(self.params.get("stopwords", "")))
        (folder / STOPWORDS_FILE).write_text(json.dumps(stop))

    @classmethod
    def load(cls, folder: Path) -> SparseIndex | LegacySparseIndex:
        params = json.loads((folder / PARAMS_FILE).read_text())
        stop_file = folder / STOPWORDS_FILE
        stopwords = frozenset(json.loads(stop_file.read_text())) if stop_file.exists() else None
        if sparse_bm25s.is_legacy(folder):
            return LegacySparseIndex.load(folder, params, stopwords)
        listing = json.loads((folder / SEGMENTS_FILE).read_text())
        segments = [Segment.load(folder, entry) for entry in listing["segments"]]
        for segment, entry in zip(segments, listing["segments"], strict=True):
            if len(segment) != entry["rows"]:
                raise ValueError(f"segment {segment.name} has {len(segment)} rows, not {entry}")
        return cls(segments, params, stopwords, int(listing["next"]))

    def __len__(self) -> int:
        return len(self.row_ids)

    def scores(self, query: str, mask: np.ndarray | None = None) -> np.ndarray:
        """BM25 score of every live chunk for ``query`` (row order), masked rows zeroed."""
        n = len(self.row_ids)
        if not n:
            return np.zeros(0, dtype=np.float32)
        total = np.zeros(int(self.offsets[-1]), dtype=np.float64)
        for term in tokenize(query, self.params, self.stopwords):  # a repeated term counts again
            found = [
                (at, span)
                for at, segment in enumerate(self.segments)
                if (span := segment.span(term)) is not None
            ]
            df = sum(self._live_postings(at, span) for at, span in found)
            if not df:
                continue
            idf = _idf(self.params["method"], df, n)
            for at, (start, end) in found:
                rows = self.segments[at].rows[start:end]
                in_segment = total[self.offsets[at] : self.offsets[at + 1]]
                np.add.at(in_segment, rows, self._contributions(at, idf, start, end))
        scores = (total if self._live_rows is None else total[self._live_rows]).astype(np.float32)
        return scores * mask if mask is not None else scores

    def ceiling(self, query: str) -> float:
        """The query's whole term weight: each term's idf times its weight's limit (1, or
        k1 + 1 for atire) as its frequency grows, summed, a term no chunk holds counted at
        the idf of a term in none (atire: of one), so a chunk's score over the ceiling is
        the share of the query it holds, words the index lacks included."""
        n = len(self.row_ids)
        method = self.params["method"]
        limit = self.params["k1"] + 1 if method == "atire" else 1.0
        total = 0.0
        for term in tokenize(query, self.params, self.stopwords):
            spans = [(at, span) for at, s in enumerate(self.segments) if (span := s.span(term))]
            df = sum(self._live_postings(at, span) for at, span in spans)
            total += _idf(method, max(df, 1 if method == "atire" else 0), max(n, 1)) * limit
        return total

    def _live_postings(self, at: int, span: tuple[int, int]) -> int:
        """How many of the postings in ``span`` of segment ``at`` are in live rows."""
        start, end = span
        live = self._lives[at]
        if live is None:
            return end - start
        return int(np.count_nonzero(live[self.segments[at].rows[start:end]]))

    def _contributions(self, at: int, idf: float, start: int, end: int) -> np.ndarray:
        """``idf`` times the term weight of postings ``start:end`` of segment ``at``
        (deleted rows too: the caller drops them with the row)."""
        segment, weights = self.segments[at], self._pair_weights[at]
        if weights is not None:
            return np.take(idf * weights, segment.codes[start:end])
        tfs = segment.tfs[start:end]
        return idf * self._weight(tfs, segment.lengths[segment.rows[start:end]])

    def _weight(self, tfs: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """BM25's term weight of term frequencies ``tfs`` in rows of ``lengths`` tokens."""
        k1, b = self.params["k1"], self.params["b"]
        tf = np.asarray(tfs, dtype=np.float64)
        norm = k1 * ((1 - b) + b * lengths / self.avgdl)
        return (tf * (k1 + 1) if self.params["method"] == "atire" else tf) / (tf + norm)

    def search(self, query: str, n: int, mask: np.ndarray | None = None):
        return top_rows(self.row_ids, self.scores(query, mask), n)


class LegacySparseIndex:
    """A format-1 sidecar (one bm25s index), read for searching only."""

    def __init__(self, retriever, row_ids: np.ndarray, params: dict, stopwords):
        self.retriever, self.row_ids = retriever, row_ids
        self.params, self.stopwords = params, stopwords

    @classmethod
    def load(cls, folder: Path, params: dict, stopwords) -> LegacySparseIndex:
        row_ids = np.load(folder / sparse_bm25s.ROW_IDS_FILE, allow_pickle=False)
        retriever = sparse_bm25s.load_retriever(folder, params, len(row_ids))
        return cls(retriever, row_ids, params, stopwords)

    def __len__(self) -> int:
        return len(self.row_ids)

    def scores(self, query: str, mask: np.ndarray | None = None) -> np.ndarray:
        if not len(self.row_ids):
            return np.zeros(0, dtype=np.float32)
        token_ids = self.retriever.get_tokens_ids(tokenize(query, self.params, self.stopwords))
        if not token_ids:
            return np.zeros(len(self.row_ids), dtype=np.float32)
        scores = self.retriever.get_scores_from_ids(token_ids)
        return scores * mask if mask is not None else scores

    def search(self, query: str, n: int, mask: np.ndarray | None = None):
        return top_rows(self.row_ids, self.scores(query, mask), n)

    def ceiling(self, query: str) -> float:
        """The best score of any chunk (the precomputed scores give no idf back)."""
        scores = self.scores(query)
        return float(scores.max()) if len(scores) else 0.0


def top_rows(row_ids: np.ndarray, scores: np.ndarray, n: int):
    """Top ``n`` chunks with a positive score: (chunk ids, scores, all row scores)."""
    positive = np.flatnonzero(scores > 0)
    top = positive[np.argpartition(-scores[positive], n - 1)[:n]] if len(positive) > n else positive
    # Ties broken by chunk id so results are deterministic.
    order = np.lexsort((row_ids[top], -scores[top]))
    top = top[order]
    return row_ids[top], scores[top], scores


def _concat(parts: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)


def _segment_name(number: int) -> str:
    return f"seg-{number:06d}"


class SparseWriter:
    """The next generation's BM25 sidecar, written to ``folder`` as chunks arrive.

    The previous generation's segments (``previous``, a segments folder) are copied in
    as they are (not hard-linked: a damaged file in one generation must leave the
    previous one intact to fall back to); new chunks are written as segments every
    ``FLUSH_ROWS``; ``remove`` marks rows deleted; ``finish`` writes the rest, merges,
    and returns the index whose ``save`` writes the segment list. ``previous`` None
    starts empty (new index, ``--rebuild``, or a format-1 sidecar the caller feeds
    back through ``add``).
    """

    def __init__(self, folder: Path, previous: Path | None, params: dict | None = None):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        old = SparseIndex.load(previous) if previous is not None else None
        if isinstance(old, SparseIndex):
            self.params = old.params
            self.segments = old.segments
            self.next_name = old.next_name
            for at, segment in enumerate(self.segments):
                for name in segment.files():
                    shutil.copyfile(previous / name, folder / name)
                if segment.codes is None:  # written before pair files: given them now
                    segment.save_pairs(folder)
                    self.segments[at] = Segment.load(folder, segment.entry())
        else:
            self.params = dict(params or DEFAULT_PARAMS)
            self.segments, self.next_name = [], 1
        self._deleted: dict[int, set[int]] = {}  # segment position -> new deleted rows
        self._builder = SegmentBuilder(self.params)

    def _name(self) -> str:
        """A name never used before in this index."""
        self.next_name += 1
        return _segment_name(self.next_name - 1)

    def add(self, chunk_id: int, text: str) -> None:
        self._builder.add(chunk_id, text)
        if len(self._builder) >= FLUSH_ROWS:
            self.flush()

    def remove(self, chunk_ids: Sequence[int]) -> None:
        ids = np.asarray(chunk_ids, dtype=np.int64)
        for at, segment in enumerate(self.segments):
            if not len(ids) or not len(segment):
                continue
            rows = np.searchsorted(segment.ids, ids)  # a segment's ids ascend
            rows = rows[rows < len(segment)]
            hit = rows[np.isin(np.asarray(segment.ids[rows]), ids)]
            if len(hit):
                self._deleted.setdefault(at, set()).update(hit.tolist())

    def flush(self) -> None:
        """Write the chunks added so far as a segment (``remove`` sees only segments)."""
        if len(self._builder):
            self.segments.append(self._saved(self._builder.build(self._name())))
            self._builder = SegmentBuilder(self.params)
            self._merge()

    def _saved(self, segment: Segment) -> Segment:
        """``segment`` written, and mapped back from its files instead of held in memory."""
        segment.save(self.folder)
        return Segment.load(self.folder, segment.entry())

    def _apply_deletions(self) -> None:
        for at, rows in sorted(self._deleted.items()):
            segment = self.segments[at]
            deleted = np.union1d(segment.deleted, np.fromiter(rows, np.int32, len(rows)))
            segment.deleted = deleted.astype(np.int32)
            if segment.deleted_file:
                (self.folder / segment.deleted_file).unlink(missing_ok=True)
            segment.deleted_file = f"{segment.name}.{self._name()}.deleted.npy"
            np.save(self.folder / segment.deleted_file, segment.deleted, allow_pickle=False)
        self._deleted = {}

    def _merge(self) -> None:
        self._apply_deletions()
        while True:
            worn = [
                at
                for at, s in enumerate(self.segments)
                if len(s) and len(s.deleted) > EXPUNGE_SHARE * len(s)
            ]
            span = (worn[0], worn[0] + 1) if worn else merge_plan([*map(len, self.segments)])
            if span is None:
                return
            start, stop = span
            merged = merge(self.segments[start:stop], self._name())
            for segment in self.segments[start:stop]:
                for name in segment.files():
                    (self.folder / name).unlink(missing_ok=True)
            self.segments[start:stop] = [self._saved(merged)] if len(merged) else []

    def finish(self) -> SparseIndex:
        self.flush()
        self._merge()
        return SparseIndex(self.segments, self.params, next_name=self.next_name)
