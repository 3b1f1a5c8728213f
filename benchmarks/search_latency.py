"""Search latency on a large index: in-process p50/p95 and a cold `rag search` process.

    python benchmarks/search_latency.py [--chunks 100000] [--queries 200]

The index is built from real sentences (SciFact abstracts from ../shared/data, recombined
into as many chunk-sized passages as asked for) with the real chunker and BM25 sidecar,
but with random unit vectors instead of model embeddings: latency does not depend on the
vectors' values, and embedding 100k chunks on 2 cores would take most of an hour.
Queries are real SciFact claims, encoded by the real model at search time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
SCIFACT = REPO.parent / "shared" / "data" / "scifact" / "beir"


class RandomEncoder:
    """Stands in for the embedding model at ingest: random unit vectors, instantly."""

    dimension = 384

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)

    def encode(self, texts, progress=None):
        vectors = self.rng.standard_normal((len(texts), self.dimension)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        if progress:
            progress(len(texts))
        return vectors


def synthetic_corpus(path: Path, n_docs: int, seed: int = 0, sentences: int = 6) -> None:
    """``n_docs`` JSONL records of ``sentences`` random SciFact sentences each (6 make
    about 1.6 chunks of 200 tokens, 3 about one)."""
    pool = []
    with (SCIFACT / "corpus.jsonl").open() as handle:
        for line in handle:
            text = json.loads(line)["text"]
            pool.extend(s.strip() + "." for s in text.split(". ") if len(s) > 20)
    rng = random.Random(seed)
    with path.open("w") as out:
        for number in range(n_docs):
            body = " ".join(rng.choice(pool) for _ in range(sentences))
            out.write(json.dumps({"_id": f"d{number}", "title": "", "text": body}) + "\n")


def percentile(values, q):
    return float(np.percentile(np.asarray(values) * 1000, q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the index in this folder")
    args = parser.parse_args()

    from ragcli.index import Index

    folder = args.keep or Path(tempfile.mkdtemp(prefix="rag-latency-"))
    folder.mkdir(parents=True, exist_ok=True)
    index_dir = folder / "index"
    corpus = folder / "corpus.jsonl"
    index = Index(index_dir, base_dir=folder)
    if not index.exists():
        synthetic_corpus(corpus, args.chunks, sentences=3)  # about one chunk each
        started = time.perf_counter()
        from ragcli.ingest import ingest
        from ragcli.store.local import LocalWriter

        report = ingest(
            LocalWriter(index_dir),
            [corpus],
            index.settings,
            base_dir=folder,
            encoder=RandomEncoder(),
        )
        print(f"built {report.chunks} chunks in {time.perf_counter() - started:.0f} s")
    index = Index(index_dir, base_dir=folder)
    print(f"index             {index_dir} ({index.store.n_chunks} chunks)")

    queries = []
    with (SCIFACT / "queries.jsonl").open() as handle:
        for line in handle:
            queries.append(json.loads(line)["text"])
    queries = queries[: args.queries]

    index.search(queries[0], k=10, rerank=False)  # load model, FAISS, BM25
    for mode in ("sparse", "dense", "hybrid"):
        times = []
        for query in queries:
            started = time.perf_counter()
            index.search(query, k=10, mode=mode, rerank=False)
            times.append(time.perf_counter() - started)
        print(
            f"in-process {mode:<7}p50 {percentile(times, 50):6.1f} ms   "
            f"p95 {percentile(times, 95):6.1f} ms   ({len(times)} queries, k=10, no rerank)"
        )
    encode_times = []
    for query in queries:
        started = time.perf_counter()
        index.encoder.encode_query(query)
        encode_times.append(time.perf_counter() - started)
    print(f"  of which query encoding p50 {percentile(encode_times, 50):.1f} ms")

    rag = str(Path(sys.executable).with_name("rag"))
    env = {**os.environ, "RAG_INDEX": str(index_dir)}
    commands = ([rag, "search", queries[1], "--no-rerank", "--json"], [rag, "--help"])
    for argv in commands if args.cold_runs > 0 else ():
        walls = []
        for _ in range(args.cold_runs):
            started = time.perf_counter()
            subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
            walls.append(time.perf_counter() - started)
        label = " ".join(a if len(a) < 20 else "'...'" for a in argv[1:])
        print(f"cold process      rag {label}: p50 {statistics.median(walls):.2f} s")


if __name__ == "__main__":
    main()
