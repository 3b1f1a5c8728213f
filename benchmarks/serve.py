"""A resident `rag serve` under load: the JSON API and MCP, with and without ingests.

    python benchmarks/serve.py [--chunks 100000] [--keep DIR] [--seconds 10]
                               [--ingest-seconds 40] [--clients 1,4,16] [--replicas N]

The index is built as benchmarks/search_latency.py builds it (real SciFact sentences
recombined into about one chunk each, the real chunker and BM25 sidecar, random unit
vectors at ingest); queries are real SciFact claims, encoded by the real model in the
server. First the in-process ``Index.search`` hybrid p50 (k=10, no rerank), then a
`rag serve` process driven by 1, 4 and 16 concurrent clients for ``--seconds`` each,
over ``POST /search`` (httpx) and over MCP Streamable HTTP (the official SDK client):
p50/p95 latency, queries/s, the server's CPU time per query and its RSS sampled
through the run. Then the same while another process adds a file and runs the library
ingest in a loop, each run publishing a new generation: failed requests and answers
from a superseded generation (the ``X-Rag-Generation`` header or the MCP result's
``_meta``, compared with the generation ``CURRENT`` named just before the request was
sent) are counted; both must be 0.

The clients run in this process, on the same two cores as the server: their CPU time
is printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from search_latency import SCIFACT, RandomEncoder, synthetic_corpus  # noqa: E402

GENERATION_HEADER = "x-rag-generation"
GENERATION_META = "ragcli/generation"
SEARCH = {"k": 10, "mode": "hybrid", "rerank": False}


def build_index(folder: Path, chunks: int) -> Path:
    """``folder/index`` over ``folder/corpus/`` (built once, reused with --keep)."""
    from ragcli.index import Index
    from ragcli.ingest import ingest
    from ragcli.store.local import LocalWriter

    index_dir = folder / "index"
    corpus = folder / "corpus"
    if Index(index_dir, base_dir=folder).exists():
        return index_dir
    corpus.mkdir(parents=True, exist_ok=True)
    synthetic_corpus(corpus / "corpus.jsonl", chunks, sentences=3)  # about one chunk each
    started = time.perf_counter()
    settings = Index(index_dir, base_dir=folder).settings
    report = ingest(
        LocalWriter(index_dir), [corpus], settings, base_dir=folder, encoder=RandomEncoder()
    )
    print(f"built {report.chunks} chunks in {time.perf_counter() - started:.0f} s")
    return index_dir


def claims(limit: int | None = None) -> list[str]:
    with (SCIFACT / "queries.jsonl").open() as handle:
        texts = [json.loads(line)["text"] for line in handle]
    return texts[:limit] if limit else texts


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def ms(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000, q)) if values else float("nan")


def in_process_p50(index_dir: Path, queries: list[str]) -> tuple[float, float]:
    from ragcli.index import Index

    index = Index(index_dir)
    index.search(queries[0], **SEARCH)  # load the model, FAISS, BM25
    times = []
    for query in queries:
        started = time.perf_counter()
        index.search(query, **SEARCH)
        times.append(time.perf_counter() - started)
    return ms(times, 50), ms(times, 95)


def in_process_threads(index_dir: Path, queries: list[str], threads: int, seconds: float):
    """Queries/s of ``threads`` threads, each searching its own ``Index`` (as the server's
    replicas do): how far one process scales over the cores despite the GIL."""
    from ragcli.index import Index

    replicas = [Index(index_dir) for _ in range(threads)]
    for index in replicas:
        index.search(queries[0], **SEARCH)
    counts = [0] * threads
    stop_at = time.monotonic() + seconds

    def work(n: int) -> None:
        while time.monotonic() < stop_at:
            replicas[n].search(queries[(counts[n] * threads + n) % len(queries)], **SEARCH)
            counts[n] += 1

    started = time.perf_counter()
    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.perf_counter() - started)


# the server process ---------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(index_dir: Path, port: int, replicas: int | None) -> subprocess.Popen:
    import httpx

    argv = ["serve", "--index", str(index_dir), "--port", str(port)]
    argv += ["--replicas", str(replicas)] if replicas else []
    env = {**os.environ, "RAG_RERANK": "false", "RAG_LLM": "extractive"}
    server = subprocess.Popen(
        [sys.executable, "-c", "from ragcli.cli import main; main()", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                for query in claims(5):  # the model and every replica warm
                    httpx.post(f"{url}/search", json={"query": query, **SEARCH}, timeout=120)
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    server.kill()
    raise SystemExit("the server never became healthy")


class ProcessSampler:
    """RSS and anonymous RSS (MiB) of a process every ``every`` seconds; its CPU seconds.
    RSS counts the pages of the memory-mapped index that searches have touched, so it
    grows as more of the index is read; the anonymous part is what could leak."""

    def __init__(self, pid: int, every: float = 0.25):
        self.pid, self.every = pid, every
        self.rss: list[float] = []
        self.anon: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _run(self) -> None:
        while not self._stop.is_set():
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    self.rss.append(int(line.split()[1]) / 1024)
                elif line.startswith("RssAnon:"):  # the heap: RSS less mapped index files
                    self.anon.append(int(line.split()[1]) / 1024)
            self._stop.wait(self.every)

    def __enter__(self) -> ProcessSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# the clients ---------------------------------------------------------------------
def newest_generation(index_dir: Path) -> int:
    return int((index_dir / "CURRENT").read_text().strip().removeprefix("gen-"))


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    failed: int = 0
    stale: int = 0
    generations: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def record(self, started: float, newest: int, generation: int | None) -> None:
        self.latencies.append(time.perf_counter() - started)
        if generation is None:
            self.failed += 1
            return
        self.generations[generation] = self.generations.get(generation, 0) + 1
        self.stale += generation < newest

    def fail(self, message: str) -> None:
        self.failed += 1
        if len(self.errors) < 3:
            self.errors.append(message[:200])


async def json_client(url, index_dir, queries, offset, window, tally) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        n = offset
        stop_at = await window.opened()
        while time.monotonic() < stop_at:
            query = queries[n % len(queries)]
            n += 1
            newest = newest_generation(index_dir)
            started = time.perf_counter()
            try:
                response = await client.post("/search", json={"query": query, **SEARCH})
            except httpx.HTTPError as err:
                tally.fail(f"{type(err).__name__}: {err}")
                continue
            if response.status_code != 200 or not response.json()["results"]:
                tally.fail(f"{response.status_code}: {response.text}")
                continue
            tally.record(started, newest, int(response.headers[GENERATION_HEADER]))


async def mcp_client(url, index_dir, queries, offset, window, tally) -> None:
    from mcp import Client

    async with Client(f"{url}/mcp", read_timeout_seconds=120) as client:
        n = offset
        stop_at = await window.opened()
        while time.monotonic() < stop_at:
            query = queries[n % len(queries)]
            n += 1
            newest = newest_generation(index_dir)
            started = time.perf_counter()
            try:
                result = await client.call_tool("search", {"query": query, **SEARCH})
            except Exception as err:  # noqa: BLE001 (counted, the run goes on)
                tally.fail(f"{type(err).__name__}: {err}")
                continue
            if result.is_error or not result.structured_content["results"]:
                tally.fail(str(result.content)[:200])
                continue
            tally.record(started, newest, (result.meta or {}).get(GENERATION_META))


class Window:
    """The timed part of a level: it opens once every client is connected (an MCP
    session's set-up is not a query), for ``seconds``."""

    def __init__(self, clients: int, seconds: float):
        self.barrier = asyncio.Barrier(clients)
        self.seconds = seconds
        self.started: float | None = None

    async def opened(self) -> float:
        await self.barrier.wait()
        if self.started is None:
            self.started = time.perf_counter()
            self.stop_at = time.monotonic() + self.seconds
        return self.stop_at


async def drive(kind: str, url: str, index_dir: Path, queries, clients: int, seconds: float):
    client = json_client if kind == "json" else mcp_client
    tally, window = Tally(), Window(clients, seconds)
    await asyncio.gather(
        *(
            client(url, index_dir, queries, i * len(queries) // clients, window, tally)
            for i in range(clients)
        )
    )
    return tally, time.perf_counter() - window.started


def run_level(kind, url, index_dir, queries, clients, seconds, sampler) -> dict:
    cpu_before, own_before = sampler.cpu_seconds(), time.process_time()
    first_rss, first_anon = len(sampler.rss), len(sampler.anon)
    tally, wall = asyncio.run(drive(kind, url, index_dir, queries, clients, seconds))
    rss = sampler.rss[first_rss:] or sampler.rss[-1:]
    anon = sampler.anon[first_anon:] or sampler.anon[-1:]
    done = len(tally.latencies)
    return {
        "api": kind,
        "clients": clients,
        "queries": done,
        "p50_ms": ms(tally.latencies, 50),
        "p95_ms": ms(tally.latencies, 95),
        "qps": done / wall,
        "server_cpu_ms_per_query": 1000 * (sampler.cpu_seconds() - cpu_before) / max(done, 1),
        "client_cpu_s": time.process_time() - own_before,
        "rss_mib": (rss[0], min(rss), max(rss), rss[-1]),
        "anon_mib": (anon[0], anon[-1]),
        "failed": tally.failed,
        "stale": tally.stale,
        "generations": dict(sorted(tally.generations.items())),
        "errors": tally.errors,
        "load": load_average(),
    }


def show(row: dict) -> None:
    first, _, high, last = row["rss_mib"]
    print(
        f"{row['api']:<4} {row['clients']:>2} clients  p50 {row['p50_ms']:6.1f} ms  "
        f"p95 {row['p95_ms']:6.1f} ms  {row['qps']:5.1f} q/s  "
        f"server CPU {row['server_cpu_ms_per_query']:5.1f} ms/q  "
        f"client CPU {row['client_cpu_s']:4.1f} s  "
        f"RSS {first:.0f} -> {last:.0f} MiB (max {high:.0f}; anon "
        f"{row['anon_mib'][0]:.0f} -> {row['anon_mib'][1]:.0f})  "
        f"failed {row['failed']}  stale {row['stale']}  gens {row['generations']}  "
        f"load {row['load']}",
        flush=True,
    )
    for error in row["errors"]:
        print(f"    error: {error}")


# the ingests in another process ----------------------------------------------------
INGEST_LOOP = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from search_latency import RandomEncoder
from ragcli.index import Index
from ragcli.ingest import ingest
from ragcli.store.local import LocalWriter
folder, pause = Path(sys.argv[1]), float(sys.argv[2])
n = 0
while True:
    n += 1
    record = {"_id": f"extra-{time.time_ns()}", "title": "", "text": f"Added record {n}."}
    (folder / "corpus" / f"extra-{n}-{time.time_ns()}.jsonl").write_text(json.dumps(record))
    started = time.perf_counter()
    settings = Index(folder / "index", base_dir=folder).settings
    report = ingest(LocalWriter(folder / "index"), [folder / "corpus"], settings, base_dir=folder,
                    encoder=RandomEncoder())
    print(f"generation {report.generation} in {time.perf_counter() - started:.1f} s",
          flush=True)
    time.sleep(pause)
"""


def start_ingests(folder: Path, pause: float) -> subprocess.Popen:
    here = str(Path(__file__).resolve().parent)
    return subprocess.Popen(
        [sys.executable, "-c", INGEST_LOOP, str(folder), str(pause), here],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the index in this folder")
    parser.add_argument("--seconds", type=float, default=10, help="per level, no ingest")
    parser.add_argument("--ingest-seconds", type=float, default=40, help="per level, ingesting")
    parser.add_argument("--ingest-pause", type=float, default=2, help="between two ingests")
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--replicas", type=int, help="the server's --replicas")
    parser.add_argument("--queries", type=int, default=200, help="in-process baseline")
    parser.add_argument("--no-ingest", action="store_true")
    args = parser.parse_args()

    folder = args.keep or Path(tempfile.mkdtemp(prefix="rag-serve-"))
    folder.mkdir(parents=True, exist_ok=True)
    index_dir = build_index(folder, args.chunks)
    queries = claims()
    levels = [int(n) for n in args.clients.split(",")]
    print(f"index {index_dir}, generation {newest_generation(index_dir)}; load {load_average()}")
    p50, p95 = in_process_p50(index_dir, queries[: args.queries])
    print(f"in-process Index.search hybrid k=10 no rerank: p50 {p50:.1f} ms  p95 {p95:.1f} ms"
          f"  load {load_average()}", flush=True)  # fmt: skip
    for threads in (1, 2):
        qps = in_process_threads(index_dir, queries, threads, args.seconds)
        print(f"in-process, {threads} thread(s) with a replica each: {qps:.1f} q/s"
              f"  load {load_average()}", flush=True)  # fmt: skip

    port = free_port()
    server = start_server(index_dir, port, args.replicas)
    url = f"http://127.0.0.1:{port}"
    try:
        with ProcessSampler(server.pid) as sampler:
            print(f"server pid {server.pid}, RSS after warm-up {sampler.rss[-1:]} MiB")
            for clients in levels:  # the two APIs back to back at each level
                for kind in ("json", "mcp"):
                    show(run_level(kind, url, index_dir, queries, clients, args.seconds,
                                   sampler))  # fmt: skip
            if not args.no_ingest:
                print("-- while another process ingests in a loop --", flush=True)
                ingests = start_ingests(folder, args.ingest_pause)
                try:
                    for clients in levels:
                        for kind in ("json", "mcp"):
                            show(run_level(kind, url, index_dir, queries, clients,
                                           args.ingest_seconds, sampler))  # fmt: skip
                finally:
                    ingests.terminate()
                    out, _ = ingests.communicate(timeout=60)
                    print("ingests:", "; ".join(out.split("\n")[:-1]) or "none finished")
            for name, values in (("RSS", sampler.rss), ("anonymous RSS", sampler.anon)):
                print(
                    f"server {name} over the whole run: first {values[0]:.0f}, median "
                    f"{statistics.median(values):.0f}, max {max(values):.0f}, "
                    f"last {values[-1]:.0f} MiB"
                )
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"load {load_average()}")


if __name__ == "__main__":
    main()
