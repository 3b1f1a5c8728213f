"""Bytes an agent receives from the MCP `search` tool: text content and structuredContent.

    cd PROJECT && python benchmarks/mcp_bytes.py   # the index found from here (.rag/)

The official MCP client in process against ``build_server``; five questions about the
Flask documentation (any index answers them, with other hits), k = 5, 10 and 100, and
`multi_get "**"` with ``max_documents: 1``. Prints the means.
"""

from __future__ import annotations

import asyncio
import json

from mcp import Client

from ragcli.index import Index
from ragcli.serve.mcp_server import build_server
from ragcli.serve.resident import Resident
from ragcli.serve.tools import Tools

QUERIES = [
    "how do I register a blueprint?",
    "application context teardown",
    "send_file",
    "how to configure sessions securely",
    "testing with the test client",
]


def text_bytes(result) -> int:
    return sum(len(block.text.encode()) for block in result.content)


async def main() -> None:
    tools = Tools(Resident(lambda: Index.locate(), 1))
    async with Client(build_server(tools)) as client:
        for k in (5, 10, 100):
            text = structured = 0
            for query in QUERIES:
                result = await client.call_tool("search", {"query": query, "k": k})
                text += text_bytes(result)
                structured += len(json.dumps(result.structured_content).encode())
            n = len(QUERIES)
            print(f"k={k}: text {text / n:,.0f} B per search ({text / n / k:,.0f} B per hit), "
                  f"structuredContent {structured / n:,.0f} B")  # fmt: skip
        many = await client.call_tool("multi_get", {"specs": "**", "max_documents": 1})
        structured = len(json.dumps(many.structured_content).encode())
        print(f'multi_get "**" max_documents=1: text {text_bytes(many):,} B, '
              f"structuredContent {structured:,} B")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
