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
WARM_WAIT_S = 10.0  # at exit, how long a warm-up under way is waited for
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
        resident.start_warm()
    return tools


class Terminated(Exception):
    """SIGTERM arrived: stop serving as Ctrl-C would, and exit 0."""


def _on_sigterm(signum, frame) -> None:
    raise Terminated()


def _catch_sigterm() -> None:
    import signal

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)


def _start_watching(open_index: Callable[[], Any]):
    """A ``Watcher`` of the index's folders in a background thread (``--watch``)."""
    from ragcli.ingest.watch import Watcher

    watcher = Watcher(open_index(), on_error=lambda message: log.warning("%s", message))
    log.info("watching %s", ", ".join(str(root) for root in watcher.roots))
    return watcher.start()


def _finish(tools, watcher) -> None:
    """Let background work end before the interpreter does: the watcher's ingest and the
    warm-up (a thread still inside ONNX Runtime when the interpreter tears down aborts
    the process: "terminate called without an active exception")."""
    if watcher is not None:
        watcher.stop()
    if tools is not None:
        tools.resident.wait_warm(WARM_WAIT_S)


def serve_mcp_stdio(
    open_index: Callable[[], Any], replicas: int | None = 1, watch: bool = False
) -> None:
    """`rag mcp`: MCP on stdin/stdout; logs to ``<cache>/serve/stdio-*.log``. Ends when
    the client closes stdin, or at SIGTERM/SIGINT."""
    from ragcli.serve.mcp_server import run_stdio

    _catch_sigterm()
    first = open_index()
    daemon.setup_logging(daemon.log_path(first.location, "stdio"))
    tools = watcher = None
    try:
        tools = _tools(open_index, replicas, warm=True)
        watcher = _start_watching(open_index) if watch else None
        log.info("MCP over stdio for %s (pid %d)", first.location, os.getpid())
        run_stdio(tools)
    except Terminated:
        log.info("stopping: SIGTERM")
    finally:
        _finish(tools, watcher)
        log.info("stopped")


def serve_http(
    open_index: Callable[[], Any],
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    replicas: int | None = None,
    on_ready: Callable[[dict[str, Any]], None] | None = None,
    watch: bool = False,
) -> None:
    """`rag serve` in the foreground: bind, write the pid file, serve until SIGTERM or
    SIGINT, then remove the pid file and log the stop."""
    from ragcli.serve import http

    _catch_sigterm()
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
    tools = watcher = None
    try:
        tools = _tools(open_index, replicas, warm=True)
        watcher = _start_watching(open_index) if watch else None
        app = http.build_app(tools, host, port, token)
        _serve_app(app, sock, location, host, port, token, pid_file, on_ready)
    except Terminated:
        log.info("stopping: SIGTERM")
    finally:
        _finish(tools, watcher)
        sock.close()


def _serve_app(app, sock, location, host, port, token, pid_file, on_ready) -> None:
    from ragcli.serve import http

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
        "command": daemon.command_line(os.getpid()),
    }
    daemon.write_pid_file(pid_file, record)
    log.info("serving %s at %s (pid %d)", location, url, os.getpid())
    if on_ready is not None:
        on_ready(record)
    try:
        http.run(app, sock)
    finally:
        daemon.remove_pid_file(pid_file, os.getpid())
        log.info("stopped serving %s at %s (pid %d)", location, url, os.getpid())


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


def stop_server(location: str, port: int | None) -> dict[str, Any]:
    """Stop the server of ``location`` on ``port``, or its only server when ``port`` is
    None (several: an error naming them)."""
    if port is not None:
        return daemon.stop(daemon.pid_path(location, port))
    running = daemon.servers_for(location)
    if not running:
        raise RagError(f"no server is running for {location}")
    if len(running) > 1:
        names = ", ".join(f"{r['url']} (pid {r['pid']})" for r in running)
        raise RagError(f"several servers run for {location}: {names}; give --port")
    return daemon.stop(daemon.pid_path(location, running[0]["port"]))


def servers(location: str) -> list[dict[str, Any]]:
    return daemon.servers_for(location)


def log_file(location: str, port: int) -> Path:
    return daemon.log_path(location, port)
