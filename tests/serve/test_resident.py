"""The resident side in-process: `ask` appears with a language model (a loopback Claude
server speaking the real wire protocol), a superseded generation's files are let go,
and `rag serve` refuses a public bind without a token before it loads anything."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import pytest
from helpers_ingest import clean_env
from helpers_serve import build_project, reindex, sparse_env, tools_for
from llm_servers import FakeServer, anthropic_stream
from mcp import Client
from starlette.testclient import TestClient
from typer.testing import CliRunner

from ragcli.cli import app
from ragcli.index import Index
from ragcli.serve.http import build_app
from ragcli.serve.mcp_server import build_server

KEY = "sk-ant-api03-LOOPBACK-serve-secret-0123456789"


@pytest.fixture
def project(tmp_path, monkeypatch):
    clean_env(monkeypatch, tmp_path)
    sparse_env(monkeypatch)
    root = build_project(tmp_path / "project")
    monkeypatch.chdir(root)
    return root


def test_ask_is_served_when_a_language_model_is_configured(project, monkeypatch):
    from ragcli.serve.run import _tools

    with FakeServer(default=anthropic_stream(["Run the quokka ", "command [1]."])) as llm:
        monkeypatch.setenv("RAG_LLM", "claude")
        monkeypatch.setenv("RAG_BASE_URL", llm.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        tools = _tools(lambda: Index(project / ".rag" / "default"), 1, warm=False)
        assert tools.names() == ["search", "get", "multi_get", "status", "ask"]

        async def session():
            async with Client(build_server(tools)) as client:
                listed = {tool.name: tool for tool in (await client.list_tools()).tools}
                answered = await client.call_tool("ask", {"question": "How do I run it?"})
                return listed, answered

        listed, answered = asyncio.run(session())
        with TestClient(
            build_app(tools, "127.0.0.1", 8181, None), base_url="http://127.0.0.1:8181"
        ) as http:
            posted = http.post("/ask", json={"question": "How do I run it?", "k": 2})
    assert listed["ask"].input_schema["required"] == ["question"]
    assert not answered.is_error, answered.content
    record = answered.structured_content
    assert record["answer"] == "Run the quokka command [1]."
    assert record["sources"][0]["source"] == "docs/guide.md"
    assert posted.status_code == 200 and posted.json()["answer"] == record["answer"]
    prompt = llm.posts()[0].json["messages"][0]["content"]
    assert "quokka" in prompt
    assert KEY not in posted.text


def held_files(folder: Path) -> list[str]:
    """Paths under ``folder`` this process has open or mapped."""
    held = [line.split(maxsplit=5)[-1] for line in Path("/proc/self/maps").read_text().splitlines()]
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # closed since listed
            held.append(os.readlink(f"/proc/self/fd/{fd}"))
    return sorted({path for path in held if str(folder) in path})


def test_a_superseded_generation_is_released(project):
    tools = tools_for(project)
    index_dir = project / ".rag" / "default"
    tools.call("search", {"query": "walrus3", "mode": "sparse"})
    old = index_dir / (index_dir / "CURRENT").read_text().strip()
    assert held_files(old), "the live generation is open"
    (project / "docs" / "new.md").write_text("# New\n\nThe axolotl regrows.\n")
    reindex(project)
    found = tools.call("search", {"query": "axolotl"})
    assert [hit["source"] for hit in found["results"]] == ["docs/new.md"]
    assert held_files(old) == []


def test_serve_refuses_a_public_bind_without_a_token(project):
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--port", "1"])
    assert result.exit_code == 2
    assert result.stderr.startswith("rag: error: binding 0.0.0.0 exposes the index")
    assert "RAG_SERVE_TOKEN" in result.stderr and "Traceback" not in result.output


def test_the_log_rotates_and_stdout_stays_empty(tmp_path, monkeypatch, capfd):
    import logging

    from ragcli.serve import daemon

    monkeypatch.setattr(daemon, "LOG_BYTES", 2000)
    path = tmp_path / "serve" / "8181-x.log"
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        daemon.setup_logging(path)
        for n in range(200):
            logging.getLogger("ragcli.serve").info("request %d answered", n)
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    kept = sorted(p.name for p in path.parent.iterdir())
    assert kept == ["8181-x.log", "8181-x.log.1", "8181-x.log.2", "8181-x.log.3"]
    assert all(p.stat().st_size <= 2100 for p in path.parent.iterdir())
    assert "request 199 answered" in path.read_text()
    assert capfd.readouterr().out == ""
