"""Starting servers: `rag mcp` (stdio) and `rag serve` (HTTP, in front or as a daemon)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ragcli.errors import RagError
from ragcli.serve import daemon

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8181
log = logging.getLogger("ragcli.serve")


def _tools(open_index: Callable[[], Any], replicas: int | None, warm: bool):
    from ragcli.serve.resident import Resident
    from ragcli.serve.tools import Tools, language_model

    resident = Resident(open_index, replicas)
    if not resident.first.exists():
        raise RagError(f"{resident.first.location}: no index here yet (run `rag ingest PATH`)")
    backend = language_model(resident.settings)
    tools = Tools(resident, backend)
    if warm:  # in the background: the server answers (slower) while models load
        threading.Thread(target=resident.warm, name="warm-up", daemon=True).start()
    return tools


def serve_mcp_stdio(open_index: Callable[[], Any], replicas: int | None = 1) -> None:
    """`rag mcp`: MCP on stdin/stdout; logs to ``<cache>/serve/stdio-*.log``."""
    from ragcli.serve.mcp_server import run_stdio

    first = open_index()
    daemon.setup_logging(daemon.log_path(first.location, "stdio"))
    tools = _tools(open_index, replicas, warm=True)
    log.info("MCP over stdio for %s (pid %d)", first.location, os.getpid())
    run_stdio(tools)


def serve_http(
    open_index: Callable[[], Any],
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    replicas: int | None = None,
    on_ready: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """`rag serve` in the foreground: bind, write the pid file, serve until SIGTERM."""
    from ragcli.serve import http

    token = os.environ.get(http.TOKEN_ENV) or None
    http.check_bind(host, token)
    location = open_index().location
    pid_file = daemon.pid_path(location, port)
    running = daemon.read_pid_file(pid_file)
    if running is not None:
        raise RagError(
            f"a server for this index is already running on port {port} "
            f"(pid {running['pid']}, {running['url']}); stop it with `rag serve --stop`"
        )
    daemon.setup_logging(daemon.log_path(location, port))
    sock = http.bind(host, port)
    tools = _tools(open_index, replicas, warm=True)
    app = http.build_app(tools, host, port, token)
    url = f"http://{http._with_port(host, port)}"
    record = {
        "pid": os.getpid(),
        "index": location,
        "host": host,
        "port": port,
        "url": url,
        "mcp": f"{url}/mcp",
        "token": token is not None,
        "log": str(daemon.log_path(location, port)),
        "started_at": time.time(),
    }
    daemon.write_pid_file(pid_file, record)
    log.info("serving %s at %s (pid %d)", location, url, os.getpid())
    if on_ready is not None:
        on_ready(record)
    try:
        http.run(app, sock)
    finally:
        daemon.remove_pid_file(pid_file, os.getpid())
        log.info("stopped")


def start_daemon(argv: list[str], location: str, port: int, timeout: float = 120.0) -> dict:
    """Run ``rag serve ARGV`` (without --daemon) detached; its pid record once it listens."""
    pid_file = daemon.pid_path(location, port)
    running = daemon.read_pid_file(pid_file)
    if running is not None:
        raise RagError(
            f"a server for this index is already running on port {port} "
            f"(pid {running['pid']}, {running['url']})"
        )
    code = "from ragcli.cli import main; main()"
    child = subprocess.Popen(
        [sys.executable, "-c", code, "serve", *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env={**os.environ, "RAG_SERVE_DAEMON": "1"},
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = daemon.read_pid_file(pid_file)
        if record is not None and record["pid"] == child.pid:
            child.stderr.close()
            return record
        if child.poll() is not None:
            message = (child.stderr.read() or b"").decode(errors="replace").strip()
            last = message.splitlines()[-1] if message else f"exit code {child.returncode}"
            raise RagError(f"the server did not start: {last.removeprefix('rag: error: ')}")
        time.sleep(0.05)
    child.terminate()
    raise RagError(f"the server did not start within {timeout:.0f} s")


def describe(record: dict[str, Any]) -> str:
    return json.dumps({k: record[k] for k in ("pid", "url", "mcp", "log")})


def stop_server(location: str, port: int) -> dict[str, Any]:
    return daemon.stop(daemon.pid_path(location, port))


def servers(location: str) -> list[dict[str, Any]]:
    return daemon.servers_for(location)


def log_file(location: str, port: int) -> Path:
    return daemon.log_path(location, port)
