"""Check a ragcli MCP server the way an agent meets it, with the official MCP client.

    python examples/mcp_client_check.py stdio "a query" -- rag mcp
    python examples/mcp_client_check.py http "a query" http://127.0.0.1:8181/mcp

Lists the tools and checks each one's title, annotations (read-only, closed world),
description and input/output schemas; calls each (search with the query, get with the
spec of the first hit, multi_get with its source, status), checks that the text content
is compact (not the JSON again) and that structuredContent holds the record; lists the
documents as resources and reads one. Prints one JSON summary line; exit 1 with one
line per problem when something is wrong.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from mcp import Client, StdioServerParameters

EXPECTED_TOOLS = {"search", "get", "multi_get", "status"}


def check_listing(tools: list, problems: list[str]) -> None:
    names = {tool.name for tool in tools}
    if not names >= EXPECTED_TOOLS:
        problems.append(f"tools: {sorted(names)}; expected {sorted(EXPECTED_TOOLS)}")
    for tool in tools:
        where = f"tool {tool.name}"
        if not tool.title:
            problems.append(f"{where}: no title")
        hints = tool.annotations
        if hints is None or hints.read_only_hint is not True:
            problems.append(f"{where}: not annotated read-only")
        elif tool.name != "ask" and hints.open_world_hint is not False:
            problems.append(f"{where}: not annotated closed-world")
        if "When to use" not in (tool.description or ""):
            problems.append(f"{where}: the description says not when to use it")
        output = tool.output_schema or {}
        if output.get("type") != "object" or not output.get("properties"):
            problems.append(f"{where}: no real output schema")
        if tool.input_schema.get("type") != "object":
            problems.append(f"{where}: no input schema")


async def call(client: Client, name: str, arguments: dict, problems: list[str]) -> Any:
    result = await client.call_tool(name, arguments)
    text = result.content[0].text if result.content else ""
    if result.is_error:
        problems.append(f"{name}: error {text}")
        return None, 0
    if result.structured_content is None:
        problems.append(f"{name}: no structuredContent")
    if text.lstrip().startswith("{"):
        problems.append(f"{name}: the text content is JSON, not what a model should read")
    return result.structured_content, len(text.encode())


async def exercise(client: Client, query: str) -> dict[str, Any]:
    problems: list[str] = []
    tools = (await client.list_tools()).tools
    check_listing(tools, problems)
    sizes: dict[str, int] = {}
    found, sizes["search"] = await call(client, "search", {"query": query, "k": 5}, problems)
    hits = (found or {}).get("results") or []
    if not hits:
        problems.append(f"search {query!r}: no hits")
    else:
        first = hits[0]
        _, sizes["get"] = await call(client, "get", {"spec": first["source"], "count": 20},
                                     problems)  # fmt: skip
        _, sizes["multi_get"] = await call(
            client, "multi_get", {"specs": [first["source"]], "max_bytes": 2000}, problems
        )
    status, sizes["status"] = await call(client, "status", {}, problems)
    if status is not None and "freshness" not in status:
        problems.append("status: no freshness")
    refused = await client.call_tool("search", {"query": query, "type": ["no-such-kind"]})
    message = refused.content[0].text if refused.content else ""
    if not refused.is_error or "\n" in message or "pydantic" in message:
        problems.append(f"an unknown type is not one clean error line: {message!r}")
    resources = await client.list_resources()
    if not resources.resources:
        problems.append("no documents listed as resources")
    else:
        read = await client.read_resource(resources.resources[0].uri)
        if not read.contents or not read.contents[0].text:
            problems.append(f"resource {resources.resources[0].uri}: empty")
    return {"tools": sorted(t.name for t in tools), "text_bytes": sizes, "problems": problems}


async def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[0] not in ("stdio", "http"):
        sys.stderr.write(__doc__ or "")
        return 2
    transport, query, rest = argv[0], argv[1], argv[2:]
    if transport == "stdio":
        command = rest[1:] if rest[0] == "--" else rest
        target: Any = StdioServerParameters(
            command=command[0], args=command[1:], env=dict(os.environ), cwd=os.getcwd()
        )
    else:
        target = rest[0]
    async with Client(target, read_timeout_seconds=120) as client:
        summary = await exercise(client, query)
    summary["transport"] = transport
    print(json.dumps(summary))
    for problem in summary["problems"]:
        sys.stderr.write(f"problem: {problem}\n")
    return 1 if summary["problems"] else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
