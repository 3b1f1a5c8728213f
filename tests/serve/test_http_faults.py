"""Faults of the HTTP server answered in one line: a body nested too deeply, an index
folder moved away, a client that never finishes its request headers."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from helpers_ingest import clean_env
from helpers_serve import build_project, sparse_env, tools_for
from starlette.testclient import TestClient

from ragcli.serve.http import build_app, header_timeout_protocol

BASE = "http://127.0.0.1:8181"


@pytest.fixture
def served(tmp_path, monkeypatch):
    clean_env(monkeypatch, tmp_path)
    sparse_env(monkeypatch)
    root = build_project(tmp_path / "project")
    monkeypatch.chdir(root)
    tools = tools_for(root)
    with TestClient(build_app(tools, "127.0.0.1", 8181, None), base_url=BASE) as client:
        yield root, client


def test_a_body_nested_too_deeply_is_a_400(served):
    _, client = served
    body = b'{"query": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"
    answer = client.post("/search", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 400
    assert answer.json() == {"error": "the request body is nested too deeply"}


def test_an_index_moved_away_is_a_503_with_its_message(served, tmp_path):
    root, client = served
    assert client.post("/search", json={"query": "pangolin"}).status_code == 200
    (root / ".rag").rename(tmp_path / "elsewhere")
    for answer in (client.post("/search", json={"query": "pangolin"}), client.get("/status")):
        assert answer.status_code == 503
        message = answer.json()["error"]
        assert str(root / ".rag" / "default") in message and "\n" not in message


def answer(sock: socket.socket) -> bytes:
    """What the server sends until its body "ok", the connection's end or 5 s."""
    sock.settimeout(5)
    data = b""
    while not data.endswith(b"ok"):
        got = sock.recv(1000)
        if not got:
            break
        data += got
    return data


def test_request_headers_that_never_end_are_timed_out():
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    app = Starlette(routes=[Route("/", lambda request: PlainTextResponse("ok"))])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, http=header_timeout_protocol(0.5))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.02)
        slow = socket.create_connection(("127.0.0.1", port))
        slow.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the blank line
        quick = socket.create_connection(("127.0.0.1", port))
        quick.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert b"200 OK" in answer(quick)  # an answered connection is not cut meanwhile
        slow.settimeout(5)
        started = time.monotonic()
        assert slow.recv(1000) == b""  # closed by the server
        assert time.monotonic() - started < 3
        again = socket.create_connection(("127.0.0.1", port))  # the server serves on
        again.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert b"200 OK" in answer(again)
    finally:
        server.should_exit = True
        thread.join(10)
