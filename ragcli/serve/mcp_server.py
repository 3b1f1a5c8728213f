"""The MCP server (official ``mcp`` SDK): the ``Tools`` methods as MCP tools.

``rag mcp`` runs it over stdio (stdout carries only the protocol; logs go to the log
file); ``rag serve`` mounts its Streamable HTTP app at ``/mcp`` (ragcli.serve.http).
"""

from __future__ import annotations

import functools
import json
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from ragcli.errors import RagError
from ragcli.serve.tools import Tools, check_arguments

INSTRUCTIONS = (
    "Search a local document index (ragcli). Use `search` to find passages (each result "
    "names its source file and location), then `get` to read a line range or page of a "
    "source, or `multi_get` for several files at once. Answers come only from indexed "
    "documents."
)


class RagMCPServer(MCPServer):
    """An MCPServer that refuses tool arguments the tool does not declare (the SDK would
    drop them silently, and a caller would never learn its filter was ignored)."""

    def __init__(self, tools: Tools, **kwargs: Any):
        super().__init__(**kwargs)
        self.rag_tools = tools

    async def call_tool(self, name: str, arguments: dict[str, Any], context=None):
        if name in self.rag_tools.names():
            try:
                check_arguments(name, getattr(self.rag_tools, name), arguments or {})
            except RagError as err:
                raise ToolError(str(err)) from None
        return await super().call_tool(name, arguments, context)


GENERATION_META = "ragcli/generation"


def _as_tool(method, resident):
    """``method`` raising ``ToolError`` for a user's error, so its one-line message (not a
    generic "error executing tool") reaches the client; its result carries in ``_meta``
    the generation that answered (``GENERATION_META``)."""
    from mcp.types import CallToolResult, TextContent

    @functools.wraps(method)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            record = method(*args, **kwargs)
        except RagError as err:
            raise ToolError(str(err)) from None
        text = json.dumps(record, indent=2, ensure_ascii=False)
        return CallToolResult(
            content=[TextContent(type="text", text=text)],
            structured_content=record,
            _meta={GENERATION_META: resident.generation()},
        )

    return run


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ragcli")
    except PackageNotFoundError:
        return "0"


def build_server(tools: Tools) -> RagMCPServer:
    server = RagMCPServer(
        tools,
        name="ragcli",
        version=_version(),
        instructions=INSTRUCTIONS,
        log_level="WARNING",
    )
    for name in tools.names():
        server.add_tool(
            _as_tool(getattr(tools, name), tools.resident), name=name, structured_output=True
        )
    return server


def run_stdio(tools: Tools) -> None:
    """Serve MCP over stdin/stdout until the client closes stdin."""
    import anyio

    server = build_server(tools)
    anyio.run(server.run_stdio_async)
