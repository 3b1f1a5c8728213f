"""The served operations, declared once with their JSON-schema'd parameters.

MCP lists these methods as tools (their signatures become the input schemas) and the
JSON API validates request bodies against the same signatures (``call``), so an unknown
or ill-typed parameter is refused the same way on both, with a message naming it.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError

from ragcli.errors import UsageError
from ragcli.text import snippet

MAX_K = 100
MAX_QUERY_CHARS = 4000
MAX_SPECS = 100

Query = Annotated[
    str,
    Field(description="What to look for: a question or keywords.", min_length=1, max_length=4000),
]
K = Annotated[int | None, Field(description="Number of results (default 5).", ge=1, le=MAX_K)]
Mode = Annotated[
    Literal["hybrid", "dense", "sparse"] | None,
    Field(description="hybrid (default: dense + BM25), dense (meaning) or sparse (exact words)."),
]
Alpha = Annotated[
    float | None,
    Field(description="Dense weight in hybrid: 1 = dense only, 0 = BM25 only.", ge=0, le=1),
]
Fusion = Annotated[Literal["minmax", "rrf"] | None, Field(description="minmax (default) or rrf.")]
Rerank = Annotated[
    bool | None, Field(description="Rerank with the cross-encoder (default on when available).")
]
Globs = Annotated[
    list[str] | None,
    Field(description="Only sources matching one of these gitignore-style globs.", max_length=50),
]
Kinds = Annotated[
    list[str] | None,
    Field(description="Only these document types: pdf, markdown, html, code, text, jsonl.",
          max_length=20),
]  # fmt: skip
DocIds = Annotated[list[str] | None, Field(description="Only these document ids.", max_length=100)]
FilesOnly = Annotated[
    bool, Field(description="Return only the matching file paths, best first, each once.")
]
Spec = Annotated[
    str,
    Field(
        description="PATH[:LINE[:COUNT]] (a source as search results show it), "
        "#DOC_ID[:LINE[:COUNT]], or a chunk id; for a PDF LINE:COUNT are pages.",
        min_length=1,
        max_length=2000,
    ),
]
Start = Annotated[
    int | None, Field(description="First line (page for a PDF), 1-based; wins over the spec.", ge=1)
]
Count = Annotated[int | None, Field(description="Number of lines (pages for a PDF).", ge=1)]
MaxBytes = Annotated[
    int | None,
    Field(description="Cut the text at this many bytes (default 100000 for get, 20000 each "
          "for multi_get).", ge=1, le=2_000_000),
]  # fmt: skip
LineNumbers = Annotated[
    bool, Field(description="Put the line number in front of each line (a header per page).")
]
Specs = Annotated[
    list[str] | str,
    Field(description="A gitignore-style glob (papers/**/*.pdf), or a list of specs as for get.",
          max_length=MAX_SPECS),
]  # fmt: skip
MaxDocs = Annotated[
    int | None, Field(description="Most documents to return (default and limit 100).", ge=1, le=100)
]
Question = Annotated[str, Field(description="The question to answer.", min_length=1,
                                max_length=4000)]  # fmt: skip


class Tools:
    """The operations of one served index (a ``Resident``)."""

    def __init__(self, resident, backend=None):
        self.resident = resident
        self.backend = backend  # the language model for ``ask``; None: no ask tool

    def names(self) -> list[str]:
        return ["search", "get", "multi_get", "status", *(["ask"] if self.backend else [])]

    def search(
        self,
        query: Query,
        k: K = None,
        mode: Mode = None,
        alpha: Alpha = None,
        fusion: Fusion = None,
        rerank: Rerank = None,
        filter: Globs = None,
        type: Kinds = None,
        doc: DocIds = None,
        files: FilesOnly = False,
    ) -> dict[str, Any]:
        """Search the index (hybrid dense + BM25, optional rerank). Results give each chunk's
        source file, location (page, heading path, line range), score parts and text; read
        more of a source with `get`. Same JSON as `rag search --json`."""
        from ragcli.documents import hit_files
        from ragcli.types import SearchFilter

        overrides = {"k": k, "mode": mode, "alpha": alpha, "fusion": fusion, "rerank": rerank}
        with self.resident.index() as idx:
            params = idx.settings.with_overrides(**overrides).search_params(
                SearchFilter(list(filter or []), list(type or []), list(doc or []))
            )
            hits = idx.search(query, params=params)
        if files:
            return {"query": query, "files": hit_files(hits)}
        return result_record(query, hits, params)

    def get(
        self,
        spec: Spec,
        start: Start = None,
        count: Count = None,
        max_bytes: MaxBytes = None,
        line_numbers: LineNumbers = False,
    ) -> dict[str, Any]:
        """Read one indexed document, or a line range (page range for a PDF) of it, by
        path, #doc id or chunk id. Only documents in the index are served. Same JSON as
        `rag get --json`."""
        with self.resident.index() as idx:
            document = idx.get(spec, start=start, count=count, max_bytes=max_bytes)
        record = document.to_dict()
        if line_numbers:
            record["text"] = document.numbered()
        return record

    def multi_get(
        self, specs: Specs, max_bytes: MaxBytes = None, max_documents: MaxDocs = None
    ) -> dict[str, Any]:
        """Read several indexed documents at once: a glob or a list of paths/ids, each cut to
        max_bytes. Specs that match nothing are listed under "skipped"."""
        with self.resident.index() as idx:
            found = idx.multi_get(specs, max_bytes=max_bytes, max_documents=max_documents)
        return found.to_dict()

    def status(self) -> dict[str, Any]:
        """What is in the index: files, documents, chunks, kinds, embedding model, generation,
        last update, running servers. Same JSON as `rag status --json`."""
        from ragcli.serve.daemon import status_with_servers

        with self.resident.index() as idx:
            return status_with_servers(idx)

    def ask(
        self, question: Question, k: K = None, filter: Globs = None, type: Kinds = None
    ) -> dict[str, Any]:
        """Answer a question from the index with the configured language model, citing its
        sources as [n]. Same JSON as `rag ask --json`."""
        from ragcli.answer import ask
        from ragcli.types import SearchFilter

        with self.resident.index() as idx:
            settings = idx.settings.with_overrides(k=k)
            filters = SearchFilter(list(filter or []), list(type or []), [])
            result = ask(idx, question, settings, backend=self.backend, filters=filters)
        return result.to_dict()

    def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Run tool ``name`` with ``arguments`` checked against its signature (the JSON API)."""
        if name not in self.names():
            raise UsageError(f"unknown operation {name!r}")
        method = getattr(self, name)
        check_arguments(name, method, arguments)
        from pydantic import validate_call

        try:
            return validate_call(method)(**arguments)
        except ValidationError as err:
            raise UsageError(f"{name}: {validation_message(err)}") from None


def check_arguments(name: str, method, arguments: dict[str, Any]) -> None:
    """Refuse parameters ``method`` does not take (rather than ignore them)."""
    known = set(inspect.signature(method).parameters)
    unknown = sorted(set(arguments) - known)
    if unknown:
        raise UsageError(
            f"{name}: unknown parameter{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(map(repr, unknown))}; it takes {', '.join(sorted(known)) or 'none'}"
        )


def validation_message(err: ValidationError) -> str:
    parts = []
    for problem in err.errors()[:3]:
        where = ".".join(str(part) for part in problem["loc"]) or "arguments"
        parts.append(f"{where}: {problem['msg']}")
    return "; ".join(parts)


def result_record(query: str, hits: list, params) -> dict[str, Any]:
    """The `rag search --json` record (docs/commands.md)."""
    return {
        "query": query,
        **params.describe(),
        "reranked": any(hit.rerank is not None for hit in hits),
        "results": [
            {**hit.to_dict(), "snippet": snippet(hit.chunk.text, query).to_dict()} for hit in hits
        ],
    }


def language_model(settings):
    """The answering backend when a real language model is configured (an API key, a
    named backend, an Ollama answering), else None: the extractive stand-in is no model."""
    from ragcli.generate.select import choose_backend, make_backend

    if choose_backend(settings).name == "extractive":
        return None
    return make_backend(settings)
