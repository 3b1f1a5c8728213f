"""examples/mcp_client_check.py, the official MCP client's view of the server, run against
`rag mcp` (stdio) and `rag serve` (Streamable HTTP): every tool listed with its title,
annotations and schemas, and called."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers_ingest import rag_command
from helpers_serve import subprocess_project, wait_healthy
from llm_servers import free_port

pytestmark = pytest.mark.slow  # fresh `rag` processes
SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "mcp_client_check.py"


@pytest.fixture
def project(tmp_path, monkeypatch):
    return subprocess_project(tmp_path, monkeypatch)


def check(root: Path, env: dict, *target: str) -> dict:
    done = subprocess.run([sys.executable, str(SCRIPT), *target], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["problems"] == [] and summary["tools"] == [
        "get",
        "multi_get",
        "search",
        "status",
    ]
    assert 0 < summary["text_bytes"]["search"] < 3000
    return summary


def test_over_stdio(project):
    root, env = project
    check(root, env, "stdio", "quokka pangolin", "--", *rag_command(), "mcp")


def test_over_streamable_http(project):
    root, env = project
    port = free_port()
    server = subprocess.Popen([*rag_command(), "serve", "--port", str(port)], cwd=root,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        wait_healthy(f"http://127.0.0.1:{port}")
        check(root, env, "http", "quokka pangolin", f"http://127.0.0.1:{port}/mcp")
    finally:
        server.terminate()
        server.wait(timeout=60)
