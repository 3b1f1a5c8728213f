"""The served operations, declared once with their JSON-schema'd parameters.

MCP lists these methods as tools (their signatures become the input schemas) and the
JSON API validates request bodies against the same signatures (``call``), so an unknown
or ill-typed parameter is refused the same way on both, with a message naming it.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError
from typing_extensions import TypedDict  # pydantic needs this one on Python 3.11

from ragcli.errors import UsageError
from ragcli.types import MAX_SUBQUERIES, MAX_SUBQUERY_CHARS, SUBQUERY_TYPES, result_record

MAX_K = 100
MAX_QUERY_CHARS = 4000
MAX_SPECS = 100

Globs = Annotated[
    list[str] | None,
    Field(description="Only sources matching one of these gitignore-style globs.", max_length=50),
]


def _kinds() -> Any:
    """Every document kind the loaders make (``load.KINDS``), as an enumeration."""
    from ragcli.load import KINDS

    return Literal[tuple(sorted(KINDS))]


Kinds = Annotated[
    list[_kinds()] | None,  # type: ignore[valid-type]
    Field(description="Only these document kinds (status lists those indexed), e.g. "
          '["pdf"] or ["markdown", "rst"].', max_length=20),
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
K = Annotated[int | None, Field(description="Number of results (default 5).", ge=1, le=MAX_K)]
OptionalQuery = Annotated[
    str | None,
    Field(description="What to look for: a question or keywords. May be left out when "
          "searches are given.", min_length=1, max_length=MAX_QUERY_CHARS),
]  # fmt: skip


class SubQueryArgument(TypedDict):
    """One sub-query of ``searches`` (``ragcli.types.SUBQUERY_TYPES``)."""

    type: Annotated[
        Literal[tuple(SUBQUERY_TYPES)],  # type: ignore[valid-type]
        Field(description=" ".join(f"{kind}: {text}" for kind, text in SUBQUERY_TYPES.items())),
    ]
    query: Annotated[str, Field(min_length=1, max_length=MAX_SUBQUERY_CHARS)]


# Search options whose served type is not their declared one (checked, bounded shapes).
SERVED_KINDS: dict[str, Any] = {
    "searches": Annotated[list[SubQueryArgument], Field(max_length=MAX_SUBQUERIES)]
}

# The search tool takes every declared search option (types.SEARCH_OPTIONS) but these,
# typed, described and range-checked from the declaration, so a new option needs no change
# here; a tighter bound below is optional.
SERVER_ONLY = {"rerank_model"}  # a client may not make the server load a model of its choice
LIMITS = {"k": MAX_K, "pool_factor": 20, "rerank_depth": 100}  # bounded work per request


class Tools:
    """The operations of one served index (a ``Resident``)."""

    def __init__(self, resident, backend=None):
        self.resident = resident
        self.backend = backend  # the language model for ``ask``; None: no ask tool
        self.search = search_tool(self._search)
        self._validators: dict[str, Callable[..., dict[str, Any]]] = {}

    def _validated(self, name: str, method) -> Callable[..., dict[str, Any]]:
        """``method`` behind pydantic's argument check, built once per tool (building it
        costs more than a search's own work in Python: ~3.5 ms)."""
        validated = self._validators.get(name)
        if validated is None:
            from pydantic import validate_call

            validated = self._validators[name] = validate_call(method)
        return validated

    def names(self) -> list[str]:
        return ["search", "get", "multi_get", "status", *(["ask"] if self.backend else [])]

    def _search(self, query: str | None = None, **arguments: Any) -> dict[str, Any]:
        from ragcli.documents import hit_files
        from ragcli.types import SearchFilter, as_subqueries

        if arguments.get("searches") is not None:
            arguments["searches"] = as_subqueries(arguments["searches"])
        if not query and not arguments.get("searches"):
            raise UsageError("search: give query, searches, or both")
        query = query or ""
        files = arguments.pop("files", False)
        filters = SearchFilter(
            list(arguments.pop("filter", None) or []),
            list(arguments.pop("type", None) or []),
            list(arguments.pop("doc", None) or []),
        )
        with self.resident.index() as idx:
            params = search_params(idx.settings, filters, arguments)
            note = rerank_note(idx, params)
            if note is not None:  # reported in the answer; nothing fetched, torch not loaded
                params = dataclasses.replace(params, rerank=False)
            hits = idx.search(query, params=params)
            note = note or loading_problem(idx, params, hits)
            fresh = idx.freshness()
        if files:
            record = {"query": query, "files": hit_files(hits)}
            if params.searches:
                record["searches"] = [sub.to_dict() for sub in params.searches]
        else:
            record = result_record(query, hits, params)
        if note is not None:
            record["rerank_note"] = note
        record["freshness"] = fresh
        return record

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
        try:
            return self._validated(name, method)(**arguments)
        except ValidationError as err:
            raise UsageError(f"{name}: {validation_message(err)}") from None


def search_tool(run: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """``run(query, **options)`` with the search tool's signature: the query, the search
    options of ``SearchParams`` (``search_options``), the filters and ``files``."""

    def search(**arguments: Any) -> dict[str, Any]:
        return run(**arguments)

    keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
    parameters = [
        inspect.Parameter("query", keyword, annotation=OptionalQuery, default=None),
        *(inspect.Parameter(name, keyword, annotation=kind, default=None)
          for name, kind in search_options().items()),
        inspect.Parameter("filter", keyword, annotation=Globs, default=None),
        inspect.Parameter("type", keyword, annotation=Kinds, default=None),
        inspect.Parameter("doc", keyword, annotation=DocIds, default=None),
        inspect.Parameter("files", keyword, annotation=FilesOnly, default=False),
    ]  # fmt: skip
    search.__signature__ = inspect.Signature(parameters, return_annotation=dict[str, Any])
    search.__annotations__ = {p.name: p.annotation for p in parameters}
    search.__doc__ = SEARCH_DOC
    return search


SEARCH_DOC = (
    "Search the index (hybrid dense + BM25, optional rerank). Results give each chunk's "
    "source file, location (page, heading path, line range), score parts and text; read "
    "more of a source with `get`. Sub-queries in `searches` (lex, vec, hyde) are fused "
    "with the query into one ranking. Same JSON as `rag search --json`."
)


def search_options() -> dict[str, Any]:
    """``{name: annotated type}`` of each SearchParams field a client may set."""
    from ragcli.retrieve import FUSIONS, MODES
    from ragcli.types import SEARCH_OPTIONS

    choices = {"mode": MODES, "fusion": FUSIONS}
    options = {}
    for name, option in SEARCH_OPTIONS.items():
        if name in SERVER_ONLY:
            continue
        kind = Literal[choices[name]] if name in choices else option.kind
        kind = SERVED_KINDS.get(name, kind)
        high = LIMITS.get(name, option.high)
        described = Field(description=described_option(option), ge=option.low, le=high)
        options[name] = Annotated[kind | None, described]
    return options


def described_option(option) -> str:
    """A search option's help as the schema describes it, with its default."""
    shown = option.default_text
    return option.help if shown is None else f"{option.help} Default: {shown}."


def search_params(settings, filters, options: dict[str, Any]):
    """The SearchParams of one request: the server's settings with ``options`` applied
    (range-checked as a flag would be); options that are no setting go straight in."""
    from ragcli.config import check_range

    given = {name: value for name, value in options.items() if value is not None}
    known = {f.name for f in dataclasses.fields(settings)}
    params = settings.with_overrides(**{n: v for n, v in given.items() if n in known})
    params = params.search_params(filters)
    rest = {name: value for name, value in given.items() if name not in known}
    for name, value in rest.items():
        check_range(name, value, name)
    return dataclasses.replace(params, **rest) if rest else params


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


def rerank_note(idx, params) -> str | None:
    """Why a rerank the request asked for (``rerank: true``) cannot happen here, found
    without loading anything; None when it can or was not asked for. A server never
    fetches a model because a client asked."""
    if params.rerank is not True:
        return None
    from ragcli.rerank import unavailable

    return unavailable(params.rerank_model)


def loading_problem(idx, params, hits: list) -> str | None:
    """Why an asked-for rerank did not happen although the model is here (it failed to
    load: the reason was remembered)."""
    if params.rerank is not True or any(hit.rerank is not None for hit in hits) or not hits:
        return None
    return idx.rerankers.problems.get(params.rerank_model)  # reranking was tried: it exists


def language_model(settings):
    """The answering backend when a real language model is configured (an API key, a
    named backend, an Ollama answering), else None: the extractive stand-in is no model."""
    from ragcli.generate.select import choose_backend, make_backend

    if choose_backend(settings).name == "extractive":
        return None
    return make_backend(settings)
