"""Save-to-searchable delay with `rag serve --watch`: a word written into one file of an
indexed folder, then `POST /search` polled (every 20 ms) until that file answers for it.

    python benchmarks/watch_latency.py PROJECT_DIR [--file REL] [--runs 10]

PROJECT_DIR holds an index (`.rag/`) built by `rag ingest`; the server runs from there
with one replica. Prints each delay and the median, with `rag status` counts.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} never became healthy")


def found(url: str, word: str, source: str) -> bool:
    body = {"query": word, "mode": "sparse", "k": 1}
    hits = httpx.post(f"{url}/search", json=body, timeout=30).json().get("results", [])
    # the word itself in the hit's text: the file matching earlier markers is not enough
    return bool(hits) and hits[0]["source"] == source and word in hits[0]["text"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("project", type=Path)
    parser.add_argument("--file", default="flask/index.rst")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    root = args.project.resolve()
    rag = [sys.executable, "-c", "from ragcli.cli import main; main()"]
    status = json.loads(
        subprocess.run(
            [*rag, "status", "--json"], cwd=root, capture_output=True, text=True, check=True
        ).stdout
    )
    print(f"index: {status['counts']}")
    port = free_port()
    env = {**os.environ, "RAG_RERANK": "false"}
    server = subprocess.Popen(
        [*rag, "serve", "--watch", "--replicas", "1", "--port", str(port)],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    target = root / args.file
    original = target.read_bytes()
    delays = []
    try:
        wait_healthy(url)
        time.sleep(3)  # the watcher's catch-up ingest
        rel = target.relative_to(root).as_posix()
        for _ in range(args.runs):
            # letters only: a tokenizer may split letters from digits
            word = "zq" + uuid.uuid4().hex[:10].translate(str.maketrans("0123456789", "ghijklmnop"))
            with target.open("ab") as handle:
                handle.write(f"\n\nThe marker word {word} is here.\n".encode())
            saved = time.perf_counter()
            while not found(url, word, rel):
                if time.perf_counter() - saved > 120:
                    raise SystemExit("not searchable after 120 s")
                time.sleep(0.02)
            delays.append(time.perf_counter() - saved)
            print(f"  {delays[-1]:.2f} s")
            time.sleep(0.5)
    finally:
        target.write_bytes(original)
        server.terminate()
        server.wait(timeout=60)
    print(
        f"save-to-searchable over {len(delays)} runs: median {statistics.median(delays):.2f} s, "
        f"min {min(delays):.2f} s, max {max(delays):.2f} s"
    )


if __name__ == "__main__":
    main()
