"""Background servers: pid files under the user cache, start, stop, list; the log file.

One server per index and port: ``<cache>/serve/<key>.json`` holds the pid, address and
index of the server for that pair (``key`` hashes both), and ``<key>.log`` its rotating log.
A pid file whose process is gone is stale and removed when read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import logging.handlers
import os
import signal
import time
from pathlib import Path
from typing import Any

from ragcli.config import cache_dir
from ragcli.errors import RagError

LOG_BYTES = 1_000_000
LOG_BACKUPS = 3


def serve_dir() -> Path:
    return cache_dir() / "serve"


def server_key(index_location: str, port: int | str) -> str:
    digest = hashlib.sha256(f"{index_location}\0{port}".encode()).hexdigest()[:16]
    return f"{port}-{digest}"


def pid_path(index_location: str, port: int | str) -> Path:
    return serve_dir() / f"{server_key(index_location, port)}.json"


def log_path(index_location: str, port: int | str) -> Path:
    return serve_dir() / f"{server_key(index_location, port)}.log"


def setup_logging(path: Path, level: int = logging.INFO) -> None:
    """Everything logged (ours, the MCP SDK's, uvicorn's) goes to ``path``, rotated; nothing
    to stdout. Tokens are never logged: no request headers are."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_pid_file(path: Path) -> dict[str, Any] | None:
    """The record of a running server, or None (a stale or unreadable file is removed)."""
    try:
        record = json.loads(path.read_text())
        int(record["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not is_that_server(record):
        path.unlink(missing_ok=True)
        return None
    return record


def write_pid_file(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, path)


def remove_pid_file(path: Path, pid: int) -> None:
    """Remove ``path`` if it still names ``pid`` (a newer server may have replaced it)."""
    try:
        if int(json.loads(path.read_text())["pid"]) == pid:
            path.unlink()
    except (OSError, ValueError, KeyError, TypeError):
        pass


def servers_for(index_location: str) -> list[dict[str, Any]]:
    """The running servers of one index (for `rag status`)."""
    found = []
    for path in sorted(serve_dir().glob("*.json")):
        record = read_pid_file(path)
        if record is not None and record.get("index") == index_location:
            found.append(record)
    return found


def command_line(pid: int) -> list[str] | None:
    """The command line of process ``pid`` (Linux ``/proc``), or None where unknown."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def is_that_server(record: dict[str, Any]) -> bool:
    """Whether the process named by a pid file is still the server that wrote it, not
    another process that got its pid since: the same command line (where the system
    shows it) and a process started no later than the record was written."""
    pid = int(record["pid"])
    if not alive(pid):
        return False
    now = command_line(pid)
    if now is not None and record.get("command") is not None and now != record["command"]:
        return False
    started = process_start(pid)
    recorded = record.get("started_at")
    return started is None or recorded is None or started <= float(recorded) + 1.0


def process_start(pid: int) -> float | None:
    """When process ``pid`` started (epoch seconds; Linux ``/proc``), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, IndexError, StopIteration, ValueError):
        return None
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def stop(path: Path, timeout: float = 10.0) -> dict[str, Any]:
    """SIGTERM the server of ``path`` and wait for it to go; its record. A pid file whose
    pid now belongs to another process is removed, and nothing is signalled."""
    record = read_pid_file(path)
    if record is None:
        raise RagError("no server is running for this index and port")
    pid = int(record["pid"])
    if not is_that_server(record):
        path.unlink(missing_ok=True)
        raise RagError(
            f"pid {pid} of {record.get('url')} is no longer that server (its pid file was "
            "stale and is removed); nothing was stopped"
        )
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
    path.unlink(missing_ok=True)
    return record


def status_with_servers(index) -> dict[str, Any]:
    """``Index.status()`` plus ``servers``: the running `rag serve` servers of the index."""
    info = index.status()
    info["servers"] = servers_for(index.location)
    return info
