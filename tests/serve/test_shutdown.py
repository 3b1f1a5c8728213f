"""Stopping servers with real signals and a real closed stdin: no abort, no traceback,
the pid file removed and the stop logged; `--stop` signals only the server it started."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers_ingest import rag_command, run_rag
from helpers_serve import subprocess_project, wait_healthy
from llm_servers import free_port


def default_sigint() -> None:
    """Ctrl-C reaches the child even when these tests run in a background job (where the
    shell starts processes with SIGINT ignored, and children inherit that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


pytestmark = pytest.mark.slow  # fresh `rag` processes
ABORT = "terminate called"


@pytest.fixture
def project(tmp_path, monkeypatch):
    return subprocess_project(tmp_path, monkeypatch)


def pid_files(env: dict) -> list[Path]:
    return sorted((Path(env["RAG_CACHE_DIR"]) / "serve").glob("*.json"))


def test_sigterm_stops_a_foreground_server_cleanly(project):
    root, env = project
    port = free_port()
    server = subprocess.Popen([*rag_command(), "serve", "--port", str(port)], cwd=root,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    wait_healthy(f"http://127.0.0.1:{port}")
    assert len(pid_files(env)) == 1
    server.send_signal(signal.SIGTERM)
    _, errors = server.communicate(timeout=60)
    assert server.returncode == 0, errors
    assert pid_files(env) == []
    log = next((Path(env["RAG_CACHE_DIR"]) / "serve").glob("*.log")).read_text()
    assert "stopping: SIGTERM" in log and "stopped serving" in log
    assert ABORT.encode() not in errors and b"Traceback" not in errors


@pytest.mark.parametrize("after", [0.3, 1.0, 2.5])
def test_ctrl_c_right_after_start_up_is_one_line(project, after):
    root, env = project
    server = subprocess.Popen([*rag_command(), "serve", "--port", str(free_port())], cwd=root,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              preexec_fn=default_sigint)  # fmt: skip
    time.sleep(after)
    server.send_signal(signal.SIGINT)
    _, errors = server.communicate(timeout=60)
    assert server.returncode in (0, 130), errors
    assert ABORT.encode() not in errors and b"Traceback" not in errors
    assert pid_files(env) == []


def test_stdin_closed_right_after_initialize_ends_without_abort(project):
    root, env = project
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                  "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                             "clientInfo": {"name": "test", "version": "0"}}}  # fmt: skip
    for _ in range(4):  # the abort came about one time in three
        server = subprocess.Popen([*rag_command(), "mcp"], cwd=root, env=env,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)  # fmt: skip
        server.stdin.write((json.dumps(initialize) + "\n").encode())
        server.stdin.flush()
        assert json.loads(server.stdout.readline())["id"] == 1
        server.stdin.close()
        errors = server.stderr.read()
        server.wait(timeout=60)
        assert server.returncode == 0 and ABORT.encode() not in errors, errors


def test_stop_without_port_names_the_running_server(project):
    root, env = project
    port = free_port()
    started = run_rag(["serve", "--daemon", "--port", str(port), "--json"], cwd=root, env=env)
    assert started.returncode == 0, started.stderr
    record = json.loads(started.stdout)
    stopped = run_rag(["serve", "--stop"], cwd=root, env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert f"stopped the server at {record['url']} (pid {record['pid']})" in stopped.stderr
    again = run_rag(["serve", "--stop"], cwd=root, env=env)
    assert again.returncode == 1 and "no server is running for" in again.stderr


def test_stop_never_signals_a_process_that_reused_the_pid(project):
    root, env = project
    port = free_port()
    started = run_rag(["serve", "--daemon", "--port", str(port), "--json"], cwd=root, env=env)
    record = json.loads(started.stdout)
    path = pid_files(env)[0]
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        forged = {**json.loads(path.read_text()), "pid": bystander.pid}
        path.write_text(json.dumps(forged))  # as if the server died and its pid was reused
        refused = run_rag(["serve", "--stop", "--port", str(port)], cwd=root, env=env)
        assert refused.returncode == 1
        assert "no server is running" in refused.stderr or "no longer" in refused.stderr
        assert bystander.poll() is None  # not signalled
    finally:
        bystander.kill()
        signal_server(record["pid"])


def signal_server(pid: int) -> None:
    import contextlib
    import os

    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
