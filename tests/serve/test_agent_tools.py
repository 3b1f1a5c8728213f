"""What an agent gets from the MCP server (in process, the official client): compact text
within a byte budget, titles, annotations, output schemas, enumerated kinds, one-line
errors, live instructions, documents as resources; freshness; rerank reasons."""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from helpers_ingest import clean_env
from helpers_serve import build_project, sparse_env, tools_for
from mcp import Client

from ragcli import freshness
from ragcli.serve import mcp_server
from ragcli.serve.mcp_server import build_server


@pytest.fixture
def project(tmp_path, monkeypatch):
    clean_env(monkeypatch, tmp_path)
    sparse_env(monkeypatch)
    freshness.forget()
    root = build_project(tmp_path / "project")
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def tools(project):
    return tools_for(project)


def session(tools, work):
    async def run():
        async with Client(build_server(tools)) as client:
            return await work(client)

    return asyncio.run(run())


def test_search_text_is_a_numbered_list_within_the_byte_budget(tools):
    async def work(client):
        wide = await client.call_tool("search", {"query": "walrus line notes", "k": 10})
        tight = await client.call_tool(
            "search", {"query": "walrus line notes", "k": 10, "max_bytes": 700}
        )
        return wide, tight

    wide, tight = session(tools, work)
    text = wide.content[0].text
    hits = wide.structured_content["results"]
    assert len(hits) == 10 and text.startswith('10 results for "walrus line notes"')
    for hit in hits:  # each hit: rank, source, its lines, the get spec reading them
        where = hit["location"]
        span = where["line_end"] - where["line_start"] + 1
        assert f"[{hit['rank']}] {hit['source']} · lines {where['line_start']}-" in text
        assert f"get {hit['source']}:{where['line_start']}:{span}" in text
    assert '"results"' not in text and '"scores"' not in text  # not the JSON again
    assert len(text.encode()) < len(json.dumps(wide.structured_content)) / 2
    small = tight.content[0].text
    assert len(small.encode()) <= 700
    assert "more hits not shown" in small and tight.structured_content == wide.structured_content


def test_tools_have_titles_annotations_and_real_output_schemas(tools):
    from ragcli.load import KINDS

    listed = session(tools, lambda client: client.list_tools())
    by_name = {tool.name: tool for tool in listed.tools}
    for tool in by_name.values():
        assert tool.title and tool.annotations.read_only_hint is True
        assert tool.annotations.open_world_hint is False
        assert "When to use" in tool.description and "\n    " not in tool.description
        assert tool.output_schema["type"] == "object" and tool.output_schema["properties"]
    search = by_name["search"]
    assert {"results", "freshness", "reranked"} <= set(search.output_schema["properties"])
    kinds = search.input_schema["properties"]["type"]["anyOf"][0]["items"]["enum"]
    assert kinds == sorted(KINDS)
    assert "start=201" in by_name["get"].description  # how to page through a document
    assert 'mode="sparse"' in search.description  # names vs questions


def test_errors_are_one_line_without_library_urls(tools):
    async def work(client):
        return [
            await client.call_tool("search", {"query": "x", "type": ["spreadsheet"]}),
            await client.call_tool("search", {"query": "x", "k": "many"}),
            await client.call_tool("get", {"spec": "docs/guide.md", "start": 0}),
        ]

    for result in session(tools, work):
        message = result.content[0].text
        assert result.is_error and "\n" not in message
        assert "pydantic" not in message and "http" not in message
    assert "'rst'" in session(tools, work)[0].content[0].text  # the kinds are listed


def test_instructions_describe_the_live_index(tools, project):
    async def work(client):
        return client.instructions

    text = session(tools, work)
    assert "5 documents" in text and "generation 1" in text and "markdown (1)" in text
    (project / "docs" / "guide.md").write_text("# Guide\n\nChanged.\n")
    freshness.forget()
    assert "1 changed" in session(tools, work)


def test_documents_are_paginated_resources(tools, monkeypatch):
    monkeypatch.setattr(mcp_server, "RESOURCES_PAGE", 2)

    async def work(client):
        pages, cursor = [], None
        while True:
            page = await client.list_resources(cursor=cursor)
            pages.append([str(r.uri) for r in page.resources])
            cursor = page.next_cursor
            if cursor is None:
                break
        part = await client.read_resource("rag://documents/docs%2Flong.txt?start=3&count=2")
        return pages, part

    pages, part = session(tools, work)
    assert [len(page) for page in pages] == [2, 2, 1]
    assert "rag://documents/rec-a" in sum(pages, [])
    text = part.contents[0].text
    assert text.startswith("docs/long.txt (text) lines 3-4 of 400")
    assert "line 3 of the long notes" in text and "line 5 " not in text


def test_multi_get_summarises_what_it_skipped(tools):
    record = tools.call("multi_get", {"specs": ["**", "nope.md"], "max_documents": 1})
    assert len(record["documents"]) == 1 and record["skipped_total"] == 5
    assert [s["spec"] for s in record["skipped"]] == ["nope.md", "data/corpus.jsonl and 3 more"]
    assert record["skipped"][1]["count"] == 4


def test_freshness_counts_changed_new_and_deleted_files(tools, project):
    fresh = tools.call("status", {})["freshness"]
    assert fresh == {"generation": 1, "checked": True, "stale": False, "changed": 0,
                     "appeared": 0, "vanished": 0, "examples": []}  # fmt: skip
    (project / "docs" / "guide.md").write_text("# Guide\n\nInstall with uv.\n")
    (project / "docs" / "new.md").write_text("# New\n")
    (project / "src" / "tool.py").unlink()
    freshness.forget()
    found = tools.call("search", {"query": "pangolin"})["freshness"]
    assert (found["changed"], found["appeared"], found["vanished"]) == (1, 1, 1)
    assert found["examples"] == ["docs/guide.md (changed)", "docs/new.md (new)",
                                 "src/tool.py (deleted)"]  # fmt: skip
    assert tools.call("status", {})["freshness"] == found


def test_files_left_out_by_an_earlier_ingest_do_not_count_as_new(tools, project):
    old = project / "docs" / "empty.md"
    old.write_text("")  # no text: ingest skips it
    past = os.stat(project / "docs" / "guide.md").st_mtime - 3600
    os.utime(old, (past, past))
    freshness.forget()
    # ctime says it was created now, after the ingest: it is new (rag ingest would try it)
    assert tools.call("status", {})["freshness"]["appeared"] == 1
    from ragcli.ingest.plan import stat_changes

    assert stat_changes([], {}, [], since=None).appeared == []


def test_a_slow_check_is_reported_not_waited_for(project, monkeypatch):
    from ragcli.index import Index

    started = []

    def slow_compare(manifest, known, base):
        started.append(1)
        import time

        time.sleep(1.0)
        return freshness.Freshness(manifest.get("generation"), True)

    monkeypatch.setattr(freshness, "_compare", slow_compare)
    idx = Index(project / ".rag" / "default")
    first = freshness.report(idx.store, wait=0.05)
    assert first["checked"] is False and "over 0.05 s" in first["reason"]
    import time

    time.sleep(1.2)
    assert freshness.report(idx.store, wait=0.05)["checked"] is True
    assert len(started) == 1  # one check, not one per answer


def test_rerank_asked_for_but_impossible_is_reported_without_loading(tools, monkeypatch):
    monkeypatch.setenv("RAG_RERANK_MODEL", "nobody/no-such-reranker")
    tools = tools_for(tools.resident.first.base_dir)
    record = tools.call("search", {"query": "pangolin", "rerank": True})
    assert record["reranked"] is False
    assert "nobody/no-such-reranker is not on this machine" in record["rerank_note"]
    assert "rerankers" not in tools.resident.first.__dict__  # no loader was even made
    text = session(tools, lambda c: c.call_tool("search", {"query": "x", "rerank": True}))
    assert "Not reranked: the rerank model" in text.content[0].text
