"""BM25 query time: a format-1 sidecar (bm25s, precomputed scores) against segments.

    python benchmarks/sparse_latency.py DIR/files-1000000 [--files 100] [--queries 100]
        [--passes 3] [--keep SIDECARS]

Reads the first ``--files`` JSONL files of a ``scale.py --ingest`` corpus, builds both
sidecars from the same texts, and times ``search(query, 100)`` for SciFact claims,
``--passes`` times over the queries, the variants taking turns. A third variant is the
segments as ragcli wrote them before pair files (``segments.json`` without ``pairs``:
weights computed per posting at query time). With ``--keep`` the sidecars are built
once and reused, so the same files can be timed with other code (an older ragcli reads
the segments without their pair files).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from ragcli.store.sparse import DEFAULT_PARAMS, SparseIndex, SparseWriter
from ragcli.text import stopword_list, tokenize

QUERIES = Path(__file__).resolve().parents[2] / "shared/data/scifact/beir/queries.jsonl"
VARIANTS = ("format-1", "segments", "segments-without-pairs")


def format_1(folder: Path, texts: list[str]) -> None:
    """The sidecar as ragcli wrote it before segments."""
    import bm25s

    params = dict(DEFAULT_PARAMS)
    retriever = bm25s.BM25(method=params["method"], k1=params["k1"], b=params["b"])
    retriever.index([tokenize(text, params) for text in texts], show_progress=False)
    folder.mkdir(parents=True)
    retriever.save(str(folder), show_progress=False)
    np.save(folder / "row_ids.npy", np.arange(len(texts), dtype=np.int64), allow_pickle=False)
    (folder / "ragcli_params.json").write_text(json.dumps(params))
    stop = sorted(stopword_list(params["stopwords"]))
    (folder / "stopwords.json").write_text(json.dumps(stop))


def without_pairs(segments: Path, folder: Path) -> None:
    """A copy of ``segments`` as written before pair files."""
    shutil.copytree(segments, folder, ignore=shutil.ignore_patterns("*.codes.npy", "*.pairs.npy"))
    listing = json.loads((folder / "segments.json").read_text())
    for entry in listing["segments"]:
        entry.pop("pairs", None)
    (folder / "segments.json").write_text(json.dumps(listing))


def build_sidecars(folder: Path, corpus: Path, n_files: int) -> None:
    """The three variants over the first ``n_files`` files of ``corpus``, built once."""
    if (folder / ".complete").exists():
        return
    shutil.rmtree(folder, ignore_errors=True)
    texts = []
    for path in sorted(corpus.glob("part-*.jsonl"))[:n_files]:
        texts += [json.loads(line)["text"] for line in path.open()]
    format_1(folder / "format-1", texts)
    writer = SparseWriter(folder / "segments", None)
    for chunk_id, text in enumerate(texts):
        writer.add(chunk_id, text)
    writer.finish().save(folder / "segments")
    without_pairs(folder / "segments", folder / "segments-without-pairs")
    (folder / ".complete").touch()


def timed(indexes: dict, queries: list[str], passes: int) -> dict[str, list[float]]:
    """Seconds of each ``search(query, 100)``, the variants taking turns query by query
    (so a change in the machine's load falls on all of them alike)."""
    times: dict[str, list[float]] = {name: [] for name in indexes}
    for _ in range(passes):
        for query in queries:
            for name, index in indexes.items():
                tick = time.perf_counter()
                index.search(query, 100)
                times[name].append(time.perf_counter() - tick)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--passes", type=int, default=3, help="times over the queries")
    parser.add_argument("--keep", type=Path, help="build the sidecars here once, and reuse")
    args = parser.parse_args()
    with QUERIES.open() as handle:
        queries = [json.loads(line)["text"] for line in handle][: args.queries]
    folder = args.keep or Path(tempfile.mkdtemp(prefix="rag-sparse-"))
    build_sidecars(folder, args.corpus, args.files)
    indexes = {name: SparseIndex.load(folder / name) for name in VARIANTS}
    for index in indexes.values():
        index.search(queries[0], 100)
    print(f"{len(indexes['format-1'])} chunks; load average {os.getloadavg()[0]:.2f}")
    for name, times in timed(indexes, queries, args.passes).items():
        p50, p95 = np.percentile(np.asarray(times) * 1000, [50, 95])
        segments = len(getattr(indexes[name], "segments", [])) or 1
        print(f"{name} ({segments} segments): p50 {p50:.2f} ms, p95 {p95:.2f} ms")
    print(f"load average {os.getloadavg()[0]:.2f} at end")
    if args.keep is None:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
