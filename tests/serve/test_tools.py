"""ragcli.serve.tools and the MCP server in-process: schemas, validation, the records."""

from __future__ import annotations

import asyncio
import json

import pytest
from helpers_ingest import clean_env
from helpers_serve import build_project, sparse_env, tools_for
from mcp import Client
from typer.testing import CliRunner

from ragcli.cli import app
from ragcli.errors import UsageError
from ragcli.serve.mcp_server import build_server


@pytest.fixture
def project(tmp_path, monkeypatch):
    clean_env(monkeypatch, tmp_path)
    sparse_env(monkeypatch)
    root = build_project(tmp_path / "project")
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def tools(project):
    return tools_for(project)


def cli_json(*args: str):
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_search_get_multi_get_status_equal_the_cli_json(tools):
    assert tools.call("search", {"query": "quokka walrus7"}) == cli_json("search", "quokka walrus7")
    filtered = {"query": "walrus7 walrus9 pangolin", "k": 3, "filter": ["docs/*"]}
    record = tools.call("search", filtered)
    assert {hit["source"] for hit in record["results"]} == {"docs/long.txt"}
    assert record == cli_json("search", filtered["query"], "-k", "3", "--filter", "docs/*")
    assert tools.call("get", {"spec": "docs/long.txt:5:3"}) == cli_json("get", "docs/long.txt:5:3")
    assert tools.call("multi_get", {"specs": "docs/*"}) == cli_json("get", "docs/*")
    assert tools.call("status", {}) == cli_json("status")


def test_search_files_and_line_numbers(tools):
    found = tools.call("search", {"query": "walrus3 pangolin", "files": True})
    assert found.pop("freshness")["stale"] is False
    assert found == {"query": "walrus3 pangolin", "files": ["src/tool.py", "docs/long.txt"]}
    numbered = tools.call("get", {"spec": "src/tool.py", "line_numbers": True})
    assert numbered["text"] == "1  def main():\n2      return 'pangolin'"


@pytest.mark.parametrize(
    ("name", "arguments", "message"),
    [
        ("search", {"query": "x", "top_k": 3}, "unknown parameter 'top_k'"),
        ("search", {"query": "x", "k": 0}, "k: Input should be greater than or equal to 1"),
        ("search", {"query": "x", "k": 1000}, "k: Input should be less than or equal to 100"),
        ("search", {"query": "x", "mode": "fuzzy"}, "mode: Input should be"),
        ("search", {}, "search: give query, searches, or both"),
        ("search", {"searches": [{"type": "bm25", "query": "x"}]}, "searches.0.type: Input"),
        ("search", {"searches": [{"type": "lex", "query": ""}]}, "searches.0.query: String"),
        ("search", {"searches": [{"type": "lex", "query": "x"}] * 11}, "searches: List should"),
        ("get", {"spec": "a", "max_bytes": 10**9}, "max_bytes"),
        ("ask", {"question": "why?"}, "unknown operation 'ask'"),
    ],
)
def test_bad_arguments_are_refused_with_a_clear_message(tools, name, arguments, message):
    with pytest.raises(UsageError, match=message):
        tools.call(name, arguments)


def test_ask_only_with_a_language_model(tools, monkeypatch):
    assert "ask" not in tools.names()
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    from ragcli.serve.tools import language_model

    assert language_model(tools.resident.settings.with_overrides(llm="claude")) is not None


def test_mcp_lists_tools_with_schemas_and_rejects_unknown_arguments(tools):
    async def session():
        async with Client(build_server(tools)) as client:
            listed = {tool.name: tool for tool in (await client.list_tools()).tools}
            unknown = await client.call_tool("get", {"spec": "src/tool.py", "lines": 3})
            missing = await client.call_tool("get", {"spec": "../etc/passwd"})
            found = await client.call_tool("search", {"query": "pangolin", "k": 1})
            return listed, unknown, missing, found

    listed, unknown, missing, found = asyncio.run(session())
    assert sorted(listed) == ["get", "multi_get", "search", "status"]
    search = listed["search"].input_schema
    assert "required" not in search  # query, searches, or both
    assert {"query", "searches", "k", "mode", "alpha", "filter", "type", "doc", "rerank"} <= set(
        search["properties"]
    )
    assert listed["search"].description.startswith("Search the index")
    assert unknown.is_error and "unknown parameter 'lines'" in unknown.content[0].text
    assert missing.is_error and "not in the index" in missing.content[0].text
    assert found.structured_content["results"][0]["source"] == "src/tool.py"


def test_search_takes_every_search_params_field_but_the_server_only_ones(tools):
    from ragcli.config import SEARCH_FIELDS
    from ragcli.serve.tools import SERVER_ONLY

    async def schema():
        async with Client(build_server(tools)) as client:
            listed = {tool.name: tool for tool in (await client.list_tools()).tools}
            return listed["search"].input_schema["properties"]

    properties = asyncio.run(schema())
    expected = {"query", *SEARCH_FIELDS, "filter", "type", "doc", "files", "max_bytes"}
    expected -= SERVER_ONLY
    assert set(properties) == expected and "rerank_model" not in properties
    assert properties["mode"]["anyOf"][0]["enum"] == ["dense", "sparse", "hybrid"]
    assert properties["alpha"]["anyOf"][0] == {"type": "number", "minimum": 0.0, "maximum": 1.0}
    options = {"query": "walrus7 walrus9 pangolin", "pool_factor": 1, "rerank_depth": 3}
    assert tools.call("search", options) == cli_json(
        "search", options["query"], "--pool-factor", "1", "--rerank-depth", "3"
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"pool_factor": 21}, "pool_factor: Input should be less than or equal to 20"),
        ({"rerank_depth": 0}, "rerank_depth: Input should be greater than or equal to 1"),
        ({"rerank_model": "/tmp/evil"}, "unknown parameter 'rerank_model'"),
    ],
)
def test_search_options_are_bounded(tools, arguments, message):
    with pytest.raises(UsageError, match=message):
        tools.call("search", {"query": "x", **arguments})


def test_each_answer_names_its_generation(project, tools):
    from helpers_serve import reindex

    tools.call("search", {"query": "pangolin"})
    assert tools.resident.generation() == 1
    (project / "docs" / "new.md").write_text("# New\n\nThe axolotl regrows.\n")
    reindex(project)
    found = tools.call("search", {"query": "axolotl"})
    assert found["results"][0]["source"] == "docs/new.md"
    assert tools.resident.generation() == 2
