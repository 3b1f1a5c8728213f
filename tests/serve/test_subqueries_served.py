"""Sub-queries over the wire: a real `rag serve` process, its JSON API over real HTTP and
its MCP endpoint through the official client, against `rag search --lex ... --json`."""

from __future__ import annotations

import asyncio
import json
import subprocess

import httpx
import pytest
from helpers_ingest import rag_command, run_rag
from helpers_serve import subprocess_project, wait_healthy
from llm_servers import free_port
from mcp import Client

pytestmark = pytest.mark.slow  # fresh `rag` processes

# BM25 only: the served project has no model (sparse mode, a stand-in encoder)
SEARCHES = [{"type": "lex", "query": "quokka"}, {"type": "lex", "query": "pangolin"}]


@pytest.fixture
def served(tmp_path, monkeypatch):
    root, env = subprocess_project(tmp_path, monkeypatch)
    port = free_port()
    argv = [*rag_command(), "serve", "--port", str(port), "--replicas", "1"]
    server = subprocess.Popen(argv, cwd=root, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, server=server)
        yield root, env, url
    finally:
        server.terminate()
        server.wait(timeout=30)


def cli_record(root, env) -> dict:
    done = run_rag(["search", "--lex", "quokka", "--lex", "pangolin", "--json"], cwd=root, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_json_api_takes_searches_as_the_cli_does(served):
    root, env, url = served
    answer = httpx.post(f"{url}/search", json={"searches": SEARCHES, "k": 5}, timeout=60)
    assert answer.status_code == 200, answer.text
    record = answer.json()
    assert record["searches"] == SEARCHES and record["query"] == ""
    assert {hit["source"] for hit in record["results"]} == {"docs/guide.md", "src/tool.py"}
    assert record == cli_record(root, env)
    bad = httpx.post(f"{url}/search", json={"searches": [{"type": "bm25", "query": "x"}]})
    assert bad.status_code == 400
    assert bad.json()["error"].startswith("search: searches.0.type: Input should be 'lex'")
    assert "pydantic" not in bad.text
    empty = httpx.post(f"{url}/search", json={"k": 3})
    assert empty.status_code == 400
    assert empty.json() == {"error": "search: give query, searches, or both"}


def test_mcp_search_tool_declares_and_takes_searches(served):
    root, env, url = served

    async def session():
        async with Client(f"{url}/mcp", read_timeout_seconds=120) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            found = await client.call_tool("search", {"searches": SEARCHES})
            refused = await client.call_tool("search", {"searches": [{"type": "lex"}]})
            return tools["search"], found, refused

    tool, found, refused = asyncio.run(session())
    schema = tool.input_schema
    searches = schema["properties"]["searches"]
    listed = searches["anyOf"][0]
    assert listed["maxItems"] == 10
    item = schema["$defs"][listed["items"]["$ref"].split("/")[-1]]
    assert item["properties"]["type"]["enum"] == ["lex", "vec", "hyde"]
    assert item["required"] == ["type", "query"]
    for kind in ("lex", "vec", "hyde"):
        assert f'"type": "{kind}"' in tool.description  # when to use each, with an example
    assert not found.is_error, found.content
    assert found.structured_content == cli_record(root, env) | {
        "freshness": found.structured_content["freshness"]
    }
    text = found.content[0].text
    assert text.startswith('2 results for lex "quokka" + lex "pangolin"')
    assert refused.is_error and refused.content[0].text.startswith("search: searches.0.query")
