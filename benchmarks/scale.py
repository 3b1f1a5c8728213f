"""Scale: the dense index types compared, and a large index built and measured end to end.

    python benchmarks/scale.py --compare --chunks 1000000 --kinds flat,ivf --keep DIR
    python benchmarks/scale.py --chunks 1000000 --keep DIR [--runs 3] [--queries 100]
    python benchmarks/scale.py --ingest --chunks 1000000 --files 1000 --keep DIR
    python benchmarks/scale.py --resume-check --chunks 200000 --files 200 --keep DIR

Vectors are realistic rather than random: every SciFact sentence (../shared/data) is
embedded once with the real model (all-MiniLM-L6-v2 through its ONNX export, cached in
DIR), and a chunk of three sentences gets the normalised mean of its sentences' vectors.
The passages of the end-to-end index are made of the same sentences (search_latency's
``synthetic_corpus``), so dense and sparse sides agree about what a chunk is about.
Queries are SciFact claims embedded by the same model.

``--compare`` builds each dense index type (``ragcli.store.dense``) on such vectors
without the rest of ingest, each in its own process, and reports build time and peak
memory, size on disk, load time (memory-mapped, with the first query) and, in a fresh
process, recall@10 against exact search and single-query latency p50/p95 (IVF: for
several ``nprobe``; HNSW: for several ``efSearch``).

Without ``--compare`` the index is built through the real ingest code (chunker,
catalog, BM25 sidecar, FAISS; only the embedding model is replaced by the sentence-mean
encoder) in a process of its own, then each figure is measured in fresh processes,
``--runs`` times, and given as p50 and p95: peak memory of building (one build) and of
searching (``ru_maxrss``/VmHWM), bytes on disk per part, load time (open the index and
answer the first hybrid query), in-process latency without and with rerank (a
cross-encoder of the default's size made from the MiniLM-L6 weights with a fresh head,
as in benchmarks/rerank.py; depth 20), recall@10 of the dense index against exact
search, and cold ``rag search`` processes. With ``--keep`` everything built (sentence
vectors, corpus, index, reranker) is kept and reused, so the measurements can be
repeated without rebuilding. A JSON summary is written to DIR/scale-<chunks>.json.

``--ingest`` and ``--resume-check`` ingest a folder of ``--files`` JSONL files (made
once in DIR) through the real ingest code with ``HashEncoder`` vectors, each ingest in a
process of its own. ``--ingest`` times a fresh ingest, then 10 files added and 10
removed. ``--resume-check`` runs one uninterrupted ingest, and one SIGKILLed once
``--kill-at`` of ``--chunks`` (default half) are embedded in its checkpoint and then run
again; the two indexes are compared chunk by chunk (catalog rows of chunks,
documents and files; every vector by chunk id, bit for bit; the BM25 score of every
chunk for ``--queries`` SciFact claims) and the figures printed: chunks compared,
mismatches, chunks taken from the checkpoint, and the time of each run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from search_latency import SCIFACT, synthetic_corpus  # noqa: E402

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
KINDS = {
    "flat": "IndexIDMap2(IndexFlatIP)",
    "ivf": "IndexIVFFlat",
    "hnsw": "IndexIDMap2(IndexHNSWFlat)",
}


# memory ---------------------------------------------------------------------------------
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
    out["total"] = sum(out.values())
    return out


def ms(values, q) -> float:
    return round(float(np.percentile(np.asarray(values) * 1000, q)), 2)


def p50_p95(values, scale: float = 1.0, digits: int = 3) -> dict:
    values = np.asarray(values, dtype=float) * scale
    return {
        "p50": round(float(np.percentile(values, 50)), digits),
        "p95": round(float(np.percentile(values, 95)), digits),
    }


# realistic vectors ------------------------------------------------------------------------
def sentence_pool() -> list[str]:
    """The distinct SciFact sentences that ``synthetic_corpus`` draws from."""
    pool = []
    with (SCIFACT / "corpus.jsonl").open() as handle:
        for line in handle:
            text = json.loads(line)["text"]
            pool.extend(s.strip() + "." for s in text.split(". ") if len(s) > 20)
    return list(dict.fromkeys(pool))


def onnx_encoder():
    from ragcli.embed import onnx_cache_dir
    from ragcli.embed.onnx import OnnxEncoder
    from ragcli.embed.onnx_export import ensure_export

    folder = onnx_cache_dir(MODEL)
    ensure_export(MODEL, folder)
    return OnnxEncoder(folder, "float", batch_size=64).load()


def pool_vectors(folder: Path) -> tuple[list[str], np.ndarray]:
    """(sentences, their embeddings), embedded once and kept in ``folder``."""
    sentences = sentence_pool()
    path = folder / "pool_vectors.npy"
    if path.exists():
        vectors = np.load(path)
        if len(vectors) == len(sentences):
            return sentences, vectors
    print(f"embedding {len(sentences)} SciFact sentences (once)", flush=True)
    started = time.perf_counter()
    vectors = onnx_encoder().encode(sentences)
    print(f"  {time.perf_counter() - started:.0f} s", flush=True)
    np.save(path, vectors)
    return sentences, vectors


def query_texts(n: int) -> list[str]:
    with (SCIFACT / "queries.jsonl").open() as handle:
        return [json.loads(line)["text"] for line in handle][:n]


def query_vectors(folder: Path, n: int) -> np.ndarray:
    path = folder / f"query_vectors_{n}.npy"
    if not path.exists():
        np.save(path, onnx_encoder().encode(query_texts(n)))
    return np.load(path)


def mixed_vectors(pool: np.ndarray, n: int, seed: int = 0, per: int = 3) -> np.ndarray:
    """``n`` unit vectors, each the normalised mean of ``per`` random pool vectors."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, pool.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        rows = rng.integers(0, len(pool), (stop - start, per))
        block = pool[rows].sum(axis=1)
        out[start:stop] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


class SentenceMeanEncoder:
    """Stands in for the model at ingest: a chunk's vector is the normalised mean of the
    (real) embeddings of the pool sentences in it; text with none gets a random vector."""

    def __init__(self, sentences: list[str], vectors: np.ndarray):
        self.row = {s: i for i, s in enumerate(sentences)}
        self.vectors = vectors
        self.dimension = vectors.shape[1]
        self.model_name = MODEL
        self.max_seq_length = 256
        self.rng = np.random.default_rng(0)

    def encode(self, texts, progress=None):
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for number, text in enumerate(texts):
            rows = []
            for piece in text.replace("\n", " ").split(". "):
                piece = piece.strip()
                row = self.row.get(piece if piece.endswith(".") else piece + ".")
                if row is not None:
                    rows.append(row)
            if rows:
                vector = self.vectors[rows].sum(axis=0)
            else:
                vector = self.rng.standard_normal(self.dimension).astype(np.float32)
            out[number] = vector / np.linalg.norm(vector)
            if progress and number % 10_000 == 9_999:
                progress(10_000)
        if progress and len(texts) % 10_000:
            progress(len(texts) % 10_000)
        return out

    def encode_query(self, text):
        return self.encode([text])[0]


def exact_top(matrix: np.ndarray, queries: np.ndarray, k: int = 10) -> np.ndarray:
    """Row numbers of the exact top ``k`` of each query (FAISS flat, all threads)."""
    import faiss

    exact = faiss.IndexFlatIP(matrix.shape[1])
    exact.add(matrix)
    return exact.search(np.ascontiguousarray(queries, dtype=np.float32), k)[1]


def recall(found: list[np.ndarray], truth: np.ndarray) -> float:
    k = truth.shape[1]
    hits = sum(
        len(set(f[:k].tolist()) & set(t.tolist())) for f, t in zip(found, truth, strict=True)
    )
    return round(hits / (k * len(truth)), 4)


def timed_searches(index, queries: np.ndarray, k: int = 10, **params):
    from ragcli.store import dense

    saved = {name: getattr(dense, name) for name in params}
    for name, value in params.items():
        setattr(dense, name, value)
    try:
        found, times, cpu = [], [], []
        for query in queries:
            tick, cpu_tick = time.perf_counter(), time.thread_time()
            ids, _ = dense.search(index, query, k)
            times.append(time.perf_counter() - tick)
            cpu.append(time.thread_time() - cpu_tick)
            found.append(ids)
    finally:
        for name, value in saved.items():
            setattr(dense, name, value)
    return found, times, cpu


# --compare: the index types on their own ---------------------------------------------------
def ann_build(kind: str, n: int, folder: Path, nlist: int | None) -> dict:
    from ragcli.store import dense

    _, pool = pool_vectors(folder)
    matrix = mixed_vectors(pool, n)
    truth_path = folder / f"truth-{n}.npy"
    if not truth_path.exists():
        np.save(truth_path, exact_top(matrix, query_vectors(folder, 200)))
    base = rss_mib()
    started = time.perf_counter()
    index = dense.build(KINDS[kind], matrix.shape[1], np.arange(n), matrix, nlist=nlist)
    seconds = time.perf_counter() - started
    path = folder / f"ann-{kind}-{n}.faiss"
    dense.write_index(index, path)
    out = {
        "build_s": round(seconds, 1),
        "peak_mib": round(peak_mib()),
        "vectors_mib": round(matrix.nbytes / 2**20),
        "rss_before_build_mib": round(base),
        "bytes": path.stat().st_size,
    }
    if kind == "ivf":
        out["nlist"] = index.nlist
    return out


def ann_search(kind: str, n: int, folder: Path, n_queries: int) -> dict:
    """Recall and latency; wall time and this thread's CPU time per query (one thread:
    on a shared machine the CPU time is the steadier figure)."""
    from ragcli.store import dense

    queries = query_vectors(folder, 200)[:n_queries]
    truth = np.load(folder / f"truth-{n}.npy")[:n_queries]
    started = time.perf_counter()
    index = dense.read_index(folder / f"ann-{kind}-{n}.faiss", mmap=True)
    dense.search(index, queries[0], 10)
    out = {"load_first_query_s": round(time.perf_counter() - started, 3)}
    if kind == "flat":
        settings = [{}]
    elif kind == "ivf":
        settings = [{"IVF_NPROBE": p} for p in (16, 32, 64, 128, 192, 256, 384, 512)]
    else:
        settings = [{"HNSW_EF_SEARCH": e} for e in (64, 128, 256)]
    for params in settings:
        timed_searches(index, queries[:20], **params)  # fault the pages in
        found, times, cpu = timed_searches(index, queries, **params)
        found, times2, cpu2 = timed_searches(index, queries, **params)  # 2 runs, pooled
        label = ",".join(f"{k}={v}" for k, v in params.items()) or "exact"
        out[label] = {
            "recall_at_10": recall(found, truth),
            "p50_ms": ms(times + times2, 50),
            "p95_ms": ms(times + times2, 95),
            "cpu_p50_ms": ms(cpu + cpu2, 50),
            "cpu_p95_ms": ms(cpu + cpu2, 95),
        }
        print(f"  {kind} {n} {label}: {out[label]}", file=sys.stderr, flush=True)
    out["peak_mib"] = round(peak_mib())
    return out


def compare(args) -> dict:
    results = {}
    for kind in args.kinds.split(","):
        row = {}
        for step in ("ann-build", "ann-search"):
            argv = [sys.executable, __file__, "--worker", step, "--kind", kind]
            argv += ["--chunks", str(args.chunks), "--keep", str(args.keep)]
            argv += ["--queries", str(args.queries)]
            if args.nlist:
                argv += ["--nlist", str(args.nlist)]
            done = subprocess.run(argv, capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"{step} {kind} failed:\n{done.stderr[-3000:]}")
            row[step] = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{kind} {args.chunks} {step}: {json.dumps(row[step])}", flush=True)
        results[kind] = row
    return results


# the end-to-end index ---------------------------------------------------------------------
def build(folder: Path, n_chunks: int) -> dict:
    """Runs in its own process: ingest the synthetic corpus with the sentence-mean encoder."""
    from ragcli.index import Index
    from ragcli.ingest import ingest
    from ragcli.store.local import LocalWriter

    index_dir = folder / f"index-{n_chunks}"
    corpus = folder / f"corpus-{n_chunks}.jsonl"
    index = Index(index_dir, base_dir=folder)
    if index.exists():
        return json.loads((folder / f"build-{n_chunks}.json").read_text())
    sentences, vectors = pool_vectors(folder)
    started = time.perf_counter()
    if not corpus.exists():
        synthetic_corpus(corpus, n_chunks, sentences=3)  # about one chunk each
    corpus_seconds = time.perf_counter() - started

    def progress(stage, done, total):
        if done == total or done % 100_000 == 0:
            print(f"  {stage} {done}/{total} ({time.perf_counter() - started:.0f} s)", flush=True)

    started = time.perf_counter()
    report = ingest(
        LocalWriter(index_dir),
        [corpus],
        index.settings,
        base_dir=folder,
        encoder=SentenceMeanEncoder(sentences, vectors),
        progress=progress,
    )
    out = {
        "corpus_s": round(corpus_seconds, 1),
        "ingest_s": round(time.perf_counter() - started, 1),
        "stages_s": {k: round(v, 1) for k, v in report.timings.items()},
        "chunks": report.chunks,
        "build_peak_mib": round(peak_mib()),
    }
    (folder / f"build-{n_chunks}.json").write_text(json.dumps(out) + "\n")
    return out


def rebuild_dense(folder: Path, n_chunks: int) -> dict:
    """Rebuild the live generation's dense.faiss with the current ``ragcli.store.dense``
    parameters (what the next ingest would build from its stored vectors), for an index
    built before they changed; the time is added to DIR/build-<chunks>.json."""
    from ragcli.store import dense

    index_dir = folder / f"index-{n_chunks}"
    path = index_dir / (index_dir / "CURRENT").read_text().strip() / dense.DENSE_FILE
    started = time.perf_counter()
    old = dense.read_index(path)
    ids, vectors = dense._stored(old)
    read_s = time.perf_counter() - started
    del old
    started = time.perf_counter()
    index = dense.build(dense.kind_for(len(ids)), vectors.shape[1], ids, vectors)
    out = {"read_s": round(read_s, 1), "build_s": round(time.perf_counter() - started, 1)}
    dense.write_index(index, path.with_suffix(".tmp"))
    os.replace(path.with_suffix(".tmp"), path)
    out["kind"] = dense.kind_of(index)
    out["nlist"] = getattr(index, "nlist", None)
    out["peak_mib"] = round(peak_mib())
    record = folder / f"build-{n_chunks}.json"
    built = json.loads(record.read_text())
    built["dense_rebuilt"] = out
    record.write_text(json.dumps(built) + "\n")
    return out


def load_once(index_dir: Path) -> dict:
    """Runs in a fresh process: open the index and answer the first hybrid query."""
    started, cpu = time.perf_counter(), time.process_time()
    from ragcli.index import Index

    index = Index(index_dir)
    index.search(query_texts(1)[0], k=10, rerank=False)
    return {
        "load_s": time.perf_counter() - started,
        "load_cpu_s": time.process_time() - cpu,
        "peak_mib": peak_mib(),
    }


def reranker_folder(folder: Path) -> Path:
    """A cross-encoder of the default reranker's size (as in benchmarks/rerank.py)."""
    target = folder / "reranker"
    if not (target / "config.json").exists():
        from transformers import AutoTokenizer, BertForSequenceClassification

        from ragcli.weights import DEFAULT_EMBED_MODEL, resolve_model_path

        source = resolve_model_path(DEFAULT_EMBED_MODEL)
        BertForSequenceClassification.from_pretrained(source, num_labels=1).save_pretrained(target)
        AutoTokenizer.from_pretrained(source).save_pretrained(target)
    return target


def latency_once(index_dir: Path, folder: Path, n_queries: int, n_rerank: int) -> dict:
    """Runs in a fresh process: per-query times without rerank (dense, sparse, hybrid),
    the process's peak memory then, and hybrid with rerank (depth 20)."""
    from ragcli.index import Index

    index = Index(index_dir)
    queries = query_texts(n_queries)
    index.search(queries[0], k=10, rerank=False)
    out: dict = {}
    for mode in ("sparse", "dense", "hybrid"):
        times, cpu = [], []
        for query in queries:
            tick, cpu_tick = time.perf_counter(), time.process_time()
            index.search(query, k=10, mode=mode, rerank=False)
            times.append(time.perf_counter() - tick)
            cpu.append(time.process_time() - cpu_tick)
        out[mode] = times
        out[f"{mode}_cpu"] = cpu  # all threads: the ONNX session's too
    out["peak_mib_no_rerank"] = peak_mib()
    model = str(reranker_folder(folder))
    index.search(queries[0], k=10, rerank=True, rerank_model=model)  # load the model
    times, cpu = [], []
    for query in queries[:n_rerank]:
        tick, cpu_tick = time.perf_counter(), time.process_time()
        index.search(query, k=10, rerank=True, rerank_model=model, rerank_depth=20)
        times.append(time.perf_counter() - tick)
        cpu.append(time.process_time() - cpu_tick)
    out["hybrid_rerank"] = times
    out["hybrid_rerank_cpu"] = cpu
    out["peak_mib_rerank"] = peak_mib()
    return out


def dense_recall(index_dir: Path, folder: Path, n_queries: int) -> dict:
    """recall@10 (and @50) of the index's dense search against exact search."""
    from ragcli.index import Index
    from ragcli.store import dense

    store = Index(index_dir).store
    index = store.dense
    ids, matrix = dense._stored(index)
    queries = query_vectors(folder, 200)[:n_queries]
    out = {"dense_index": dense.kind_of(index)}
    for k in (10, 50):
        truth = ids[exact_top(matrix, queries, k)]
        found = [dense.search(index, q, k)[0] for q in queries]
        out[f"recall_at_{k}"] = recall(found, truth)
    return out


# ingest at scale: memory, time, incremental changes, resume -----------------------------
class HashEncoder:
    """Stands in for the model in ``--ingest``: a unit vector seeded by the text's CRC-32,
    so a text always gets the same vector (a resumed ingest can be compared with an
    uninterrupted one) and encoding costs nothing next to the rest of ingest."""

    dimension = 384
    model_name = MODEL
    max_seq_length = 256
    encoded = 0  # texts encoded by this instance

    def encode(self, texts, progress=None):
        import zlib

        self.encoded += len(texts)
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for number, text in enumerate(texts):
            rng = np.random.default_rng(zlib.crc32(text.encode()))
            out[number] = rng.standard_normal(self.dimension, dtype=np.float32)
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        if progress:
            progress(len(texts))
        return out

    def encode_query(self, text):
        return self.encode([text])[0]


def corpus_folder(folder: Path, n_chunks: int, n_files: int) -> tuple[Path, Path]:
    """(the corpus: ``n_files`` JSONL files of records of three SciFact sentences, about
    one chunk each, as ``synthetic_corpus`` makes them; 10 more files to add later),
    written once."""
    import random

    pool = sentence_pool()
    corpus, extra = folder / f"files-{n_chunks}", folder / f"extra-{n_chunks}"
    per_file = max(1, n_chunks // n_files)
    for target, count, first in ((corpus, n_files, 0), (extra, 10, 10_000_000)):
        if (target / ".complete").exists():
            continue
        target.mkdir(parents=True, exist_ok=True)
        for number in range(first, first + count):
            rng = random.Random(number)
            with (target / f"part-{number:08d}.jsonl").open("w") as out:
                for record in range(per_file):
                    body = " ".join(rng.choice(pool) for _ in range(3))
                    out.write(json.dumps({"_id": f"d{number}-{record}", "text": body}) + "\n")
        (target / ".complete").touch()
    return corpus, extra


def phase_peaks():
    """Peak VmRSS per phase of an ingest: its progress stages, then the commit's dense
    write and the rest of the commit (``LocalWriter`` wrapped to name them)."""
    from dense_memory import PhasePeaks

    from ragcli.store.local import LocalWriter

    peaks = PhasePeaks()
    commit, write_dense = LocalWriter.commit, LocalWriter._write_dense

    def named(phase, method, after=None):
        def wrapper(self, *args, **kwargs):
            peaks.phase = phase
            try:
                return method(self, *args, **kwargs)
            finally:
                peaks.phase = after or peaks.phase

        return wrapper

    LocalWriter.commit = named("commit (other)", commit)
    LocalWriter._write_dense = named("commit (dense)", write_dense, "commit (other)")
    return peaks, lambda stage, done, total: setattr(peaks, "phase", stage)


def ingest_folder(folder: Path, index_dir: Path, corpus: Path) -> dict:
    """Runs in its own process: ingest ``corpus`` into ``index_dir`` (new or not)."""
    from ragcli.index import Index
    from ragcli.ingest import ingest
    from ragcli.store.local import LocalWriter

    index = Index(index_dir, base_dir=folder)
    peaks, progress = phase_peaks()
    started = time.perf_counter()
    encoder = HashEncoder()
    report = ingest(
        LocalWriter(index_dir),
        [corpus],
        index.settings,
        base_dir=folder,
        encoder=encoder,
        progress=progress,
    )
    return {
        "encoded_chunks": encoder.encoded,
        "wall_s": round(time.perf_counter() - started, 1),
        "peak_mib": round(peak_mib()),
        "phase_peak_mib": peaks.report(),
        "stages_s": {k: round(v, 1) for k, v in report.timings.items()},
        "chunks": report.chunks,
        "chunks_added": report.chunks_added,
        "chunks_removed": report.chunks_removed,
        "generation": report.generation,
    }


def ingest_step(args, step: str, index_dir: Path, corpus: Path) -> dict:
    argv = [sys.executable, __file__, "--worker", step, "--keep", str(args.keep)]
    argv += ["--index-dir", str(index_dir), "--corpus", str(corpus)]
    return worker_json(argv, step)


def worker_json(argv: list[str], what: str) -> dict:
    """Run a worker process; its last stdout line (JSON), with the load averages (1, 5,
    15 min) before and after it."""
    load_before = os.getloadavg()
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{what} failed:\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["load_average_1_5_15"] = [round(x, 2) for x in (*load_before, *os.getloadavg())]
    return out


def ingest_benchmark(args) -> dict:
    """A fresh ingest of the corpus folder, then 10 files added, then 10 removed: wall
    time and peak memory of each, in a process of its own."""
    import shutil

    corpus, extra = corpus_folder(args.keep, args.chunks, args.files)
    index_dir = args.keep / f"ingest-{args.chunks}-{args.label}"
    shutil.rmtree(index_dir, ignore_errors=True)
    summary: dict = {"chunks": args.chunks, "files": args.files, "label": args.label}
    summary["fresh"] = ingest_step(args, "ingest-folder", index_dir, corpus)
    print(f"fresh ingest: {json.dumps(summary['fresh'])}", flush=True)
    added = [shutil.copy2(path, corpus / f"added-{path.name}") for path in extra.glob("*.jsonl")]
    held = args.keep / f"held-{args.chunks}"
    held.mkdir(exist_ok=True)
    try:
        summary["add_10_files"] = ingest_step(args, "ingest-folder", index_dir, corpus)
        print(f"add 10 files: {json.dumps(summary['add_10_files'])}", flush=True)
        removed = sorted(corpus.glob("part-*.jsonl"))[:10]
        for path in removed:
            shutil.move(path, held / path.name)
        summary["remove_10_files"] = ingest_step(args, "ingest-folder", index_dir, corpus)
        print(f"remove 10 files: {json.dumps(summary['remove_10_files'])}", flush=True)
    finally:
        for path in added:
            Path(path).unlink(missing_ok=True)
        for path in held.glob("*.jsonl"):
            shutil.move(path, corpus / path.name)
    live = index_dir / (index_dir / "CURRENT").read_text().strip()
    summary["bytes"] = sizes(live)
    if not args.keep_index:
        shutil.rmtree(index_dir, ignore_errors=True)
    return summary


# resume after SIGKILL at scale ----------------------------------------------------------
def checkpoint_chunks(index_dir: Path) -> tuple[int, int]:
    """(batches, chunks) in the checkpoint of an ingest into ``index_dir``."""
    from ragcli.ingest.checkpoint import CHECKPOINT_DIR

    batches = chunks = 0
    for path in (index_dir / CHECKPOINT_DIR).glob("batch-*.json"):
        try:
            chunks += json.loads(path.read_text())["chunks"]
        except (OSError, ValueError):  # being replaced as we read
            continue
        batches += 1
    return batches, chunks


def killed_ingest(args, index_dir: Path, corpus: Path, after_chunks: int) -> dict:
    """Start the ``--ingest`` worker on ``corpus`` and SIGKILL it (its process group)
    once ``after_chunks`` embedded chunks are in its checkpoint."""
    import signal

    argv = [sys.executable, __file__, "--worker", "ingest-folder", "--keep", str(args.keep)]
    argv += ["--index-dir", str(index_dir), "--corpus", str(corpus)]
    load_before = os.getloadavg()
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as errors:
        process = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=errors, start_new_session=True
        )
        while checkpoint_chunks(index_dir)[1] < after_chunks:
            if process.poll() is not None:
                errors.seek(0)
                sys.exit(f"the ingest ended before {after_chunks} chunks:\n{errors.read()}")
            time.sleep(0.1)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    batches, chunks = checkpoint_chunks(index_dir)
    return {
        "killed_after_s": round(time.perf_counter() - started, 1),
        "returncode": process.returncode,
        "batches_kept": batches,
        "chunks_kept": chunks,
        "load_average_1_5_15": [round(x, 2) for x in (*load_before, *os.getloadavg())],
    }


def _live(index_dir: Path) -> Path:
    return index_dir / (index_dir / "CURRENT").read_text().strip()


def compare_rows(a: Path, b: Path, sql: str) -> dict:
    """Rows of ``sql`` in two catalogs, compared in order: how many, how many differ."""
    import sqlite3

    dbs = [sqlite3.connect(f"file:{path}?mode=ro", uri=True) for path in (a, b)]
    try:
        left, right = (db.execute(sql) for db in dbs)
        rows = mismatches = 0
        while True:
            part_a, part_b = left.fetchmany(10_000), right.fetchmany(10_000)
            if not part_a and not part_b:
                break
            rows += max(len(part_a), len(part_b))
            mismatches += abs(len(part_a) - len(part_b))
            mismatches += sum(x != y for x, y in zip(part_a, part_b, strict=False))
    finally:
        for db in dbs:
            db.close()
    return {"rows": rows, "mismatches": mismatches}


def _vectors_by_id(index, ids: np.ndarray) -> np.ndarray:
    import faiss

    from ragcli.store import dense

    if dense.kind_of(index) == dense.IVF:
        faiss.extract_index_ivf(index).make_direct_map()
    return dense.vectors_for(index, ids)


def compare_vectors(a: Path, b: Path, block: int = 20_000) -> dict:
    """Every stored vector of two dense indexes, by chunk id, compared bit for bit."""
    from ragcli.store import dense

    left, right = dense.read_index(a), dense.read_index(b)
    ids_a, ids_b = np.sort(dense.stored_ids(left)), np.sort(dense.stored_ids(right))
    out = {"ids": len(ids_a), "ids_equal": bool(np.array_equal(ids_a, ids_b))}
    if not out["ids_equal"]:
        return out
    mismatches = 0
    for start in range(0, len(ids_a), block):
        ids = ids_a[start : start + block]
        x, y = _vectors_by_id(left, ids), _vectors_by_id(right, ids)
        mismatches += int(np.count_nonzero(np.any(x != y, axis=1)))
    return out | {"vector_mismatches": mismatches}


def compare_bm25(a: Path, b: Path, queries: list[str]) -> dict:
    """BM25 scores of every chunk of two sidecars for ``queries``: chunks whose scores
    differ by more than 1e-6, and the largest difference."""
    from ragcli.store.sparse import SparseIndex

    left, right = SparseIndex.load(a), SparseIndex.load(b)
    out = {"rows": len(left), "row_ids_equal": bool(np.array_equal(left.row_ids, right.row_ids))}
    if not out["row_ids_equal"]:
        return out
    over, largest, scored = 0, 0.0, 0
    for query in queries:
        x, y = left.scores(query), right.scores(query)
        difference = np.abs(x.astype(np.float64) - y)
        over += int(np.count_nonzero(difference > 1e-6))
        largest = max(largest, float(difference.max(initial=0.0)))
        scored += int(np.count_nonzero(x))
    return out | {
        "queries": len(queries),
        "chunks_scored_above_0": scored,
        "score_mismatches_over_1e-6": over,
        "max_abs_difference": largest,
    }


def compare_indexes(whole: Path, resumed: Path, n_queries: int) -> dict:
    """Runs in its own process: the live generations of two indexes, chunk by chunk."""
    a, b = _live(whole), _live(resumed)
    manifests = [json.loads((gen / "manifest.json").read_text()) for gen in (a, b)]
    same = ("counts", "next_chunk_id", "generation", "format_version", "dense_index")
    catalogs = a / "catalog.sqlite", b / "catalog.sqlite"
    return {
        "manifest_fields_equal": {key: manifests[0][key] == manifests[1][key] for key in same},
        "chunks": compare_rows(*catalogs, "SELECT * FROM chunks ORDER BY chunk_id"),
        "documents": compare_rows(*catalogs, "SELECT * FROM documents ORDER BY doc_id"),
        "files": compare_rows(*catalogs, "SELECT path, source, sha256, size FROM files ORDER BY 1"),
        "vectors": compare_vectors(a / "dense.faiss", b / "dense.faiss"),
        "bm25": compare_bm25(a / "sparse", b / "sparse", query_texts(n_queries)),
        "index_folder_entries_equal": sorted(p.name for p in whole.iterdir())
        == sorted(p.name for p in resumed.iterdir()),
    }


def resume_check(args) -> dict:
    """An uninterrupted ingest of the corpus folder; another SIGKILLed part-way and run
    again; the two indexes compared chunk by chunk, and the times of each run."""
    import shutil

    corpus, _ = corpus_folder(args.keep, args.chunks, args.files)
    whole, resumed = (args.keep / f"resume-{args.chunks}-{name}" for name in ("whole", "resumed"))
    for folder in (whole, resumed):
        shutil.rmtree(folder, ignore_errors=True)
    after = int(args.chunks * args.kill_at)
    summary: dict = {"chunks": args.chunks, "files": args.files, "kill_after_chunks": after}
    summary["uninterrupted"] = ingest_step(args, "ingest-folder", whole, corpus)
    print(f"uninterrupted: {json.dumps(summary['uninterrupted'])}", flush=True)
    summary["killed"] = killed_ingest(args, resumed, corpus, after)
    print(f"SIGKILLed: {json.dumps(summary['killed'])}", flush=True)
    summary["rerun"] = ingest_step(args, "ingest-folder", resumed, corpus)
    print(f"rerun: {json.dumps(summary['rerun'])}", flush=True)
    argv = [sys.executable, __file__, "--worker", "resume-compare", "--keep", str(args.keep)]
    argv += ["--index-dir", str(whole), "--against", str(resumed)]
    argv += ["--queries", str(args.queries)]
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"comparison failed:\n{done.stderr[-3000:]}")
    summary["comparison"] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"comparison: {json.dumps(summary['comparison'])}", flush=True)
    summary["figures"] = resume_figures(summary)
    print(f"figures: {json.dumps(summary['figures'])}", flush=True)
    if not args.keep_index:
        for folder in (whole, resumed):
            shutil.rmtree(folder, ignore_errors=True)
    return summary


def resume_figures(summary: dict) -> dict:
    """What the comparison and the three runs come to."""
    comparison, killed = summary["comparison"], summary["killed"]
    whole_s, rerun_s = summary["uninterrupted"]["wall_s"], summary["rerun"]["wall_s"]
    mismatches = (
        comparison["chunks"]["mismatches"]
        + comparison["documents"]["mismatches"]
        + comparison["files"]["mismatches"]
        + comparison["vectors"].get("vector_mismatches", comparison["vectors"]["ids"])
        + comparison["bm25"].get("score_mismatches_over_1e-6", comparison["bm25"]["rows"])
        + sum(not equal for equal in comparison["manifest_fields_equal"].values())
        + (not comparison["index_folder_entries_equal"])
    )
    return {
        "chunks_compared": comparison["chunks"]["rows"],
        "mismatches": mismatches,
        "chunks_reused_from_checkpoint": summary["rerun"]["chunks_added"]
        - summary["rerun"]["encoded_chunks"],
        "chunks_kept_at_kill": killed["chunks_kept"],
        "uninterrupted_s": whole_s,
        "killed_after_s": killed["killed_after_s"],
        "rerun_s": rerun_s,
        "rerun_saved_s": round(whole_s - rerun_s, 1),
        "lost_to_the_kill_s": round(killed["killed_after_s"] + rerun_s - whole_s, 1),
    }


def run_worker(args) -> None:
    folder = args.keep
    if args.worker == "ingest-folder":
        result = ingest_folder(folder, args.index_dir, args.corpus)
    elif args.worker == "resume-compare":
        result = compare_indexes(args.index_dir, args.against, args.queries)
    elif args.worker == "ann-build":
        result = ann_build(args.kind, args.chunks, folder, args.nlist)
    elif args.worker == "ann-search":
        result = ann_search(args.kind, args.chunks, folder, args.queries)
    elif args.worker == "build":
        result = build(folder, args.chunks)
    elif args.worker == "rebuild-dense":
        result = rebuild_dense(folder, args.chunks)
    elif args.worker == "load":
        result = load_once(folder / f"index-{args.chunks}")
    elif args.worker == "latency":
        index_dir = folder / f"index-{args.chunks}"
        result = latency_once(index_dir, folder, args.queries, args.rerank_queries)
    else:
        result = dense_recall(folder / f"index-{args.chunks}", folder, args.queries)
    print(json.dumps(result))


def worker(args, step: str, stream: bool = False) -> dict:
    argv = [sys.executable, __file__, "--worker", step, "--keep", str(args.keep)]
    argv += ["--chunks", str(args.chunks), "--queries", str(args.queries)]
    argv += ["--rerank-queries", str(args.rerank_queries)]
    done = subprocess.run(
        argv, stdout=subprocess.PIPE, stderr=None if stream else subprocess.PIPE, text=True
    )
    if done.returncode:
        sys.exit(f"{step} failed:\n{(done.stderr or '')[-3000:]}\n{done.stdout[-2000:]}")
    lines = done.stdout.strip().splitlines()
    if stream:
        print("\n".join(lines[:-1]), flush=True)
    return json.loads(lines[-1])


def cold(index_dir: Path, runs: int) -> dict:
    rag = str(Path(sys.executable).with_name("rag"))
    env = {**os.environ, "RAG_INDEX": str(index_dir)}
    out = {}
    for mode in ("hybrid", "sparse"):
        walls = []
        for run in range(runs):
            argv = [rag, "search", f"vitamin d deficiency {run}", "--no-rerank", "--json"]
            tick = time.perf_counter()
            subprocess.run([*argv, "--mode", mode], env=env, stdout=subprocess.DEVNULL, check=True)
            walls.append(time.perf_counter() - tick)
        out[mode] = p50_p95(walls)
    return out


def end_to_end(args) -> dict:
    index_dir = args.keep / f"index-{args.chunks}"
    print(f"building (or reusing) {args.chunks} chunks in {index_dir}", flush=True)
    summary: dict = {"requested_chunks": args.chunks, "build": worker(args, "build", stream=True)}
    print(f"build: {json.dumps(summary['build'])}", flush=True)
    live = index_dir / (index_dir / "CURRENT").read_text().strip()
    summary["manifest"] = json.loads((live / "manifest.json").read_text())
    summary["bytes"] = sizes(live)
    summary["bytes"]["rag_folder_total"] = sum(
        p.stat().st_size for p in index_dir.rglob("*") if p.is_file()
    )
    print(f"bytes: {json.dumps(summary['bytes'])}", flush=True)

    loads = [worker(args, "load") for _ in range(args.runs)]
    summary["load_s"] = p50_p95([r["load_s"] for r in loads])
    summary["load_cpu_s"] = p50_p95([r["load_cpu_s"] for r in loads])
    summary["search_peak_mib_load"] = p50_p95([r["peak_mib"] for r in loads], digits=0)
    print(f"load (open + first hybrid query): {summary['load_s']} s", flush=True)

    pooled: dict[str, list[float]] = {}
    peaks: dict[str, list[float]] = {"no_rerank": [], "rerank": []}
    for _ in range(args.runs):
        result = worker(args, "latency")
        for mode in ("sparse", "dense", "hybrid", "hybrid_rerank"):
            pooled.setdefault(mode, []).extend(result[mode])
            pooled.setdefault(f"{mode}_cpu", []).extend(result[f"{mode}_cpu"])
        peaks["no_rerank"].append(result["peak_mib_no_rerank"])
        peaks["rerank"].append(result["peak_mib_rerank"])
    summary["latency_ms"] = {mode: p50_p95(times, 1000, 1) for mode, times in pooled.items()}
    summary["search_peak_mib"] = {k: p50_p95(v, digits=0) for k, v in peaks.items()}
    for mode, figures in summary["latency_ms"].items():
        print(f"  {mode:<14} {figures} ms ({len(pooled[mode])} searches)", flush=True)
    print(f"search peak memory: {summary['search_peak_mib']} MiB", flush=True)
    summary["dense_recall"] = worker(args, "recall")
    print(f"dense recall vs exact: {summary['dense_recall']}", flush=True)
    summary["cold_rag_search_s"] = cold(index_dir, args.cold_runs)
    print(f"cold rag search: {summary['cold_rag_search_s']}", flush=True)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=1_000_000)
    parser.add_argument("--compare", action="store_true", help="compare dense index types")
    parser.add_argument("--kinds", default="flat,ivf", help="for --compare: flat,ivf,hnsw")
    parser.add_argument("--nlist", type=int, help="for --compare: IVF clusters")
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per figure")
    parser.add_argument("--queries", type=int, default=100, help="per latency run")
    parser.add_argument("--rerank-queries", type=int, default=10, help="per latency run")
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="build (or reuse) everything in this folder")
    parser.add_argument(
        "--rebuild-dense",
        action="store_true",
        help="first rebuild the kept index's dense.faiss with the current dense parameters",
    )
    parser.add_argument(
        "--ingest",
        action="store_true",
        help="ingest a folder of --files JSONL files (hash-seeded vectors), then add and "
        "remove 10 files: wall time and peak memory of each",
    )
    parser.add_argument(
        "--resume-check",
        action="store_true",
        help="ingest the --files corpus uninterrupted, and again SIGKILLed part-way and "
        "rerun; compare the two indexes chunk by chunk",
    )
    parser.add_argument(
        "--kill-at",
        type=float,
        default=0.5,
        help="for --resume-check: SIGKILL once this share of --chunks is in the checkpoint",
    )
    parser.add_argument("--files", type=int, default=1000, help="for --ingest, --resume-check")
    parser.add_argument("--label", default="run", help="for --ingest: names the index")
    parser.add_argument(
        "--keep-index", action="store_true", help="for --ingest, --resume-check: keep indexes"
    )
    parser.add_argument("--index-dir", type=Path, help=argparse.SUPPRESS)  # internal
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)  # internal
    parser.add_argument("--against", type=Path, help=argparse.SUPPRESS)  # internal
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # internal
    parser.add_argument("--kind", help=argparse.SUPPRESS)  # internal
    args = parser.parse_args()
    if args.keep is None:
        args.keep = Path(tempfile.mkdtemp(prefix="rag-scale-"))
    args.keep.mkdir(parents=True, exist_ok=True)
    if args.worker:
        run_worker(args)
        return
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at start", flush=True)
    if args.rebuild_dense:
        print(f"dense index rebuilt: {json.dumps(worker(args, 'rebuild-dense'))}", flush=True)
    if args.ingest:
        summary, kind = ingest_benchmark(args), f"ingest-{args.label}"
    elif args.resume_check:
        summary, kind = resume_check(args), "resume-check"
    elif args.compare:
        summary, kind = compare(args), "compare"
    else:
        summary, kind = end_to_end(args), "scale"
    summary["load_average_at_end"] = round(os.getloadavg()[0], 1)
    name = f"{kind}-{args.chunks}.json"
    (args.keep / name).write_text(json.dumps(summary, indent=2) + "\n")
    print(f"summary: {args.keep / name}")


if __name__ == "__main__":
    main()
