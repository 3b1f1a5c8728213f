"""The real thing: `rag mcp` over stdio and `rag serve` over Streamable HTTP, driven by
the official MCP client, compared with `rag ... --json` run as separate processes, while
another process ingests into the index mid-session."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from helpers_ingest import rag_command, run_rag
from helpers_serve import subprocess_project, wait_healthy
from llm_servers import free_port
from mcp import Client, StdioServerParameters

pytestmark = pytest.mark.slow  # fresh `rag` processes
TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path, monkeypatch):
    return subprocess_project(tmp_path, monkeypatch)


def cli_json(root: Path, env: dict, *args: str) -> dict:
    done = run_rag([*args, "--json"], cwd=root, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def ingest_in_another_process(root: Path, env: dict, files: dict[str, str]) -> None:
    """Add ``files`` and ingest them from a separate python process (stand-in encoder)."""
    code = (
        "import sys, json; from pathlib import Path\n"
        f"sys.path.insert(0, {str(TESTS)!r})\n"
        "from helpers_ingest import write_files\n"
        "from helpers_serve import reindex\n"
        "root = Path(sys.argv[1]); write_files(root, json.loads(sys.argv[2])); reindex(root)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(root), json.dumps(files)],
                   check=True, env=env, timeout=120)  # fmt: skip


async def exercise(client: Client, root: Path, env: dict) -> None:
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert sorted(tools) == ["get", "multi_get", "search", "status"]
    assert tools["get"].input_schema["required"] == ["spec"]
    assert "start" in tools["get"].input_schema["properties"]

    async def call(name: str, arguments: dict) -> dict:
        result = await client.call_tool(name, arguments)
        assert not result.is_error, result.content
        return result.structured_content

    assert await call("search", {"query": "quokka walrus3"}) == cli_json(
        root, env, "search", "quokka walrus3"
    )
    assert await call("get", {"spec": "docs/long.txt:7:4"}) == cli_json(
        root, env, "get", "docs/long.txt:7:4"
    )
    assert await call("multi_get", {"specs": ["docs/*", "#rec-b"]}) == cli_json(
        root, env, "get", "docs/*", "#rec-b"
    )
    assert await call("status", {}) == cli_json(root, env, "status")
    refused = await client.call_tool("get", {"spec": "../../../etc/passwd"})
    assert refused.is_error and "not in the index" in refused.content[0].text
    unknown = await client.call_tool("search", {"query": "x", "limit": 3})
    assert unknown.is_error and "unknown parameter 'limit'" in unknown.content[0].text

    before = (await call("status", {}))["generation"]
    missing = await client.call_tool("search", {"query": "axolotl"})
    assert missing.structured_content["results"] == []
    assert missing.meta["ragcli/generation"] == before
    ingest_in_another_process(root, env, {"docs/new.md": "# New\n\nThe axolotl regrows.\n"})
    found = await client.call_tool("search", {"query": "axolotl"})
    assert [hit["source"] for hit in found.structured_content["results"]] == ["docs/new.md"]
    assert found.meta["ragcli/generation"] == before + 1
    assert (await call("status", {}))["generation"] == before + 1
    assert (await call("get", {"spec": "docs/new.md"}))["text"].startswith("# New")


def test_mcp_over_stdio(project):
    root, env = project
    command, *args = rag_command()
    params = StdioServerParameters(command=command, args=[*args, "mcp"], env=env, cwd=str(root))

    async def session():
        async with Client(params, read_timeout_seconds=120) as client:
            await exercise(client, root, env)

    asyncio.run(session())


@pytest.fixture
def http_server(project):
    root, env = project
    port = free_port()
    argv = [*rag_command(), "serve", "--port", str(port), "--replicas", "1"]
    server = subprocess.Popen(argv, cwd=root, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url)
        yield root, env, url
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert server.stdout.read() == b""  # nothing but the protocol, and HTTP has none


def test_mcp_over_streamable_http(http_server):
    root, env, url = http_server

    async def session():
        async with Client(f"{url}/mcp", read_timeout_seconds=120) as client:
            await exercise(client, root, env)

    asyncio.run(session())


def test_http_refuses_rebinding_and_traversal(http_server):
    root, env, url = http_server
    evil = httpx.post(f"{url}/search", json={"query": "quokka"},
                      headers={"Host": "evil.example"})  # fmt: skip
    assert evil.status_code == 403 and "Host" in evil.json()["error"]
    origin = httpx.post(f"{url}/mcp", json={}, headers={"Origin": "http://evil.example"})
    assert origin.status_code == 403
    traversal = httpx.get(f"{url}/get", params={"spec": "../../etc/passwd"})
    assert traversal.status_code == 404 and "not in the index" in traversal.json()["error"]
    assert httpx.post(f"{url}/search", json={"query": "quokka"}).json() == cli_json(
        root, env, "search", "quokka"
    )


def test_daemon_with_token_status_and_stop(project, tmp_path):
    root, env = project
    port = free_port()
    env = {**env, "RAG_SERVE_TOKEN": "t0ken-value"}
    started = run_rag(["serve", "--daemon", "--port", str(port), "--json"], cwd=root, env=env)
    assert started.returncode == 0, started.stderr
    record = json.loads(started.stdout)
    try:
        url = record["url"]
        assert url == f"http://127.0.0.1:{port}" and record["token"] is True
        assert httpx.get(f"{url}/health").status_code == 401
        wait_healthy(url, headers={"Authorization": "Bearer t0ken-value"})
        status = cli_json(root, env, "status")
        assert [s["pid"] for s in status["servers"]] == [record["pid"]]
        plain = run_rag(["status"], cwd=root, env=env).stdout
        assert f"server      {url}" in plain
        again = run_rag(["serve", "--daemon", "--port", str(port)], cwd=root, env=env)
        assert again.returncode == 1 and "already running" in again.stderr
        log = Path(record["log"]).read_text()
        assert "serving" in log and "t0ken-value" not in log
    finally:
        stopped = run_rag(["serve", "--stop", "--port", str(port)], cwd=root, env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert cli_json(root, env, "status")["servers"] == []
    with pytest.raises(OSError):
        os.kill(record["pid"], 0)
    assert run_rag(["serve", "--stop", "--port", str(port)], cwd=root, env=env).returncode == 1


def test_stdio_stdout_carries_only_the_protocol(project):
    """Every line `rag mcp` writes to stdout is a JSON-RPC message; logs go to its file."""
    root, env = project
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": {"name": "test", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
         "params": {"name": "search", "arguments": {"query": "quokka"}}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
         "params": {"name": "get", "arguments": {"spec": "/etc/passwd"}}},
    ]  # fmt: skip
    server = subprocess.Popen([*rag_command(), "mcp"], cwd=root, env=env, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)  # fmt: skip
    watchdog = threading.Timer(120, server.kill)
    watchdog.start()
    try:
        server.stdin.write("".join(json.dumps(m) + "\n" for m in messages))
        server.stdin.flush()
        replies = [json.loads(server.stdout.readline()) for _ in range(3)]
        server.stdin.close()  # the client is gone: the server ends
        rest, errors = server.stdout.read(), server.stderr.read()
        server.wait(timeout=60)
    finally:
        watchdog.cancel()
    assert sorted(reply["id"] for reply in replies) == [1, 2, 3] and rest == ""
    assert all(reply["jsonrpc"] == "2.0" for reply in replies)
    answers = {reply["id"]: reply["result"] for reply in replies}
    assert answers[2]["structuredContent"]["results"][0]["source"] == "docs/guide.md"
    assert answers[3]["isError"] is True
    assert "Traceback" not in errors
    logs = list((Path(env["RAG_CACHE_DIR"]) / "serve").glob("stdio-*.log"))
    assert len(logs) == 1 and "MCP over stdio" in logs[0].read_text()


def test_slow_clients_do_not_block_others(http_server):
    """Clients that send half a request, or never read their answer, hold no replica:
    another client is answered meanwhile (the server runs one replica here)."""
    root, env, url = http_server
    port = int(url.rsplit(":", 1)[1])
    stalled = []
    for _ in range(4):  # headers announcing a body that never comes
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(f"POST /search HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                     "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                     '{"query": '.encode())  # fmt: skip
        stalled.append(sock)
    for _ in range(4):  # whole requests for big answers, never read
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        body = json.dumps({"specs": ["docs/*", "src/*", "data/*"], "max_bytes": 2_000_000})
        sock.sendall(f"POST /multi_get HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n{body}".encode())  # fmt: skip
        stalled.append(sock)
    try:
        for _ in range(3):
            answer = httpx.post(f"{url}/search", json={"query": "quokka"}, timeout=20)
            assert answer.status_code == 200
            assert answer.json()["results"][0]["source"] == "docs/guide.md"
    finally:
        for sock in stalled:
            sock.close()
