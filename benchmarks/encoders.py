"""Embedding runtimes compared: sentence-transformers (torch) against ONNX Runtime, float
and int8: import time, model load time, throughput and single-query latency.

    python benchmarks/encoders.py [--texts 2000] [--queries 100] [--cache DIR]

Texts are SciFact documents (title + abstract, from ../shared/data), which are about
chunk-sized (most are cut at the model's 256 word pieces). Queries are SciFact claims.
Each runtime is measured in its own fresh process, so load times are cold-process
times (with the files in the OS cache). The ONNX export is made once in --cache.

    python benchmarks/encoders.py --quality cranfield,xquad_en[,scifact] [--cache DIR]

ingests each shared BEIR collection (../shared/data/<name>/beir) with each runtime as the
ingest encoder, in a fresh process per (runtime, collection): the real pipeline
(chunker, catalog, BM25, FAISS), timed whole and for the embedding stage alone (chunks
per second), then evaluates the index with the same runtime embedding the queries:
nDCG@10 and recall@100 at the document level, dense and default hybrid, no rerank (as
`rag eval --no-rerank` computes them; docs/retrieval.md).
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

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
SCIFACT = DATA / "scifact" / "beir"
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
RUNTIMES = ("st-float", "onnx-float", "onnx-int8", "onnx-int8-fused")


def read_jsonl(path: Path, limit: int) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            rows.append(json.loads(line))
            if len(rows) >= limit:
                break
    return rows


def corpus_texts(n: int) -> list[str]:
    rows = read_jsonl(SCIFACT / "corpus.jsonl", n)
    return [f"{r.get('title', '')}\n{r.get('text', '')}".strip() for r in rows]


def query_texts(n: int) -> list[str]:
    return [r["text"] for r in read_jsonl(SCIFACT / "queries.jsonl", n)]


def import_seconds(module: str, repeats: int = 3) -> float:
    """Least wall time of ``import module`` in a fresh interpreter."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    times = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        times.append(float(out.strip().splitlines()[-1]))
    return min(times)


def worker(runtime: str, cache: Path, n_texts: int, n_queries: int, out: Path) -> None:
    """Measure one runtime in this (fresh) process and write the figures to ``out``."""
    from ragcli.weights import quiet_model_libraries

    quiet_model_libraries()
    t0 = time.perf_counter()
    if runtime == "st-float":
        import sentence_transformers  # noqa: F401  (timed as the runtime's import)

        from ragcli.embed import SentenceTransformerEncoder as Encoder

        t1 = time.perf_counter()
        encoder = Encoder(MODEL, batch_size=32)
        _ = encoder.model
    else:
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401

        from ragcli.embed.onnx import OnnxEncoder

        t1 = time.perf_counter()
        encoder = OnnxEncoder(cache, runtime.removeprefix("onnx-"), batch_size=32).load()
    t2 = time.perf_counter()
    encoder.encode_query("warm-up")
    queries = query_texts(n_queries)
    latencies = []
    for q in queries:
        start = time.perf_counter()
        encoder.encode_query(q)
        latencies.append(time.perf_counter() - start)
    texts = corpus_texts(n_texts)
    start = time.perf_counter()
    vectors = encoder.encode(texts)
    elapsed = time.perf_counter() - start
    np.save(out.with_suffix(".npy"), vectors)
    heavy = sorted(m for m in ("torch", "sentence_transformers") if m in sys.modules)
    out.write_text(
        json.dumps(
            {
                "import_s": t1 - t0,
                "load_s": t2 - t1,
                "query_p50_ms": 1000 * statistics.median(latencies),
                "query_p95_ms": 1000 * float(np.percentile(latencies, 95)),
                "texts_per_s": len(texts) / elapsed,
                "texts": len(texts),
                "heavy_modules": heavy,
            }
        )
    )


def make_encoder(runtime: str, cache: Path, batch_size: int):
    if runtime == "st-float":
        from ragcli.embed import SentenceTransformerEncoder as Encoder

        encoder = Encoder(MODEL, batch_size=batch_size)
        _ = encoder.model
        return encoder
    from ragcli.embed.onnx import OnnxEncoder

    return OnnxEncoder(cache, runtime.removeprefix("onnx-"), batch_size=batch_size).load()


def quality_worker(runtime: str, cache: Path, collection: str, work: Path, out: Path) -> None:
    """Ingest one collection with one runtime, time it, and score its retrieval."""
    import shutil

    from ragcli.config import Settings
    from ragcli.evaluate import QueryVectorCache, doc_ranking, read_beir, score_retrieval
    from ragcli.index import Index
    from ragcli.ingest import ingest
    from ragcli.store.local import LocalWriter
    from ragcli.weights import quiet_model_libraries

    quiet_model_libraries()
    folder = DATA / collection / "beir"
    beir = read_beir(folder)
    settings = Settings()
    started = time.perf_counter()
    encoder = make_encoder(runtime, cache, settings.embed_batch_size)
    load_s = time.perf_counter() - started
    index_dir = work / f"{collection}-{runtime}"
    shutil.rmtree(index_dir, ignore_errors=True)
    started = time.perf_counter()
    report = ingest(
        LocalWriter(index_dir),
        [beir.corpus_path],
        settings,
        base_dir=folder.resolve(),
        encoder=encoder,
    )
    whole = time.perf_counter() - started
    index = Index(index_dir, settings=settings, base_dir=folder.resolve())
    queries = QueryVectorCache(encoder)
    queries.prime([q.text for q in beir.questions])
    index.__dict__["query_encoder"] = queries
    qrels = {q.id: q.relevant for q in beir.questions}
    scores = {}
    for mode in ("dense", "hybrid"):
        run = {
            q.id: [d for d, _ in doc_ranking(index.search(q.text, k=100, mode=mode, rerank=False))]
            for q in beir.questions
        }
        scores[mode] = score_retrieval(run, qrels, ["ndcg@10", "recall@100"]).mean
    out.write_text(
        json.dumps(
            {
                "chunks": report.chunks,
                "questions": len(beir.questions),
                "model_load_s": load_s,
                "pipeline_s": whole,
                "embed_s": report.timings["embed"],
                "pipeline_chunks_per_s": report.chunks / whole,
                "encoder_chunks_per_s": report.chunks / report.timings["embed"],
                "stages_s": report.timings,
                "scores": scores,
            }
        )
    )


def quality(collections: list[str], cache: Path, work: Path) -> None:
    rows = {}
    for collection in collections:
        for runtime in RUNTIMES:
            out = work / f"{collection}-{runtime}.json"
            argv = [sys.executable, __file__, "--worker", runtime, "--cache", str(cache)]
            argv += ["--quality", collection, "--out", str(out), "--work", str(work)]
            subprocess.run(argv, check=True)
            rows[collection, runtime] = r = json.loads(out.read_text())
            dense, hybrid = r["scores"]["dense"], r["scores"]["hybrid"]
            print(
                f"{collection:<10} {runtime:<11} {r['chunks']:>6} chunks "
                f"pipeline {r['pipeline_chunks_per_s']:6.1f}/s  "
                f"encoder {r['encoder_chunks_per_s']:6.1f}/s  "
                f"nDCG@10 dense {dense['ndcg@10']:.4f} hybrid {hybrid['ndcg@10']:.4f}  "
                f"R@100 dense {dense['recall@100']:.4f} hybrid {hybrid['recall@100']:.4f}  "
                f"(load avg {os.getloadavg()[0]:.1f})",
                flush=True,
            )
    (work / "quality.json").write_text(
        json.dumps({f"{c}/{r}": v for (c, r), v in rows.items()}, indent=2) + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--cache", type=Path, help="ONNX export folder (default: a temp dir)")
    parser.add_argument("--worker", choices=RUNTIMES, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--quality", help="collections to ingest and score, e.g. cranfield,xquad_en"
    )
    parser.add_argument("--work", type=Path, help="for --quality: where the indexes go")
    args = parser.parse_args()
    if args.worker and args.quality:
        quality_worker(args.worker, args.cache, args.quality, args.work, args.out)
        return
    if args.worker:
        worker(args.worker, args.cache, args.texts, args.queries, args.out)
        return

    from ragcli.embed import onnx as onnx_encoder
    from ragcli.embed.onnx_export import export_onnx, quantize_export

    tmp = tempfile.TemporaryDirectory()
    cache = args.cache or Path(tmp.name) / "onnx" / onnx_encoder.model_slug(MODEL)
    if not onnx_encoder.is_exported(cache, MODEL, "int8"):
        start = time.perf_counter()
        export_onnx(MODEL, cache, quantize=True)
        print(f"export (float + int8, verified): {time.perf_counter() - start:.1f} s")
    if not onnx_encoder.is_exported(cache, MODEL, "int8-fused"):
        start = time.perf_counter()
        quantize_export(MODEL, cache, variant="int8-fused")
        print(f"export (fused int8, verified): {time.perf_counter() - start:.1f} s")
    if args.quality:
        work = args.work or Path(tmp.name) / "quality"
        work.mkdir(parents=True, exist_ok=True)
        print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at start")
        quality(args.quality.split(","), cache, work)
        return
    meta = onnx_encoder.read_meta(cache)
    for variant, entry in meta["files"].items():
        size = entry["bytes"] / 1e6
        print(f"  {variant}: {entry['file']}, {size:.1f} MB, probe cosine >= {entry['min_cosine']}")

    print("\nimport time (fresh interpreter, best of 3):")
    for module in ("sentence_transformers", "torch", "onnxruntime", "tokenizers"):
        print(f"  {module:<22} {import_seconds(module):6.3f} s")
    print(f"  {'ragcli.embed.onnx':<22} {import_seconds('ragcli.embed.onnx'):6.3f} s")

    results = {}
    for runtime in RUNTIMES:
        out = Path(tmp.name) / f"{runtime}.json"
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--worker",
                runtime,
                "--cache",
                str(cache),
                "--texts",
                str(args.texts),
                "--queries",
                str(args.queries),
                "--out",
                str(out),
            ],
            check=True,
        )
        results[runtime] = json.loads(out.read_text())
        results[runtime]["vectors"] = np.load(out.with_suffix(".npy"))

    reference = results["st-float"]["vectors"]
    n = results["st-float"]["texts"]
    print(f"\n{n} SciFact documents, {args.queries} single queries, {os.cpu_count()} cores:")
    header = (
        f"  {'runtime':<11} {'import s':>8} {'load s':>7} {'texts/s':>8} "
        f"{'query p50 ms':>12} {'p95 ms':>7} {'cos mean':>8} {'cos min':>8}  torch loaded"
    )
    print(header)
    for runtime, r in results.items():
        cosines = np.sum(r["vectors"] * reference, axis=1)
        print(
            f"  {runtime:<11} {r['import_s']:8.2f} {r['load_s']:7.2f} {r['texts_per_s']:8.1f} "
            f"{r['query_p50_ms']:12.1f} {r['query_p95_ms']:7.1f} {cosines.mean():8.6f} "
            f"{cosines.min():8.6f}  {'yes' if r['heavy_modules'] else 'no'}"
        )


if __name__ == "__main__":
    main()
