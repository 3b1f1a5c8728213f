"""What a cold `rag search` imports, and how long cold `rag search` and `rag --help` take.

    python benchmarks/importtime.py [--index DIR] [--runs 7] [--top 25]

Runs the real query path, ``rag search "..." --no-rerank --json`` (hybrid: BM25, FAISS
and the ONNX query encoder), under ``python -X importtime`` against an index (``--index``,
e.g. the 100k-chunk index that ``benchmarks/scale.py --chunks 100000 --keep DIR`` leaves
in ``DIR/index-100000``; without it, a small index of examples/docs is built with random
vectors in a temporary folder), prints the imports with the largest cumulative time, and
fails unless torch, transformers and sentence_transformers stay out of the process.
Then times cold processes: ``rag search`` on that index and ``rag --help``, p50 and p95
of ``--runs`` runs each (after one untimed run, so the files are in the page cache).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

REPO = Path(__file__).resolve().parent.parent
RAG = str(Path(sys.executable).with_name("rag"))
QUERY = "vitamin d deficiency and bone density"
HEAVY = ("torch", "transformers", "sentence_transformers")
LINE = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def small_index() -> Path:
    """examples/docs ingested with random vectors (the query path is the same)."""
    from search_latency import RandomEncoder

    from ragcli.index import Index
    from ragcli.ingest import ingest
    from ragcli.store.local import LocalWriter

    folder = Path(tempfile.mkdtemp(prefix="rag-importtime-"))
    index_dir = folder / ".rag" / "default"
    index = Index(index_dir, base_dir=REPO)
    ingest(
        LocalWriter(index_dir),
        [REPO / "examples" / "docs"],
        index.settings,
        base_dir=REPO,
        encoder=RandomEncoder(),
    )
    return index_dir


def ensure_query_encoder(index_dir: Path) -> None:
    """Make the ONNX export now if it is missing: a first search would make it, with torch."""
    from ragcli.embed import onnx_cache_dir
    from ragcli.embed.onnx_export import ensure_export
    from ragcli.index import Index

    model = Index(index_dir).store.manifest["embed_model"]
    ensure_export(model, onnx_cache_dir(model))


def importtime(argv: list[str], env: dict) -> list[tuple[int, int, int, str]]:
    """(self us, cumulative us, depth, module) of each import of one cold run."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *argv], env=env, capture_output=True, text=True
    )
    if done.returncode:
        sys.exit(f"{' '.join(argv)} failed:\n{done.stderr[-2000:]}")
    rows = []
    for line in done.stderr.splitlines():
        match = LINE.match(line)
        if match:
            self_us, cumulative, indent, module = match.groups()
            rows.append((int(self_us), int(cumulative), len(indent) // 2, module))
    return rows


def walls(argv: list[str], env: dict, runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds (user + system, all threads) of each cold run. CPU time is
    the steadier figure when other work shares the cores."""
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)  # page cache
    wall, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
        wall.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, help="index folder (default: examples/docs)")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()

    index_dir = args.index or small_index()
    ensure_query_encoder(index_dir)
    env = {**os.environ, "RAG_INDEX": str(index_dir)}
    search = [RAG, "search", QUERY, "--no-rerank", "--json"]
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}; index {index_dir}")

    rows = importtime(search, env)
    total = sum(r[0] for r in rows)
    print(
        f"\n`rag search ... --no-rerank --json`: {len(rows)} modules imported, "
        f"{total / 1e6:.2f} s importing (sum of self times; one run)"
    )
    print(f"top {args.top} by cumulative time (depth 0 = imported by ragcli or the script):")
    print(f"  {'cumulative ms':>13} {'self ms':>8}  module")
    for self_us, cumulative, depth, module in sorted(rows, key=lambda r: -r[1])[: args.top]:
        print(f"  {cumulative / 1000:13.1f} {self_us / 1000:8.1f}  {'  ' * depth}{module}")
    top_level = {}
    for self_us, _, _, module in rows:
        root = module.split(".")[0]
        top_level[root] = top_level.get(root, 0) + self_us
    print(
        "by top-level package (sum of self times, ms): "
        + ", ".join(
            f"{name} {us / 1000:.0f}"
            for name, us in sorted(top_level.items(), key=lambda kv: -kv[1])[:12]
        )
    )
    imported = {r[3].split(".")[0] for r in rows}
    heavy = [name for name in HEAVY if name in imported]
    print(f"torch / transformers / sentence_transformers imported: {heavy or 'none'}")

    help_rows = importtime([RAG, "--help"], env)
    help_heavy = [
        m
        for m in ("numpy", "faiss", "onnxruntime", "bm25s", *HEAVY)
        if m in {r[3].split(".")[0] for r in help_rows}
    ]
    print(
        f"`rag --help`: {len(help_rows)} modules; numpy/faiss/onnxruntime/bm25s/torch: "
        f"{help_heavy or 'none'}"
    )

    print(f"\ncold processes, {args.runs} runs each after one untimed run:")
    for label, argv in (
        ("rag search '...' --no-rerank --json", search),
        ("rag --help", [RAG, "--help"]),
    ):
        wall, cpu = walls(argv, env, args.runs)
        p50, p95 = np.percentile(wall, [50, 95])
        cpu50 = np.percentile(cpu, 50)
        print(f"  {label:<36} p50 {p50:.3f} s  p95 {p95:.3f} s  (CPU p50 {cpu50:.3f} s)")
    print(f"load average at end {os.getloadavg()[0]:.1f}")
    if heavy:
        sys.exit(f"the query path imported {heavy}")


if __name__ == "__main__":
    main()
