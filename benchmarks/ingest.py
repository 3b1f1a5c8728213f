"""Ingest throughput per embedding backend: the whole pipeline against the encoder alone.

    python benchmarks/ingest.py [--collections cranfield,scifact] [--limit N] [--repeat N]
                                [--backends torch,onnx-int8:1,onnx-int8-fused:1,onnx-int8-fused]
                                [--folder DIR] [--parse isolated|in-process] [--pipeline-only]

A backend is an ``embed_backend`` with, after a colon, its ``embed_workers`` (1: embedded
in this process; none given: the default, one worker process per CPU). For each
collection (a BEIR corpus.jsonl from ../shared/data, cut to its first --limit documents
when given) and each backend, run back to back: a fresh ingest into a temporary index
with an encoder already loaded (model load is in neither figure; worker processes start
inside the ingest, as for a user), then the same chunk texts encoded again by that
encoder alone (through the workers too, already started). Prints chunks, chunks/s of the
pipeline and of the encoder, their ratio, the CPU the ingest used (CPU seconds of this
process and its embedding workers / wall seconds, out of the machine's cores) and how
busy each core of the machine was (from /proc/stat, so other processes count too), with
the load average before each run: on a shared machine compare ratios between backends,
not absolute figures. nDCG@10 of each backend comes from `rag eval --beir`
(docs/benchmarks.md).

``--folder DIR`` ingests the files of DIR instead of the collections (PDFs and office
files from benchmarks/mixed_corpus.py, say). ``--parse in-process`` parses every file in
this process, without the parse worker and its limits (ragcli.load._isolate), to
measure what the limits cost. The CPU column counts the parse workers too (they are
stopped before it is read). ``--pipeline-only`` skips the encoder-alone run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
BACKENDS = ("torch", "onnx-int8:1", "onnx-int8-fused:1", "onnx-int8-fused")


def cpu_ticks() -> list[tuple[int, int]]:
    """(busy, total) jiffies of each core, from /proc/stat."""
    cores = []
    with open("/proc/stat", encoding="ascii") as f:
        for line in f:
            name, *fields = line.split()
            if name.startswith("cpu") and name != "cpu":
                values = list(map(int, fields))
                idle = values[3] + values[4]  # idle + iowait
                cores.append((sum(values) - idle, sum(values)))
    return cores


def core_busy(before: list[tuple[int, int]], after: list[tuple[int, int]]) -> list[float]:
    return [(b1 - b0) / max(t1 - t0, 1) for (b0, t0), (b1, t1) in zip(before, after, strict=True)]


def corpus_file(name: str, limit: int | None, work: Path) -> Path:
    source = DATA / name / "beir" / "corpus.jsonl"
    if not limit:
        return source
    target = work / name / "corpus.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    with source.open(encoding="utf-8") as f, target.open("w", encoding="utf-8") as out:
        for _, line in zip(range(limit), f, strict=False):
            out.write(line)
    return target


def measure(spec: str, corpus: Path, work: Path, alone_too: bool = True) -> dict:
    """One pipeline run and one encoder-alone run of ``spec`` (backend[:workers])."""
    from ragcli.config import Settings
    from ragcli.embed import ingest_encoder
    from ragcli.embed.pool import parallel_encoder, worker_count
    from ragcli.index import Index
    from ragcli.ingest import ingest
    from ragcli.store.local import LocalWriter
    from ragcli.text import index_text

    backend, _, workers = spec.partition(":")
    settings = Settings(embed_backend=backend, embed_workers=int(workers or 0), rerank=False)
    encoder = ingest_encoder(settings, warn=print)
    encoder.encode(["warm up"])
    folder = work / f"index-{spec.replace(':', '-')}-{corpus.parent.name}"
    load = os.getloadavg()
    ticks, cpu0, started = cpu_ticks(), os.times(), time.perf_counter()
    report = ingest(
        LocalWriter(folder), [corpus], settings, base_dir=corpus.parent, encoder=encoder
    )
    wall = time.perf_counter() - started
    stop_parse_workers()  # their CPU counted as that of ended children
    cpu1, busy = os.times(), core_busy(ticks, cpu_ticks())
    catalog = Index(folder, settings=settings, base_dir=corpus.parent).store.catalog
    texts = [index_text(title, text) for _, title, _, text in catalog.iter_chunk_texts()]
    alone = (
        encoder_alone(parallel_encoder(encoder, worker_count(settings.embed_workers)), texts)
        if alone_too
        else float("nan")
    )
    return {
        "backend": spec,
        "corpus": str(corpus),
        "documents": report.documents,
        "chunks": report.chunks,
        "wall": wall,
        "pipeline": report.chunks / wall,
        "encoder": len(texts) / alone,
        "timings": report.timings,
        "cpu": cpu_seconds(cpu0, cpu1),
        "process_cores": cpu_seconds(cpu0, cpu1) / wall,
        "core_busy": busy,
        "load_before": load,
    }


def stop_parse_workers() -> None:
    from ragcli.load import _isolate

    stop = getattr(_isolate, "close_workers", None) or _isolate.close_all  # before: close_all
    stop()


def parse_in_process() -> None:
    """Files parsed in this process, without the parse worker and its limits: every
    isolated loader calls ``ragcli.load._isolate.run_isolated`` when it parses."""
    from ragcli.load import _isolate

    def in_process(func, *args, **limits):
        return func(*args)

    _isolate.run_isolated = in_process


def encoder_alone(encoder, texts: list[str]) -> float:
    """Seconds ``encoder`` takes to embed ``texts`` (a pool's workers started first)."""
    if hasattr(encoder, "submit"):
        encoder.min_texts = 0
        encoder.encode(texts[:2])
    try:
        started = time.perf_counter()
        encoder.encode(texts)
        return time.perf_counter() - started
    finally:
        if hasattr(encoder, "close"):
            encoder.close()


def cpu_seconds(before: os.times_result, after: os.times_result) -> float:
    """CPU of this process and of its children that ended (the embedding workers)."""
    fields = ("user", "system", "children_user", "children_system")
    return sum(getattr(after, name) - getattr(before, name) for name in fields)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collections", default="cranfield,scifact")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--limit", type=int, default=None, help="first N documents only")
    parser.add_argument("--repeat", type=int, default=1, help="rounds over every backend")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument("--folder", type=Path, default=None, help="ingest this folder instead")
    parser.add_argument("--parse", choices=("isolated", "in-process"), default="isolated")
    parser.add_argument("--pipeline-only", action="store_true", help="not the encoder alone")
    args = parser.parse_args()
    from ragcli.weights import quiet_model_libraries

    quiet_model_libraries()
    if args.parse == "in-process":
        parse_in_process()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        names = [args.folder.name] if args.folder else args.collections.split(",")
        for name in names:
            corpus = args.folder.resolve() if args.folder else corpus_file(name, args.limit, work)
            if not corpus.exists():
                sys.exit(f"{corpus}: not found")
            for round_ in range(args.repeat):
                for backend in args.backends.split(","):
                    row = measure(backend, corpus, work / f"r{round_}", not args.pipeline_only)
                    rows.append({**row, "collection": name, "round": round_})
                    print_row(rows[-1])
    print_summary(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


def print_row(row: dict) -> None:
    busy = " ".join(f"{b:.0%}" for b in row["core_busy"])
    stages = ", ".join(f"{k} {v:.1f}" for k, v in row["timings"].items())
    print(
        f"{row['collection']:10s} {row['backend']:18s} chunks {row['chunks']:6d}  "
        f"wall {row['wall']:6.1f} s  cpu {row['cpu']:6.1f} s  "
        f"pipeline {row['pipeline']:6.1f}/s  encoder {row['encoder']:6.1f}/s  "
        f"ratio {row['pipeline'] / row['encoder']:4.0%}  this process {row['process_cores']:.2f} "
        f"cores  cores busy {busy}  load {row['load_before'][0]:.1f}  [{stages} s]",
        flush=True,
    )


def print_summary(rows: list[dict]) -> None:
    """Median chunks/s per (collection, backend), and each against the first backend."""
    print("\ncollection  backend             pipeline/s  encoder/s  pipeline x first")
    for name in dict.fromkeys(r["collection"] for r in rows):
        ours = [r for r in rows if r["collection"] == name]
        base = None
        for backend in dict.fromkeys(r["backend"] for r in ours):
            mine = [r for r in ours if r["backend"] == backend]
            pipeline = statistics.median(r["pipeline"] for r in mine)
            encoder = statistics.median(r["encoder"] for r in mine)
            base = base or pipeline
            print(
                f"{name:11s} {backend:19s} {pipeline:10.1f} {encoder:10.1f} {pipeline / base:8.2f}"
            )


if __name__ == "__main__":
    main()
