"""Loopback fakes of the LLM services, speaking their real wire protocols.

Each ``FakeServer`` runs ``http.server`` in a thread on ``127.0.0.1`` and a free port,
records every request (method, path, headers, JSON body) and answers from a queue of
scripted ``Reply`` objects (then from ``default``). Builders make the replies:

* Anthropic Messages API: SSE stream (``message_start``, ``content_block_delta``, ...,
  ``message_stop``) and ``{"type": "error", "error": {...}}`` bodies;
* OpenAI chat.completions: SSE ``data: {chunk}`` lines ending with ``data: [DONE]``;
* Ollama ``/api/chat``: NDJSON lines ending with ``"done": true``; ``/api/tags``;
* broken streams (``malformed_stream``): an event that is not JSON, a body that is not
  SSE, headers then silence (``stall``), an SSE error event.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    chunks: list[bytes] | None = None  # streamed pieces, written and flushed one by one
    delay: float = 0.0  # seconds to wait before answering
    stall: float = 0.0  # seconds to keep the connection open, silent, after the chunks


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def free_port() -> int:
    """A port nothing listens on (bound then released): connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeServer:
    def __init__(self, default: Reply | None = None, routes: dict[str, Reply] | None = None):
        self.requests: list[Recorded] = []
        self.queue: deque[Reply] = deque()
        self.default = default
        self.routes = dict(routes or {})  # "GET /api/tags" -> fixed reply
        self._stop = threading.Event()
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                record = Recorded(
                    self.command, path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                reply = owner._next_reply(self.command, path, record)
                if reply.delay and owner._stop.wait(reply.delay):
                    return
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    self.send_header("Connection", "close")
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    if reply.chunks is None:
                        self.send_header("Content-Length", str(len(reply.body)))
                        self.end_headers()
                        self.wfile.write(reply.body)
                    else:
                        self.end_headers()
                        for piece in reply.chunks:
                            self.wfile.write(piece)
                            self.wfile.flush()
                    if reply.stall:
                        owner._stop.wait(reply.stall)
                    self.close_connection = True
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = _handle
            do_POST = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def _next_reply(self, method: str, path: str, record: Recorded) -> Reply:
        with self._lock:
            self.requests.append(record)
            route = self.routes.get(f"{method} {path}")
            if route is not None:
                return route
            if self.queue:
                return self.queue.popleft()
            if self.default is not None:
                return self.default
        return Reply(status=500, body=b'{"error": "no scripted reply"}')

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def push(self, *replies: Reply) -> FakeServer:
        self.queue.extend(replies)
        return self

    def posts(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST"]

    def start(self) -> FakeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _json(obj: Any) -> bytes:
    return json.dumps(obj).encode()


# ---------------------------------------------------------------- Anthropic Messages API


def _sse(event: str | None, data: Any) -> bytes:
    head = f"event: {event}\n" if event else ""
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"{head}data: {payload}\n\n".encode()


def anthropic_stream(
    parts: list[str],
    model: str | None = None,
    input_tokens: int = 321,
    output_tokens: int = 17,
) -> Reply:
    if model is None:
        from ragcli.generate.claude import DEFAULT_MODEL as model
    events = [
        _sse(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_loopback",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": input_tokens, "output_tokens": 1},
                },
            },
        ),
        _sse(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        _sse("ping", {"type": "ping"}),
    ]
    for part in parts:
        events.append(
            _sse(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": part},
                },
            )
        )
    events += [
        _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": output_tokens},
            },
        ),
        _sse("message_stop", {"type": "message_stop"}),
    ]
    return Reply(
        content_type="text/event-stream",
        chunks=events,
        headers={"request-id": "req_loopback", "Cache-Control": "no-cache"},
    )


_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def anthropic_error(status: int, message: str, retry_after_ms: int | None = None) -> Reply:
    headers = {"request-id": "req_loopback_err"}
    if retry_after_ms is not None:
        headers["retry-after-ms"] = str(retry_after_ms)
    body = {
        "type": "error",
        "error": {"type": _ANTHROPIC_ERROR_TYPES.get(status, "api_error"), "message": message},
    }
    return Reply(status=status, body=_json(body), headers=headers)


# ---------------------------------------------------------------- OpenAI chat.completions


def openai_stream(parts: list[str], model: str = "local-model", usage: bool = True) -> Reply:
    def chunk(delta: dict, finish: str | None = None, **extra: Any) -> bytes:
        data = {
            "id": "chatcmpl-loopback",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return _sse(None, data)

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": part}) for part in parts]
    events.append(chunk({}, "stop"))
    if usage:
        events.append(
            _sse(
                None,
                {
                    "id": "chatcmpl-loopback",
                    "object": "chat.completion.chunk",
                    "created": 1700000000,
                    "model": model,
                    "choices": [],
                    "usage": {"prompt_tokens": 200, "completion_tokens": 9, "total_tokens": 209},
                },
            )
        )
    events.append(b"data: [DONE]\n\n")
    return Reply(content_type="text/event-stream", chunks=events)


def openai_error(
    status: int, message: str, code: str | None = None, retry_after_ms: int | None = None
) -> Reply:
    headers = {} if retry_after_ms is None else {"retry-after-ms": str(retry_after_ms)}
    body = {"error": {"message": message, "type": "invalid_request_error", "code": code}}
    return Reply(status=status, body=_json(body), headers=headers)


# ---------------------------------------------------------------- Ollama native API


def ollama_stream(parts: list[str], model: str = "llama3.2:latest") -> Reply:
    lines = []
    for part in parts:
        lines.append(
            _json(
                {
                    "model": model,
                    "created_at": "2024-01-01T00:00:00Z",
                    "message": {"role": "assistant", "content": part},
                    "done": False,
                }
            )
            + b"\n"
        )
    lines.append(
        _json(
            {
                "model": model,
                "created_at": "2024-01-01T00:00:01Z",
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": "stop",
                "total_duration": 1000000,
                "prompt_eval_count": 150,
                "eval_count": 12,
            }
        )
        + b"\n"
    )
    return Reply(content_type="application/x-ndjson", chunks=lines)


def ollama_error(status: int, message: str, retry_after: float | None = None) -> Reply:
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    return Reply(status=status, body=_json({"error": message}), headers=headers)


def ollama_tags(names: list[str]) -> Reply:
    models = [
        {
            "name": name,
            "model": name,
            "modified_at": "2024-01-01T00:00:00Z",
            "size": 1,
            "digest": "0" * 64,
            "details": {"format": "gguf", "family": "llama"},
        }
        for name in names
    ]
    return Reply(body=_json({"models": models}))


def ollama_server(default: Reply | None = None, models: list[str] | None = None) -> FakeServer:
    tags = ollama_tags(["llama3.2:latest"] if models is None else models)
    return FakeServer(default=default, routes={"GET /api/tags": tags})


# ---------------------------------------------------------------- broken streams


def malformed_stream(kind: str, stall: float = 30.0) -> Reply:
    """A stream that breaks: ``not-json`` (``data: {not json``), ``not-sse`` (an HTML
    page), ``silence`` (SSE headers, then nothing for ``stall`` seconds) or
    ``error-event`` (an Anthropic SSE ``error`` event after ``message_start``)."""
    if kind == "not-json":
        return Reply(content_type="text/event-stream", chunks=[b"data: {not json\n\n"])
    if kind == "not-sse":
        return Reply(content_type="text/html", body=b"<html><body>Welcome to nginx</body></html>")
    if kind == "silence":
        return Reply(content_type="text/event-stream", chunks=[], stall=stall)
    if kind == "error-event":
        start = anthropic_stream([]).chunks[0]
        error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        return Reply(content_type="text/event-stream", chunks=[start, _sse("error", error)])
    raise ValueError(kind)
