"""`rag serve`: MCP over Streamable HTTP at ``/mcp`` plus a JSON API, on one port.

JSON API (the bodies and answers are the CLI's ``--json`` records, docs/commands.md):
``POST /search`` (``{"query": ..., "k": ..., ...}``, the MCP ``search`` parameters),
``GET /get?spec=...&start=&count=&max_bytes=&line_numbers=``, ``POST /multi_get``,
``GET /status``, ``GET /health`` and, with a language model, ``POST /ask``. Each answer
names the index generation it came from in its ``X-Rag-Generation`` header (MCP results
in ``_meta["ragcli/generation"]``).

Every request passes ``Guard`` first: a ``Host`` that is not the bound address, or an
``Origin`` that is not loopback (or the bound address), gets 403 (DNS rebinding); when a
token is set (``RAG_SERVE_TOKEN``, required whenever the bind is not loopback) a request
without ``Authorization: Bearer <token>`` gets 401. Errors are one JSON line,
``{"error": "..."}``, never a traceback; request bodies are bounded.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import time
from typing import Any
from urllib.parse import urlsplit

from ragcli.errors import IndexStateError, RagError, UsageError, message_line

log = logging.getLogger("ragcli.serve")

MAX_BODY_BYTES = 64 * 1024  # a JSON API request
MAX_MCP_BODY_BYTES = 1024 * 1024
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
TOKEN_ENV = "RAG_SERVE_TOKEN"
GENERATION_HEADER = "X-Rag-Generation"  # the index generation that answered


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _with_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Guard:
    """ASGI middleware: Host/Origin screening and the bearer token, before anything else."""

    def __init__(self, app, host: str, port: int, token: str | None):
        self.app = app
        self.token = token
        names = LOOPBACK_NAMES if is_loopback(host) else (host,)
        self.hosts = {_with_port(name, port) for name in names}
        if port == 80:
            self.hosts |= set(names)
        self.origin_hosts = {name.strip("[]") for name in (*LOOPBACK_NAMES, host)}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {key.decode("latin-1").lower(): value.decode("latin-1")
                   for key, value in scope["headers"]}  # fmt: skip
        refusal = self.refusal(headers) or too_large(scope["path"], headers)
        if refusal is not None:
            status, message = refusal
            log.warning("refused %s %s: %s", scope.get("method"), scope.get("path"), message)
            return await send_error(send, status, message)
        return await self.app(scope, receive, send)

    def refusal(self, headers: dict[str, str]) -> tuple[int, str] | None:
        host = headers.get("host", "")
        if host not in self.hosts:
            return 403, f"Host {host!r} is not this server's address"
        origin = headers.get("origin")
        if origin is not None and (urlsplit(origin).hostname or "") not in self.origin_hosts:
            return 403, f"Origin {origin!r} is not allowed (only loopback origins)"
        if self.token is not None:
            given = headers.get("authorization", "")
            scheme, _, value = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                value.strip().encode(), self.token.encode()
            ):
                return 401, f"a bearer token is required (Authorization: Bearer ${TOKEN_ENV})"
        return None


def too_large(path: str, headers: dict[str, str]) -> tuple[int, str] | None:
    """413 for a declared body over the limit, before any of it is read (a body sent
    without a length is counted as it is read, by the JSON API and by the MCP SDK)."""
    limit = MAX_MCP_BODY_BYTES if path.startswith("/mcp") else MAX_BODY_BYTES
    length = headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        return 413, f"request body over {limit} bytes"
    return None


async def send_error(send, status: int, message: str) -> None:
    body = (json.dumps({"error": message}) + "\n").encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


def error_response(status: int, message: str):
    from starlette.responses import JSONResponse

    return JSONResponse({"error": message}, status_code=status)


async def _read_json(request) -> dict[str, Any]:
    size = 0
    chunks = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _TooLarge()
        chunks.append(chunk)
    try:
        body = json.loads(b"".join(chunks) or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UsageError(f"the request body is not JSON ({err})") from None
    except RecursionError:
        raise UsageError("the request body is nested too deeply") from None
    if not isinstance(body, dict):
        raise UsageError("the request body must be a JSON object")
    return body


class _TooLarge(Exception):
    pass


def _os_message(err: OSError) -> str:
    where = f"{err.filename}: " if err.filename else ""
    return f"{where}{(err.strerror or type(err).__name__).lower()}"


def json_routes(tools, started: float) -> list:
    """The JSON API's routes over ``tools`` (a ``ragcli.serve.tools.Tools``)."""
    import anyio
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    def answer(name: str, arguments: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
        return tools.call(name, arguments), tools.resident.generation()

    async def run(name: str, arguments: dict[str, Any]):
        try:
            result, generation = await anyio.to_thread.run_sync(answer, name, arguments)
        except UsageError as err:
            return error_response(400, str(err))
        except IndexStateError as err:  # the index went away, or is not readable now
            return error_response(503, message_line(str(err)))
        except OSError as err:  # a file of the index vanished under a request
            return error_response(503, f"the index cannot be read: {_os_message(err)}")
        except RagError as err:
            return error_response(404 if type(err).__name__ == "NotInIndex" else 500, str(err))
        except Exception as err:  # a bug: logged with its traceback, answered in one line
            log.exception("%s failed", name)
            return error_response(500, f"internal error ({type(err).__name__})")
        headers = {} if generation is None else {GENERATION_HEADER: str(generation)}
        return JSONResponse(result, headers=headers)

    def posted(name: str):
        async def endpoint(request):
            try:
                body = await _read_json(request)
            except _TooLarge:
                return error_response(413, f"request body over {MAX_BODY_BYTES} bytes")
            except UsageError as err:
                return error_response(400, str(err))
            return await run(name, body)

        return endpoint

    async def get(request):
        return await run("get", dict(request.query_params))

    async def status(request):
        return await run("status", {})

    async def health(request):
        resident = tools.resident
        return JSONResponse({"ok": True, "index": resident.first.location,
                             "uptime_s": round(time.time() - started, 1),
                             "requests": resident.requests, "replicas": resident.replicas,
                             "tools": tools.names()})  # fmt: skip

    routes = [
        Route("/search", posted("search"), methods=["POST"]),
        Route("/multi_get", posted("multi_get"), methods=["POST"]),
        Route("/get", get, methods=["GET"]),
        Route("/status", status, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
    ]
    if "ask" in tools.names():
        routes.append(Route("/ask", posted("ask"), methods=["POST"]))
    return routes


def build_app(tools, host: str, port: int, token: str | None):
    """The whole ASGI app: Guard around MCP at /mcp and the JSON API."""
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.exceptions import HTTPException

    from ragcli.serve.mcp_server import build_server

    server = build_server(tools)
    app = server.streamable_http_app(
        streamable_http_path="/mcp",
        max_request_body_size=MAX_MCP_BODY_BYTES,
        # Guard screens Host and Origin for every route, MCP included.
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        host=host,
    )
    app.router.routes.extend(json_routes(tools, time.time()))

    async def http_error(request, exc: HTTPException):
        return error_response(exc.status_code, str(exc.detail))

    async def crash(request, exc: Exception):
        log.exception("request failed")
        return error_response(500, f"internal error ({type(exc).__name__})")

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, crash)
    return Guard(app, host, port, token)


def check_bind(host: str, token: str | None) -> None:
    if not is_loopback(host) and not token:
        raise UsageError(
            f"binding {host} exposes the index beyond this machine: set {TOKEN_ENV} to a "
            "secret token first (clients then send Authorization: Bearer <token>)"
        )


def bind(host: str, port: int):
    """A listening socket, so a busy port is a clear error before anything is loaded."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise RagError(f"cannot listen on {_with_port(host, port)}: {err.strerror}") from None
    # Connections inherit it: without, every answer after a connection's first waits
    # ~40 ms for the client's delayed ACK (uvicorn does not set it on sockets it is given).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


HEADER_TIMEOUT_S = 10.0  # a connection that has not sent whole request headers by then


def header_timeout_protocol(timeout: float = HEADER_TIMEOUT_S):
    """uvicorn's h11 protocol, closing a connection whose request headers do not arrive
    complete within ``timeout`` seconds (of connecting, or of the previous answer):
    uvicorn times out idle keep-alive connections only, so a client trickling header
    bytes would hold its connection for ever."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutProtocol(H11Protocol):
        _header_timer = None

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                self._disarm()  # the headers are in

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._header_timer = self.loop.call_later(timeout, self._too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _too_slow(self) -> None:
            self._header_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                log.info("closed a connection whose request headers took over %g s", timeout)
                self.transport.close()

    return HeaderTimeoutProtocol


def run(app, sock, header_timeout: float = HEADER_TIMEOUT_S) -> None:
    """Serve ``app`` on ``sock`` until SIGTERM/SIGINT (uvicorn, its logs to ours)."""
    import uvicorn

    config = uvicorn.Config(
        app,
        log_config=None,
        timeout_graceful_shutdown=5,
        lifespan="on",
        http=header_timeout_protocol(header_timeout),
    )
    uvicorn.Server(config).run(sockets=[sock])
