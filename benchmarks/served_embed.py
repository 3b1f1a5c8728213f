"""Ingest chunks/s with a served embedding backend against a server that answers at once
(the client's own overhead: batching, HTTP, JSON, normalising) and against the local
default encoder, back to back.

    python benchmarks/served_embed.py [--limit 2000] [--repeat 2]
                                      [--runs ollama,openai,local]

The server is a child process (``--serve``) on 127.0.0.1 speaking Ollama's
``/api/embed`` and OpenAI's ``/v1/embeddings``; it computes nothing and sends one fixed
384-dimensional vector per input (the answer for each batch size built once), so each
run measures what ragcli spends around the model. ``local`` is ``embed_backend = auto``
(a new index: onnx-int8-fused, one worker process per CPU). Each run is a fresh ingest of
the first ``--limit`` SciFact abstracts into a temporary index, the model already loaded
(it is in no figure). Prints chunks/s per run and the load average before each; run under
``flock /tmp/ragcli-timing.lock`` on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
# ../shared/data beside the checkout; $RAGCLI_DATA from a worktree elsewhere
DATA = Path(os.environ.get("RAGCLI_DATA") or REPO.parent / "shared" / "data")
DIMENSION = 384


def serve(port_file: str) -> None:
    """The instant server: fixed vectors, answers cached per batch size."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import numpy as np

    vector = np.random.default_rng(0).standard_normal(DIMENSION).round(6).tolist()
    cache: dict[tuple[str, int], bytes] = {}

    def body(kind: str, model: str, n: int) -> bytes:
        if (kind, n) not in cache:
            if kind == "ollama":
                answer = {"model": model, "embeddings": [vector] * n}
            else:
                data = [{"object": "embedding", "index": i, "embedding": vector} for i in range(n)]
                usage = {"prompt_tokens": n, "total_tokens": n}
                answer = {"object": "list", "data": data, "model": model, "usage": usage}
            cache[(kind, n)] = json.dumps(answer).encode()
        return cache[(kind, n)]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            kind = "ollama" if self.path.startswith("/api/") else "openai"
            payload = body(kind, request["model"], len(request["input"]))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Path(port_file).write_text(str(httpd.server_address[1]))
    httpd.serve_forever()


def start_server(work: Path) -> tuple[subprocess.Popen, str]:
    port_file = work / "port"
    process = subprocess.Popen([sys.executable, __file__, "--serve", str(port_file)])
    for _ in range(200):
        if port_file.exists() and port_file.read_text():
            return process, f"http://127.0.0.1:{port_file.read_text()}"
        time.sleep(0.05)
    process.kill()
    raise SystemExit("the loopback server did not start")


def corpus(limit: int, work: Path) -> Path:
    folder = work / "corpus"
    folder.mkdir()
    with (DATA / "scifact" / "beir" / "corpus.jsonl").open(encoding="utf-8") as source:
        lines = [line for _, line in zip(range(limit), source, strict=False)]
    (folder / "corpus.jsonl").write_text("".join(lines), encoding="utf-8")
    return folder


def settings_for(run: str, url: str):
    from ragcli.config import Settings

    if run == "local":
        return Settings(rerank=False)
    base = url + ("/v1" if run == "openai" else "")
    return Settings(embed_backend=run, embed_model="instant", embed_base_url=base, rerank=False)


def ingest_once(run: str, url: str, docs: Path, work: Path, encoder) -> tuple[int, float, float]:
    """Chunks, wall seconds of the ingest, and seconds of its embed stage."""
    from ragcli.index import Index

    folder = Path(tempfile.mkdtemp(dir=work)) / ".rag" / "default"
    index = Index(folder, settings=settings_for(run, url))
    started = time.perf_counter()
    report = index.ingest([docs]) if encoder is None else _ingest_with(index, docs, encoder)
    return report.chunks_added, time.perf_counter() - started, report.timings.get("embed", 0.0)


def _ingest_with(index, docs: Path, encoder):
    """The local run with the encoder made (and its model loaded) beforehand."""
    from ragcli.ingest import ingest

    return ingest(index.writer(), [docs], index.settings, base_dir=index.base_dir, encoder=encoder)


def local_encoder():
    from ragcli.config import Settings
    from ragcli.embed import ingest_encoder

    encoder = ingest_encoder(Settings(), warn=print)
    encoder.encode(["warm up"])
    return encoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--runs", default="ollama,openai,local")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    with tempfile.TemporaryDirectory(prefix="served-embed-") as tmp:
        work = Path(tmp)
        docs = corpus(args.limit, work)
        server, url = start_server(work)
        try:
            encoders = {"local": local_encoder()} if "local" in args.runs else {}
            for run in args.runs.split(","):
                rates, embed_rates = [], []
                for _ in range(args.repeat):
                    load = Path("/proc/loadavg").read_text().split()[:3]
                    chunks, seconds, embed = ingest_once(run, url, docs, work, encoders.get(run))
                    rates.append(chunks / seconds)
                    embed_rates.append(chunks / max(embed, 1e-9))
                    print(
                        f"{run:8} {chunks} chunks {seconds:6.2f} s {chunks / seconds:7.1f}/s"
                        f"  embed stage {embed:6.2f} s {embed_rates[-1]:8.1f}/s"
                        f"  load {' '.join(load)}",
                        flush=True,
                    )
                print(
                    f"{run:8} median ingest {statistics.median(rates):.1f} chunks/s, "
                    f"embed stage {statistics.median(embed_rates):.1f} chunks/s",
                    flush=True,
                )
        finally:
            server.kill()
            server.wait()


if __name__ == "__main__":
    main()
