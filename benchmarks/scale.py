"""Scale: build a large index through the real ingest code and measure it.

    python benchmarks/scale.py [--chunks 1000000] [--queries 200] [--keep DIR]

Builds (or reuses, with ``--keep``) an index of synthetic SciFact-sentence passages with
random unit vectors (``search_latency.RandomEncoder`` injected into ``ingest``: the real
chunker, catalog, BM25 sidecar and FAISS code run, only the embedding model does not),
then reports:

- build: wall time per ingest stage, peak memory (``ru_maxrss``), bytes on disk per file;
- load (fresh process): seconds to open the store and read FAISS and BM25, resident
  memory after each (FAISS is memory-mapped: see docs/index-format.md);
- query latency p50/p95 in that process for sparse, dense and hybrid, k=10, no rerank
  (queries: SciFact claims embedded by the real model through the ONNX export);
- for an HNSW index, recall@10 against exact search on the same vectors, for held-out
  random vectors and for stored vectors plus noise (queries with a close neighbour);
- cold ``rag search`` processes.

Random vectors are the hard case for HNSW (no cluster structure); recall on real
embeddings is higher. A JSON summary is written next to the index (``scale.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from search_latency import SCIFACT, RandomEncoder, percentile, synthetic_corpus  # noqa: E402


def peak_mib() -> float:
    """This process's peak resident memory: VmHWM, which (unlike ru_maxrss, inherited
    over fork) starts again at exec."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def sizes(folder: Path) -> dict[str, int]:
    out = {}
    for path in sorted(folder.iterdir()):
        if path.is_file():
            out[path.name] = path.stat().st_size
        else:
            out[path.name + "/"] = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return out


def build(folder: Path, n_chunks: int) -> dict:
    from ragcli.index import Index
    from ragcli.ingest import ingest

    index_dir = folder / "index"
    corpus = folder / "corpus.jsonl"
    index = Index(index_dir, base_dir=folder)
    if index.exists():
        return {"reused": True}
    started = time.perf_counter()
    if not corpus.exists():
        synthetic_corpus(corpus, n_chunks, sentences=3)  # about one chunk each
    corpus_seconds = time.perf_counter() - started

    def progress(stage, done, total):
        if done == total or done % 100_000 == 0:
            print(f"  {stage} {done}/{total} ({time.perf_counter() - started:.0f} s)", flush=True)

    started = time.perf_counter()
    report = ingest(
        index_dir,
        [corpus],
        index.settings,
        base_dir=folder,
        encoder=RandomEncoder(),
        progress=progress,
    )
    seconds = time.perf_counter() - started
    return {
        "corpus_seconds": round(corpus_seconds, 1),
        "ingest_seconds": round(seconds, 1),
        "stages": {k: round(v, 1) for k, v in report.timings.items()},
        "chunks": report.chunks,
        "peak_rss_mib": round(peak_mib()),
    }


def measure(index_dir: Path, n_queries: int, recall_queries: int) -> dict:
    """Runs in a fresh process: load costs, memory, latency, recall."""
    from ragcli.index import Index
    from ragcli.store import dense as dense_ops

    out: dict = {"rss_start_mib": round(rss_mib())}
    started = time.perf_counter()
    index = Index(index_dir)
    store = index.store
    out["open_store_s"] = round(time.perf_counter() - started, 3)
    started = time.perf_counter()
    faiss_index = store.dense
    out["faiss_load_s"] = round(time.perf_counter() - started, 3)
    out["rss_after_faiss_mib"] = round(rss_mib())
    started = time.perf_counter()
    _ = store.sparse
    out["bm25_load_s"] = round(time.perf_counter() - started, 3)
    out["rss_after_bm25_mib"] = round(rss_mib())
    out["dense_index"] = store.manifest.get("dense_index")
    out["chunks"] = store.n_chunks

    queries = [json.loads(line)["text"] for line in (SCIFACT / "queries.jsonl").open()]
    queries = queries[:n_queries]
    index.search(queries[0], k=10, rerank=False)  # creates the ONNX session
    latency = {}
    for mode in ("sparse", "dense", "hybrid"):
        times = []
        for query in queries:
            tick = time.perf_counter()
            index.search(query, k=10, mode=mode, rerank=False)
            times.append(time.perf_counter() - tick)
        latency[mode] = {"p50_ms": round(percentile(times, 50), 1)}
        latency[mode]["p95_ms"] = round(percentile(times, 95), 1)
        print(f"  {mode:<7} p50 {latency[mode]['p50_ms']} ms  p95 {latency[mode]['p95_ms']} ms")
    out["latency"] = latency
    vectors = [index.query_encoder.encode_query(q) for q in queries[:50]]
    times = []
    for vector in vectors:
        tick = time.perf_counter()
        dense_ops.search(faiss_index, vector, 50)
        times.append(time.perf_counter() - tick)
    out["faiss_search_only_p50_ms"] = round(percentile(times, 50), 2)
    out["rss_after_queries_mib"] = round(rss_mib())

    if out["dense_index"] == dense_ops.HNSW and recall_queries:
        out["recall_at_10"] = recall(faiss_index, recall_queries)
    out["peak_rss_mib"] = round(peak_mib())
    return out


def recall(faiss_index, n: int) -> dict:
    """recall@10 of the index's search against exact inner products on its vectors."""
    import faiss

    from ragcli.store import dense as dense_ops

    ids = dense_ops.stored_ids(faiss_index)
    matrix = dense_ops.stored_vectors(faiss_index)
    rng = np.random.default_rng(123)
    exact_index = faiss.IndexFlatIP(matrix.shape[1])  # what a flat index would cost here
    exact_index.add(matrix)
    times = []
    for query in rng.standard_normal((50, matrix.shape[1])).astype(np.float32):
        tick = time.perf_counter()
        exact_index.search(query[None, :], 50)
        times.append(time.perf_counter() - tick)
    out = {"exact_flat_search_p50_ms": round(percentile(times, 50), 2)}
    print(f"  exact (IndexFlatIP) search at this size: p50 {out['exact_flat_search_p50_ms']} ms")
    del exact_index
    held_out = rng.standard_normal((n, matrix.shape[1])).astype(np.float32)
    near = matrix[rng.choice(len(matrix), n, replace=False)] + 0.05 * held_out
    for name, queries in (("random_queries", held_out), ("near_neighbour_queries", near)):
        queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        hits = 0
        times = []
        for query in queries:
            scores = matrix @ query
            truth = np.argpartition(-scores, 10)[:10]  # rows of matrix
            tick = time.perf_counter()
            found, _ = dense_ops.search(faiss_index, query, 10)
            times.append(time.perf_counter() - tick)
            hits += len(set(found.tolist()) & set(ids[truth].tolist()))
        out[name] = {
            "recall": round(hits / (10 * len(queries)), 4),
            "p50_ms": round(percentile(times, 50), 2),
        }
        print(f"  recall@10 {name}: {out[name]}")
    return out


def cold(index_dir: Path, runs: int) -> dict:
    rag = str(Path(sys.executable).with_name("rag"))
    env = {**os.environ, "RAG_INDEX": str(index_dir)}
    out = {}
    for mode in ("hybrid", "sparse"):
        walls = []
        for run in range(runs):
            argv = [rag, "search", f"vitamin d deficiency {run}", "--no-rerank", "--json"]
            tick = time.perf_counter()
            subprocess.run([*argv, "--mode", mode], env=env, stdout=subprocess.DEVNULL, check=False)
            walls.append(time.perf_counter() - tick)
        out[f"cold_rag_search_{mode}_s"] = round(statistics.median(walls), 3)
        print(f"  cold rag search --mode {mode}: median {out[f'cold_rag_search_{mode}_s']} s")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--recall-queries", type=int, default=200)
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the index in this folder")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # internal
    args = parser.parse_args()

    if args.measure:
        print(json.dumps(measure(args.measure, args.queries, args.recall_queries)))
        return

    folder = args.keep or Path(tempfile.mkdtemp(prefix="rag-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    index_dir = folder / "index"
    print(f"building {args.chunks} chunks in {folder}", flush=True)
    summary: dict = {"requested_chunks": args.chunks, "build": build(folder, args.chunks)}
    print(f"build: {summary['build']}", flush=True)
    live = index_dir / (index_dir / "CURRENT").read_text().strip()
    summary["bytes"] = sizes(live)
    print(f"bytes: {summary['bytes']}", flush=True)

    result = subprocess.run(
        [
            sys.executable,
            __file__,
            "--measure",
            str(index_dir),
            "--queries",
            str(args.queries),
            "--recall-queries",
            str(args.recall_queries),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = result.stdout.strip().splitlines()
    print("\n".join(lines[:-1]), flush=True)
    summary["measure"] = json.loads(lines[-1])
    summary.update(cold(index_dir, args.cold_runs))
    (folder / "scale.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
