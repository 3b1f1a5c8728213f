"""Plain data passed between pipeline stages.

Each stage takes these in and gives these out, so a stage can be tested alone and the
CLI can render any of them as a table or as JSON (``to_dict``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Location:
    """Where a piece of text sits inside its source file."""

    page: int | None = None  # 1-based PDF page
    heading: tuple[str, ...] = ()  # Markdown/HTML heading path, outermost first
    line_start: int | None = None  # 1-based, inclusive
    line_end: int | None = None  # 1-based, inclusive

    def describe(self) -> str:
        """Short human form: ``p. 3``, ``Setup > Install``, ``lines 10-24``."""
        parts = []
        if self.page is not None:
            parts.append(f"p. {self.page}")
        if self.heading:
            parts.append(" > ".join(self.heading))
        if self.line_start is not None:
            if self.line_end is not None and self.line_end != self.line_start:
                parts.append(f"lines {self.line_start}-{self.line_end}")
            else:
                parts.append(f"line {self.line_start}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "page": self.page,
            "heading": list(self.heading),
            "line_start": self.line_start,
            "line_end": self.line_end,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Location:
        return cls(
            page=data.get("page"),
            heading=tuple(data.get("heading") or ()),
            line_start=data.get("line_start"),
            line_end=data.get("line_end"),
        )


@dataclass(frozen=True)
class Section:
    """A span of a document's text with one location (a PDF page, a Markdown section).

    ``start``/``end`` are character offsets into ``Document.text``. Chunks never cross a
    section boundary, so every chunk has a single page or heading path.
    """

    start: int
    end: int
    location: Location = Location()


@dataclass
class Document:
    """One logical document produced by a loader.

    A file usually gives one document; a JSONL/BEIR corpus file gives one per line.
    ``doc_id`` is stable across ingests: the file's path relative to the ingest root, or
    the record's own id for JSONL corpora.
    """

    doc_id: str
    source: str  # the file the document came from, as stored in the catalog
    title: str
    kind: str  # "text", "markdown", "pdf", "html", "code", "jsonl"
    text: str
    sections: list[Section] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    line_numbers: bool = False  # chunks carry line ranges (text and source code)


@dataclass
class Chunk:
    """A retrievable piece of a document. ``chunk_id`` is assigned by the store."""

    doc_id: str
    source: str
    title: str
    text: str
    location: Location
    start: int  # character offsets into the document's text
    end: int
    ordinal: int  # position of the chunk within its document
    n_tokens: int = 0
    chunk_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["location"] = self.location.to_dict()
        return data


@dataclass
class Hit:
    """A retrieved chunk with its rank, final score and the parts of that score."""

    rank: int
    score: float
    chunk: Chunk
    dense: float | None = None  # raw cosine similarity
    sparse: float | None = None  # raw BM25 score
    fused: float | None = None  # blended (or RRF) score before reranking
    rerank: float | None = None  # cross-encoder score

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "score": self.score,
            "scores": {
                "dense": self.dense,
                "sparse": self.sparse,
                "fused": self.fused,
                "rerank": self.rerank,
            },
            "chunk_id": self.chunk.chunk_id,
            "doc_id": self.chunk.doc_id,
            "source": self.chunk.source,
            "title": self.chunk.title,
            "location": self.chunk.location.to_dict(),
            "text": self.chunk.text,
        }


@dataclass
class SearchFilter:
    """Restrict a search; each list is OR-ed inside and the lists are AND-ed."""

    paths: list[str] = field(default_factory=list)  # gitignore-style globs on the source path
    kinds: list[str] = field(default_factory=list)  # document kinds: pdf, markdown, code, ...
    doc_ids: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.paths or self.kinds or self.doc_ids)


@dataclass(frozen=True)
class SearchParams:
    """Every option of one search, resolved (``Settings.search_params`` builds it)."""

    k: int = 5
    mode: str = "hybrid"  # dense | sparse | hybrid
    alpha: float = 0.7  # dense weight in hybrid fusion
    fusion: str = "minmax"  # minmax | rrf
    pool_factor: int = 5  # candidates per side = pool_factor * k
    rerank: bool | None = True  # None: only if the model is on this machine
    rerank_model: str = ""
    rerank_depth: int = 20  # fused candidates the cross-encoder scores
    filters: SearchFilter = field(default_factory=SearchFilter)

    def describe(self) -> dict[str, Any]:
        """The options as the ``--json`` result record names them (docs/commands.md)."""
        hybrid = self.mode == "hybrid"
        return {
            "k": self.k,
            "mode": self.mode,
            "alpha": self.alpha if hybrid else None,
            "fusion": self.fusion if hybrid else None,
        }
