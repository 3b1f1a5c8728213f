"""The HTTP app in-process (starlette's TestClient): the JSON API, Host/Origin screening,
the bearer token, bounded bodies and one-line JSON errors."""

from __future__ import annotations

import json

import pytest
from helpers_ingest import clean_env
from helpers_serve import build_project, sparse_env, tools_for
from starlette.testclient import TestClient

from ragcli.errors import UsageError
from ragcli.serve.http import (
    MAX_BODY_BYTES,
    MAX_MCP_BODY_BYTES,
    build_app,
    check_bind,
    is_loopback,
)

BASE = "http://127.0.0.1:8181"


@pytest.fixture
def tools(tmp_path, monkeypatch):
    clean_env(monkeypatch, tmp_path)
    sparse_env(monkeypatch)
    root = build_project(tmp_path / "project")
    monkeypatch.chdir(root)
    return tools_for(root)


@pytest.fixture
def client(tools):
    with TestClient(build_app(tools, "127.0.0.1", 8181, None), base_url=BASE) as client:
        yield client


def test_json_api_answers_like_the_tools(client, tools):
    search = client.post("/search", json={"query": "pangolin", "k": 2})
    assert search.status_code == 200
    assert search.json() == tools.call("search", {"query": "pangolin", "k": 2})
    got = client.get("/get", params={"spec": "docs/long.txt:2:2", "line_numbers": "true"})
    lines = got.json()["text"].splitlines()
    assert lines == [f"{n}  line {n} of the long notes mentions walrus{n}" for n in (2, 3)]
    assert client.get("/status").json() == tools.call("status", {})
    health = client.get("/health").json()
    assert health["ok"] is True and health["tools"] == ["search", "get", "multi_get", "status"]
    many = client.post("/multi_get", json={"specs": ["src/tool.py", "#rec-a"]}).json()
    assert [d["doc_id"] for d in many["documents"]] == ["src/tool.py", "rec-a"]


@pytest.mark.parametrize(
    ("call", "status", "message"),
    [
        (lambda c: c.post("/search", json={"query": "x", "bogus": 1}), 400, "unknown parameter"),
        (lambda c: c.post("/search", content=b"{not json"), 400, "not JSON"),
        (lambda c: c.post("/search", json=["x"]), 400, "JSON object"),
        (lambda c: c.get("/get", params={"spec": "../../etc/passwd"}), 404, "not in the index"),
        (lambda c: c.get("/get", params={"spec": "docs/long.txt", "start": "0"}), 400, "start"),
        (lambda c: c.get("/nowhere"), 404, "Not Found"),
        (lambda c: c.post("/ask", json={"question": "x"}), 404, "Not Found"),
        (
            lambda c: c.post("/search", content=b" " * (MAX_BODY_BYTES + 1)),
            413,
            "request body over",
        ),
        (
            lambda c: c.post("/search", content=iter([b" " * (MAX_BODY_BYTES + 1)])),
            413,
            "request body over",
        ),
        (
            lambda c: c.post("/mcp", content=b" " * (MAX_MCP_BODY_BYTES + 1)),
            413,
            "request body over 1048576 bytes",
        ),
    ],
)
def test_errors_are_one_json_line(client, call, status, message):
    response = call(client)
    assert response.status_code == status
    assert response.text.count("\n") <= 1 and "Traceback" not in response.text
    assert message in json.loads(response.text)["error"]


@pytest.mark.parametrize(
    "headers",
    [
        {"host": "evil.example:8181"},
        {"host": "127.0.0.1:9999"},
        {"origin": "http://evil.example"},
        {"origin": "https://attacker.test:8181"},
    ],
)
def test_dns_rebinding_is_refused(client, headers):
    for response in (
        client.post("/search", json={"query": "pangolin"}, headers=headers),
        client.post("/mcp", json={}, headers=headers),
    ):
        assert response.status_code == 403
        assert "not" in response.json()["error"]


def test_loopback_origins_and_hosts_pass(client):
    for headers in ({"origin": "http://localhost:3000"}, {"host": "localhost:8181"}):
        assert client.get("/health", headers=headers).status_code == 200


def test_token_is_required_when_set(tools):
    app = build_app(tools, "127.0.0.1", 8181, "s3cret")
    with TestClient(app, base_url=BASE) as client:
        assert client.get("/health").status_code == 401
        wrong = client.get("/health", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "s3cret" not in wrong.text
        assert client.post("/mcp", json={}).status_code == 401
        good = client.get("/health", headers={"authorization": "Bearer s3cret"})
        assert good.status_code == 200


def test_a_public_bind_needs_a_token():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    with pytest.raises(UsageError, match="RAG_SERVE_TOKEN"):
        check_bind("0.0.0.0", None)
    check_bind("0.0.0.0", "token")
    check_bind("127.0.0.1", None)


def test_answers_carry_their_generation(client, tools):
    from ragcli.serve.http import GENERATION_HEADER

    generation = str(tools.call("status", {})["generation"])
    for response in (
        client.post("/search", json={"query": "pangolin"}),
        client.get("/get", params={"spec": "src/tool.py"}),
        client.get("/status"),
    ):
        assert response.headers[GENERATION_HEADER] == generation
    refused = client.get("/get", params={"spec": "src/tool.py", "bogus": "1"})
    assert refused.status_code == 400 and "unknown parameter 'bogus'" in refused.json()["error"]
    assert GENERATION_HEADER not in refused.headers


def test_the_listening_socket_sends_small_answers_at_once():
    import socket

    from ragcli.serve.http import bind

    sock = bind("127.0.0.1", 0)
    with sock, socket.create_connection(sock.getsockname()):
        accepted, _ = sock.accept()
        with accepted:  # what uvicorn answers on: no Nagle wait for the client's ACK
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
