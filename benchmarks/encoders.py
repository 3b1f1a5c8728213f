"""Embedding runtimes compared: sentence-transformers (torch) against ONNX Runtime, float
and int8: import time, model load time, throughput and single-query latency.

    python benchmarks/encoders.py [--texts 2000] [--queries 100] [--cache DIR]

Texts are SciFact documents (title + abstract, from ../shared/data), which are about
chunk-sized (most are cut at the model's 256 word pieces). Queries are SciFact claims.
Each runtime is measured in its own fresh process, so load times are cold-process
times (with the files in the OS cache). The ONNX export is made once in --cache.
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
SCIFACT = REPO.parent / "shared" / "data" / "scifact" / "beir"
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
RUNTIMES = ("st-float", "onnx-float", "onnx-int8")


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
    from ragcli.models import quiet_model_libraries

    quiet_model_libraries()
    t0 = time.perf_counter()
    if runtime == "st-float":
        import sentence_transformers  # noqa: F401  (timed as the runtime's import)

        from ragcli.embed import Encoder

        t1 = time.perf_counter()
        encoder = Encoder(MODEL, batch_size=32)
        _ = encoder.model
    else:
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401

        from ragcli.onnx_encoder import OnnxEncoder

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--cache", type=Path, help="ONNX export folder (default: a temp dir)")
    parser.add_argument("--worker", choices=RUNTIMES, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.cache, args.texts, args.queries, args.out)
        return

    from ragcli import onnx_encoder

    tmp = tempfile.TemporaryDirectory()
    cache = args.cache or Path(tmp.name) / "onnx" / onnx_encoder.model_slug(MODEL)
    if not onnx_encoder.is_exported(cache, MODEL, "int8"):
        start = time.perf_counter()
        onnx_encoder.export_onnx(MODEL, cache, quantize=True)
        print(f"export (float + int8, verified): {time.perf_counter() - start:.1f} s")
    meta = onnx_encoder.read_meta(cache)
    for variant, entry in meta["files"].items():
        size = entry["bytes"] / 1e6
        print(f"  {variant}: {entry['file']}, {size:.1f} MB, probe cosine >= {entry['min_cosine']}")

    print("\nimport time (fresh interpreter, best of 3):")
    for module in ("sentence_transformers", "torch", "onnxruntime", "tokenizers"):
        print(f"  {module:<22} {import_seconds(module):6.3f} s")
    print(f"  {'ragcli.onnx_encoder':<22} {import_seconds('ragcli.onnx_encoder'):6.3f} s")

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
