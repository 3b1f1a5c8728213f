"""The shapes of the served records, as MCP output schemas (``structuredContent``).

They describe the `rag ... --json` records (docs/commands.md) field by field; a record
may carry more keys than listed (``total=False`` and pydantic's default of ignoring
extra keys), so a new field never breaks a client that validates against these.
"""

from __future__ import annotations

from typing import Any, Required

from typing_extensions import TypedDict  # pydantic needs this one on Python 3.11


class Scores(TypedDict, total=False):
    dense: float | None
    sparse: float | None
    fused: float | None
    rerank: float | None


class LocationRecord(TypedDict, total=False):
    page: int | None
    heading: list[str]
    line_start: int | None
    line_end: int | None
    slide: int
    sheet: str
    row_start: int
    row_end: int
    cell: int


class SnippetRecord(TypedDict):
    start: int
    end: int
    text: str


class HitRecord(TypedDict, total=False):
    rank: Required[int]
    score: Required[float]
    scores: Scores
    chunk_id: Required[int]
    doc_id: str
    source: Required[str]
    title: str
    location: LocationRecord
    text: Required[str]
    snippet: SnippetRecord


class FreshnessRecord(TypedDict, total=False):
    """How far the indexed folders have moved on since the generation that answered."""

    generation: int | None
    checked: Required[bool]
    stale: bool
    changed: int
    appeared: int
    vanished: int
    examples: list[str]
    reason: str


class SubQueryRecord(TypedDict):
    type: str  # lex, vec or hyde
    query: str


class SearchRecord(TypedDict, total=False):
    query: Required[str]  # "" when only sub-queries were given
    k: int
    mode: str
    alpha: float | None
    fusion: str | None
    searches: list[SubQueryRecord]  # the sub-queries fused with the query, when given
    reranked: bool
    rerank_note: str
    results: list[HitRecord]
    files: list[str]  # with ``files: true``, instead of ``results``
    freshness: FreshnessRecord


class DocumentRecord(TypedDict, total=False):
    doc_id: Required[str]
    source: Required[str]
    kind: str
    title: str
    unit: str
    start: int
    end: int
    total: int
    origin: str
    truncated: bool
    chunk_id: int | None
    bytes: int
    text: Required[str]


class SkippedRecord(TypedDict, total=False):
    spec: Required[str]
    reason: Required[str]
    count: int


class MultiGetRecord(TypedDict, total=False):
    documents: Required[list[DocumentRecord]]
    skipped: list[SkippedRecord]
    skipped_total: int


class StatusRecord(TypedDict, total=False):
    index: Required[str]
    store: str
    generation: int | None
    embed_model: str | None
    counts: dict[str, int]
    kinds: dict[str, int]
    roots: list[str]
    updated_at: str | None
    rerank: dict[str, Any]
    search: dict[str, Any]
    servers: list[dict[str, Any]]
    freshness: FreshnessRecord


class AskRecord(TypedDict, total=False):
    question: Required[str]
    answer: Required[str]
    backend: str
    model: str | None
    citations: Any
    sources: list[dict[str, Any]]
    no_answer: bool
