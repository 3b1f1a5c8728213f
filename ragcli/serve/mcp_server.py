"""The MCP server (official ``mcp`` SDK): the ``Tools`` methods as MCP tools, the indexed
documents as resources.

``rag mcp`` runs it over stdio (stdout carries only the protocol; logs go to the log
file); ``rag serve`` mounts its Streamable HTTP app at ``/mcp`` (ragcli.serve.http).

Each tool result carries the full record (the `rag ... --json` one) in
``structuredContent``, described by a real output schema (``ragcli.serve.schemas``), and
in its text content only what a model should read (``ragcli.serve.compact``): a numbered
list of hits, a document with a header, a few lines of status, within a byte budget.
"""

from __future__ import annotations

import functools
import inspect
import logging
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field, ValidationError

from ragcli.errors import RagError
from ragcli.serve import compact, schemas
from ragcli.serve.tools import Tools, check_arguments, validation_message

log = logging.getLogger("ragcli.serve")
GENERATION_META = "ragcli/generation"
RESOURCE_SCHEME = "rag"
RESOURCE_PREFIX = "rag://documents/"
RESOURCES_PAGE = 100  # resources listed per page (resources/list is paginated)

SearchBytes = Annotated[
    int | None,
    Field(
        description="Byte budget of the text this result shows (default "
        f"{compact.DEFAULT_SEARCH_BYTES}): passages are narrowed, then the last hits left "
        "out (counted). structuredContent always has every hit in full.",
        ge=compact.MIN_SEARCH_BYTES,
        le=compact.MAX_SEARCH_BYTES,
    ),
]

SEARCH_DESCRIPTION = """\
Search the indexed documents; returns the best passages, each with its source file, \
location (line range, page or heading) and the matching text.

When to use: before answering anything the indexed documents may cover; then read more \
around a hit with `get`. Two kinds of query work differently:
- names and exact terms (function names, error messages, config keys: \
"send_file", "SESSION_COOKIE_SECURE") match best with mode="sparse" (BM25 only);
- questions in plain words ("how do I register a blueprint?") match best with the \
default mode="hybrid" (meaning + words).
Expand a query yourself with searches, a list of up to 10 sub-queries fused with the \
query (which may then be left out) into one ranking: {"type": "lex", "query": ...} for \
exact names and terms (BM25 only), {"type": "vec", ...} for a question or a rephrasing \
(meaning only), {"type": "hyde", ...} for a sentence or two written as you expect the \
answer to read in the documents. Example: searches=[{"type": "lex", "query": \
"SESSION_COOKIE_SECURE"}, {"type": "vec", "query": "how do I make the session cookie \
HTTPS only?"}].
Narrow with filter (globs such as "docs/**/*.md"), type (document kinds) or doc (ids). \
files=true lists only the matching files. Bound the text with max_bytes; k sets how many \
hits (default 5). The text shows one line per hit: [rank] source · location · score · \
the `get` spec that reads exactly that passage."""

GET_DESCRIPTION = """\
Read one indexed document, or part of it: by source path (as search shows it), #DOC_ID \
or chunk id, with an optional range PATH:LINE:COUNT (pages for a PDF, slides for a deck).

When to use: after `search`, to read around a hit (each hit shows its spec) or a whole \
short file. Paging through a long document: get(spec="docs/guide.md", start=1, \
count=200), then start=201, and so on; the header line says which lines were returned \
of how many, and when the text was cut at max_bytes (default 100000) where to continue. \
line_numbers=true prefixes each line with its number. Only indexed documents are \
served; anything else is "not in the index"."""

MULTI_GET_DESCRIPTION = """\
Read several indexed documents at once: a gitignore-style glob ("docs/**/*.rst") or a \
list of specs as for `get`, each cut to max_bytes (default 20000), at most \
max_documents (default and limit 100).

When to use: to read a few related files together, or every file of a folder. For one \
long document, page through it with `get` instead. Specs that match nothing, and \
documents beyond max_documents, are summarised under "skipped" with a count."""

STATUS_DESCRIPTION = """\
What the index holds and whether it is current: documents, chunks, kinds, the folders \
ingested, the embedding model, the generation and when it was written, and how many \
files changed, appeared or vanished in those folders since (freshness).

When to use: to learn what can be searched (which kinds, which folders) or to check \
whether an answer may be missing recent edits."""

ASK_DESCRIPTION = """\
Answer a question from the indexed documents with the server's language model, citing \
sources as [n]. Prefer `search` and reading the passages yourself when you can; use \
this for a quick cited answer."""

READ_ONLY = {"read_only_hint": True, "destructive_hint": False, "idempotent_hint": True,
             "open_world_hint": False}  # fmt: skip
TOOL_INFO: dict[str, dict[str, Any]] = {
    "search": {"title": "Search the documents", "description": SEARCH_DESCRIPTION,
               "text": compact.search_text, "schema": schemas.SearchRecord},
    "get": {"title": "Read a document", "description": GET_DESCRIPTION,
            "text": compact.document_text, "schema": schemas.DocumentRecord},
    "multi_get": {"title": "Read several documents", "description": MULTI_GET_DESCRIPTION,
                  "text": compact.multi_get_text, "schema": schemas.MultiGetRecord},
    "status": {"title": "Index status and freshness", "description": STATUS_DESCRIPTION,
               "text": compact.status_text, "schema": schemas.StatusRecord},
    "ask": {"title": "Answer with citations", "description": ASK_DESCRIPTION,
            "text": compact.ask_text, "schema": schemas.AskRecord,
            # a language model, possibly a remote service
            "annotations": {**READ_ONLY, "idempotent_hint": False, "open_world_hint": True}},
}  # fmt: skip
TEXT_BUDGET = {"search": "max_bytes"}  # tools whose text takes a budget of its own


class RagMCPServer(MCPServer):
    """An MCPServer that refuses tool arguments the tool does not declare (the SDK would
    drop them silently, and a caller would never learn its filter was ignored), reports
    invalid arguments in one line without library URLs, keeps its ``instructions`` in
    step with the index, and serves the indexed documents as resources."""

    def __init__(self, tools: Tools, **kwargs: Any):
        super().__init__(**kwargs)
        self.rag_tools = tools
        self._instructions_generation: int | None = None

    async def call_tool(self, name: str, arguments: dict[str, Any], context=None):
        if name in self.rag_tools.names():
            try:
                check_arguments(name, _signature_of(self.rag_tools, name), arguments or {})
            except RagError as err:
                raise ToolError(str(err)) from None
        try:
            result = await super().call_tool(name, arguments, context)
        except ToolError as err:
            cause = err.__cause__
            if isinstance(cause, ValidationError):
                raise ToolError(f"{name}: {validation_message(cause)}") from None
            raise ToolError(str(err).removeprefix(f"Error executing tool {name}: ")) from None
        self._refresh_instructions(getattr(result, "meta", None) or {})
        return result

    def _refresh_instructions(self, meta: dict[str, Any]) -> None:
        """New sessions get instructions describing the generation now served."""
        generation = meta.get(GENERATION_META)
        if generation is None or generation == self._instructions_generation:
            return
        self._instructions_generation = generation
        try:
            self._lowlevel_server.instructions = live_instructions(self.rag_tools)
        except Exception as err:  # noqa: BLE001 (the old text stays; the tools still work)
            log.warning("instructions not refreshed: %s", err)

    # resources: the indexed documents -------------------------------------------------
    async def _handle_list_resources(self, ctx, params):
        import anyio
        from mcp.types import ListResourcesResult

        cursor = getattr(params, "cursor", None) if params is not None else None
        resources, next_cursor = await anyio.to_thread.run_sync(self._resource_page, cursor)
        return ListResourcesResult(resources=resources, next_cursor=next_cursor)

    def _resource_page(self, cursor: str | None):
        from mcp.types import Resource

        try:
            offset = int(cursor or 0)
        except ValueError:
            offset = -1
        if offset < 0:
            from mcp.shared.exceptions import MCPError
            from mcp.types import INVALID_PARAMS

            raise MCPError(code=INVALID_PARAMS, message=f"invalid cursor {cursor!r}")
        with self.rag_tools.resident.index() as idx:
            documents = sorted(idx.fresh_store().documents(), key=lambda d: (d.source, d.doc_id))
        page = documents[offset : offset + RESOURCES_PAGE]
        resources = [
            Resource(
                uri=resource_uri(doc.doc_id),
                name=doc.source if doc.source == doc.doc_id else f"{doc.source}#{doc.doc_id}",
                title=doc.title or None,
                description=f"{doc.kind} document {doc.source}",
                mime_type="text/plain",
            )
            for doc in page
        ]
        more = offset + RESOURCES_PAGE < len(documents)
        return resources, str(offset + RESOURCES_PAGE) if more else None

    async def _handle_read_resource(self, ctx, params):
        uri = str(params.uri)
        if not uri.startswith(RESOURCE_PREFIX):
            return await super()._handle_read_resource(ctx, params)
        import anyio
        from mcp.shared.exceptions import MCPError
        from mcp.types import INVALID_PARAMS, ReadResourceResult, TextResourceContents

        try:
            spec, options = parse_resource_uri(uri)
            record = await anyio.to_thread.run_sync(
                functools.partial(self.rag_tools.call, "get", {"spec": spec, **options})
            )
        except RagError as err:
            raise MCPError(code=INVALID_PARAMS, message=str(err), data={"uri": uri}) from None
        text = compact.document_text(record)
        meta = {"ragcli/document": {k: v for k, v in record.items() if k != "text"}}
        return ReadResourceResult(
            contents=[TextResourceContents(uri=uri, text=text, mime_type="text/plain", _meta=meta)]
        )


def resource_uri(doc_id: str) -> str:
    return RESOURCE_PREFIX + quote(doc_id, safe="")


def parse_resource_uri(uri: str) -> tuple[str, dict[str, Any]]:
    """``rag://documents/<doc id>?start=&count=&max_bytes=`` -> (``#id``, get options)."""
    from ragcli.errors import UsageError

    parts = urlsplit(uri)
    doc_id = unquote(parts.path.lstrip("/"))
    if not doc_id:
        raise UsageError(f"{uri}: no document id (rag://documents/<doc id>)")
    options: dict[str, Any] = {}
    for name, values in parse_qs(parts.query).items():
        if name not in ("start", "count", "max_bytes") or not values[-1].isdigit():
            raise UsageError(f"{uri}: {name} must be start, count or max_bytes, a number")
        options[name] = int(values[-1])
    return f"#{doc_id}", options


def _signature_of(tools: Tools, name: str):
    """What the MCP tool ``name`` takes: the method's parameters plus its text budget."""
    method = getattr(tools, name)
    budget = TEXT_BUDGET.get(name)
    if budget is None:
        return _evaluated(method)

    def with_budget(**_arguments: Any) -> None:
        return None

    parameters = [*inspect.signature(method, eval_str=True).parameters.values()]
    parameters.append(
        inspect.Parameter(
            budget, inspect.Parameter.KEYWORD_ONLY, annotation=SearchBytes, default=None
        )
    )
    with_budget.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return with_budget


def _evaluated(method):
    """A stand-in with ``method``'s signature, its annotations evaluated (they are strings
    under ``from __future__ import annotations``)."""

    def same(**_arguments: Any) -> None:
        return None

    same.__signature__ = inspect.signature(method, eval_str=True)  # type: ignore[attr-defined]
    return same


def _as_tool(name: str, tools: Tools):
    """The tool ``name``: raises ``ToolError`` for a user's error, so its one-line message
    (not a generic "error executing tool") reaches the client; answers with the compact
    text, the full record in ``structuredContent`` and in ``_meta`` the generation that
    answered (``GENERATION_META``)."""
    from mcp.types import CallToolResult, TextContent

    method = getattr(tools, name)
    info = TOOL_INFO[name]
    budget = TEXT_BUDGET.get(name)

    def run(**kwargs: Any) -> Any:
        limit = kwargs.pop(budget, None) if budget else None
        try:
            record = method(**kwargs)
        except RagError as err:
            raise ToolError(str(err)) from None
        text = info["text"](record, limit) if budget else info["text"](record)
        return CallToolResult(
            content=[TextContent(type="text", text=text)],
            structured_content=record,
            _meta={GENERATION_META: tools.resident.generation()},
        )

    signature = inspect.signature(_signature_of(tools, name))
    run.__signature__ = signature.replace(return_annotation=info["schema"])  # type: ignore[attr-defined]
    run.__annotations__ = {
        **{p.name: p.annotation for p in signature.parameters.values()},
        "return": info["schema"],
    }
    run.__name__ = name
    return run


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ragcli")
    except PackageNotFoundError:
        return "0"


def live_instructions(tools: Tools) -> str:
    """The server's instructions: how to use the tools, and what the index holds now."""
    record = tools.status()
    counts = record.get("counts") or {}
    kinds = ", ".join(f"{kind} ({n})" for kind, n in list((record.get("kinds") or {}).items())[:20])
    roots = record.get("roots") or []
    shown_roots = ", ".join(roots[:5]) + (f" and {len(roots) - 5} more" if len(roots) > 5 else "")
    lines = [
        "Search a local document index (ragcli) and read its documents. Use `search` to "
        "find passages (each hit names its source, location and a `get` spec), then `get` "
        "to read around a hit or page through a document, `multi_get` for several files, "
        "`status` for what is indexed and whether it is current. Answers come only from "
        "indexed documents; cite the source paths.",
        f"The index holds {counts.get('documents', 0)} documents "
        f"({counts.get('chunks', 0)} chunks) of kinds {kinds or 'none'}, from "
        f"{shown_roots or 'no folder'}; generation {record.get('generation')} was written "
        f"at {record.get('updated_at')}.",
    ]
    fresh = record.get("freshness") or {}
    stale = compact.freshness_line(fresh)
    if stale:
        lines.append(stale)
    elif fresh.get("checked"):
        lines.append("It was up to date with its folders when this session began.")
    return "\n".join(lines)


def build_server(tools: Tools) -> RagMCPServer:
    from mcp.types import ToolAnnotations

    try:
        instructions = live_instructions(tools)
    except RagError as err:
        instructions = f"Search a local document index (ragcli). ({err})"
    server = RagMCPServer(
        tools,
        name="ragcli",
        title="ragcli document index",
        version=_version(),
        instructions=instructions,
        log_level="WARNING",
    )
    for name in tools.names():
        info = TOOL_INFO[name]
        server.add_tool(
            _as_tool(name, tools),
            name=name,
            title=info["title"],
            description=info["description"],
            annotations=ToolAnnotations(title=info["title"], **info.get("annotations", READ_ONLY)),
            structured_output=True,
        )
    return server


def run_stdio(tools: Tools) -> None:
    """Serve MCP over stdin/stdout until the client closes stdin."""
    import anyio

    server = build_server(tools)
    anyio.run(server.run_stdio_async)
