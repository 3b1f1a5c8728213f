"""Plain data passed between pipeline stages.

Each stage takes these in and gives these out, so a stage can be tested alone and the
CLI can render any of them as a table or as JSON (``to_dict``).
"""

from __future__ import annotations

import typing
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ragcli.weights import DEFAULT_RERANK_MODEL


@dataclass(frozen=True)
class Location:
    """Where a piece of text sits inside its source file."""

    page: int | None = None  # 1-based PDF page
    heading: tuple[str, ...] = ()  # heading path (Markdown, HTML, DOCX, EPUB), outermost first
    line_start: int | None = None  # 1-based, inclusive
    line_end: int | None = None  # 1-based, inclusive
    slide: int | None = None  # 1-based presentation slide
    sheet: str | None = None  # spreadsheet sheet name
    row_start: int | None = None  # 1-based spreadsheet rows (the header row is 1), inclusive
    row_end: int | None = None
    cell: int | None = None  # 1-based notebook cell

    def describe(self) -> str:
        """Short human form: ``p. 3``, ``Setup > Install``, ``lines 10-24``, ``slide 2``,
        ``sheet Budget, rows 2-40``, ``cell 5``."""
        parts = []
        if self.page is not None:
            parts.append(f"p. {self.page}")
        if self.slide is not None:
            parts.append(f"slide {self.slide}")
        if self.sheet is not None:
            parts.append(f"sheet {self.sheet}")
        if self.row_start is not None:
            parts.append(_span("row", self.row_start, self.row_end))
        if self.cell is not None:
            parts.append(f"cell {self.cell}")
        if self.heading:
            parts.append(" > ".join(self.heading))
        if self.line_start is not None:
            parts.append(_span("line", self.line_start, self.line_end))
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "page": self.page,
            "heading": list(self.heading),
            "line_start": self.line_start,
            "line_end": self.line_end,
        }
        data.update(self.extra())
        return data

    def extra(self) -> dict[str, Any]:
        """The fields beyond page, heading and lines that are set (stored as one JSON
        value, so indexes written before these fields existed read as None)."""
        return {
            name: getattr(self, name) for name in EXTRA_FIELDS if getattr(self, name) is not None
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Location:
        return cls(
            page=data.get("page"),
            heading=tuple(data.get("heading") or ()),
            line_start=data.get("line_start"),
            line_end=data.get("line_end"),
            **{name: data.get(name) for name in EXTRA_FIELDS},
        )


EXTRA_FIELDS = ("slide", "sheet", "row_start", "row_end", "cell")


def _span(noun: str, start: int, end: int | None) -> str:
    if end is not None and end != start:
        return f"{noun}s {start}-{end}"
    return f"{noun} {start}"


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
    kind: str  # "text", "markdown", "pdf", "html", "code", "jsonl", "docx", ... (load.KINDS)
    text: str
    sections: list[Section] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    line_numbers: bool = False  # chunks carry line ranges (text and source code)
    # Where the text is not the file's (rendered reST, included code): for each block,
    # (offset in ``text``, first file line, last file line), offsets ascending.
    line_map: list[tuple[int, int, int]] | None = None


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


def search_option(
    default: Any,
    help: str,
    flags: tuple[str, ...],
    *,
    low: float | None = None,
    high: float | None = None,
    show_default: str | None = None,
    status: bool = True,
    setting: bool = True,
) -> Any:
    """One search option's declaration, as a field of ``SearchOptions``: its default,
    ``--help`` text, CLI flags (typer spelling, ``--rerank/--no-rerank``), allowed range,
    the default as ``--help`` shows it when not the value itself, whether
    ``rag status`` lists it under ``search``, and whether it is a setting (config files
    and ``RAG_*`` may set it) or belongs to one query only."""
    meta = {"help": help, "flags": flags, "low": low, "high": high}
    meta |= {"show_default": show_default, "status": status, "setting": setting}
    return field(default=default, metadata={"search_option": meta})


# The kinds of sub-query a search may be given (``SearchOptions.searches``), each with
# the text that tells a caller (CLI help, the MCP/JSON schema) when to use it.
SUBQUERY_TYPES: dict[str, str] = {
    "lex": "Exact words, BM25 only: names, identifiers, config keys, error messages "
    "(SESSION_COOKIE_SECURE, send_file).",
    "vec": "Meaning, dense only: a question or description in plain words "
    "(how do I register a blueprint?).",
    "hyde": "A hypothetical passage, embedded as a document: write a sentence or two as "
    "you expect the answer to read in the documents.",
}
MAX_SUBQUERIES = 10
MAX_SUBQUERY_CHARS = 2000


@dataclass(frozen=True)
class SubQuery:
    """One sub-query of an expanded search: ``type`` lex, vec or hyde (SUBQUERY_TYPES)."""

    type: str
    query: str

    def to_dict(self) -> dict[str, str]:
        return {"type": self.type, "query": self.query}


def as_subqueries(given: Any) -> tuple[SubQuery, ...]:
    """Sub-queries as ``SubQuery`` values, from SubQuery, ``{"type", "query"}`` dicts or
    ``(type, query)`` pairs; each checked (type, text, length) and at most
    ``MAX_SUBQUERIES``, else a ``UsageError`` naming the problem."""
    from ragcli.errors import UsageError

    items = list(given or ())
    if len(items) > MAX_SUBQUERIES:
        raise UsageError(f"searches: {len(items)} sub-queries; at most {MAX_SUBQUERIES}")
    found = []
    for n, item in enumerate(items, 1):
        if isinstance(item, dict):
            kind, text = item.get("type"), item.get("query")
        elif isinstance(item, SubQuery):
            kind, text = item.type, item.query
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            kind, text = item
        else:
            raise UsageError(f"searches[{n}]: give {{type, query}}, not {item!r:.60}")
        if kind not in SUBQUERY_TYPES:
            choose = ", ".join(SUBQUERY_TYPES)
            raise UsageError(f"searches[{n}]: unknown type {kind!r}: choose one of {choose}")
        if not isinstance(text, str) or not text.strip():
            raise UsageError(f"searches[{n}] ({kind}): empty query")
        if len(text) > MAX_SUBQUERY_CHARS:
            raise UsageError(
                f"searches[{n}] ({kind}): {len(text)} characters; at most {MAX_SUBQUERY_CHARS}"
            )
        found.append(SubQuery(kind, text))
    return tuple(found)


@dataclass(frozen=True)
class SearchOptions:
    """Every search option, declared once: the name, type, default, range, help and flag
    of each. ``Settings`` (config files, ``RAG_*``), ``SearchParams``, ``RANGES``, the CLI's
    ``SEARCH`` bundle, the MCP/JSON search schema, ``rag status``, ``Index.search``'s
    keywords and the table in docs/configuration.md all come from these fields
    (``SEARCH_OPTIONS``); a new option is one more field here."""

    k: int = search_option(5, "Number of results.", ("-k", "--top-k"), low=1)
    mode: str = search_option(
        "hybrid", "hybrid (dense + BM25), dense (meaning) or sparse (exact words).", ("--mode",)
    )
    alpha: float = search_option(
        0.5,  # chosen by measurement (docs/retrieval.md, "Defaults")
        "Dense weight in hybrid: 1 = dense only, 0 = BM25 only.",
        ("--alpha",),
        low=0.0,
        high=1.0,
    )
    name_alpha: float = search_option(
        0.3,  # chosen by measurement (docs/retrieval.md, "Names")
        "Dense weight (linear fusion) for a query holding a code name (dtype.fields, "
        "snake_case, CamelCase, NPY201, --flag, a path), where exact words decide.",
        ("--name-alpha",),
        low=0.0,
        high=1.0,
    )
    fusion: str = search_option(
        "linear",
        "linear, adaptive, minmax, zscore, dbsf or rrf (docs/retrieval.md).",
        ("--fusion",),
    )
    pool_factor: int = search_option(
        5, "Candidates per side = pool factor * k.", ("--pool-factor",), low=1
    )
    # None: rerank when the cross-encoder is already on this machine (ragcli.rerank)
    rerank: bool | None = search_option(
        None,
        "Rerank with a cross-encoder; --rerank fetches the model if it is not here.",
        ("--rerank/--no-rerank",),
        show_default="when the model is on this machine",
        status=False,  # status shows it in its own "rerank" block
    )
    rerank_model: str = search_option(
        DEFAULT_RERANK_MODEL, "Cross-encoder name or folder.", ("--rerank-model",), status=False
    )
    rerank_depth: int = search_option(
        20, "Fused candidates the cross-encoder scores.", ("--rerank-depth",), low=1
    )
    # None: search keeps all hits, ask uses its own bar (answer.ANSWER_MIN_SCORE)
    min_score: float | None = search_option(
        None,
        "Drop hits whose raw cosine with the query is below this (dense and hybrid).",
        ("--min-score",),
        low=-1.0,  # a cosine
        high=1.0,
        status=False,
    )
    # Per query, not a setting: the caller's own expansions (docs/retrieval.md, "Sub-queries")
    searches: tuple[SubQuery, ...] = search_option(
        (),
        "Sub-queries fused with the query into one ranking, each of type lex (exact words, "
        "BM25 only), vec (a question, dense only) or hyde (a passage written as the answer "
        f"would read, dense); at most {MAX_SUBQUERIES}.",
        ("--lex", "--vec", "--hyde"),
        status=False,
        setting=False,
    )


@dataclass(frozen=True)
class SearchOption:
    """One declared search option as its consumers read it (``SEARCH_OPTIONS``)."""

    name: str
    kind: Any  # the field's type, e.g. ``int`` or ``bool | None``
    default: Any
    help: str
    flags: tuple[str, ...]
    low: float | None
    high: float | None
    show_default: str | None
    status: bool
    setting: bool

    @property
    def flag(self) -> str:
        """The long flag that names the option in messages: ``--top-k``, ``--rerank``."""
        return self.flags[-1].split("/")[0]

    @property
    def default_text(self) -> str | None:
        """The default as help texts show it; None when there is none to show."""
        if self.show_default is not None:
            return self.show_default
        return None if self.default is None or self.default == () else str(self.default)


def _declared_options() -> dict[str, SearchOption]:
    hints = typing.get_type_hints(SearchOptions)
    return {
        f.name: SearchOption(f.name, hints[f.name], f.default, **f.metadata["search_option"])
        for f in fields(SearchOptions)
    }


SEARCH_OPTIONS: dict[str, SearchOption] = _declared_options()
SEARCH_FIELDS: tuple[str, ...] = tuple(SEARCH_OPTIONS)


@dataclass(frozen=True)
class SearchParams(SearchOptions):
    """Every option of one search, resolved (``Settings.search_params`` builds it)."""

    filters: SearchFilter = field(default_factory=SearchFilter)

    def describe(self) -> dict[str, Any]:
        """The options as the ``--json`` result record names them (docs/commands.md)."""
        hybrid = self.mode == "hybrid"
        described = {
            "k": self.k,
            "mode": self.mode,
            "alpha": self.alpha if hybrid else None,
            "fusion": self.fusion if hybrid else None,
        }
        if self.searches:
            described["searches"] = [sub.to_dict() for sub in self.searches]
        return described

    def snippet_words(self, query: str) -> str:
        """The words a snippet centres on: the query's and the lex and vec sub-queries'
        (a hyde passage's words are a guess), else ``focus``."""
        words = [query, *(sub.query for sub in self.searches if sub.type != "hyde")]
        return " ".join(words).strip() or self.focus(query)

    def focus(self, query: str) -> str:
        """The one text that stands for the whole request where one is needed (the
        reranker's query, snippets): the query, else the first vec, lex, then hyde
        sub-query."""
        if query.strip() or not self.searches:
            return query
        for kind in ("vec", "lex", "hyde"):
            for sub in self.searches:
                if sub.type == kind:
                    return sub.query
        return query


def result_record(
    query: str, hits: list[Hit], params: SearchParams, freshness: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One query's results as `rag search --json` and the served search give them
    (docs/commands.md): the options, whether reranked, each hit with its snippet, and
    how current the index is (``freshness``) when it was checked."""
    from ragcli.text import snippet

    words = params.snippet_words(query)
    record = {
        "query": query,
        **params.describe(),
        "reranked": any(hit.rerank is not None for hit in hits),
        "results": [
            {**hit.to_dict(), "snippet": snippet(hit.chunk.text, words).to_dict()} for hit in hits
        ],
    }
    if freshness is not None:
        record["freshness"] = freshness
    return record
