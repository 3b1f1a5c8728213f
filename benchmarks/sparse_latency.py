"""BM25 query time: a format-1 sidecar (bm25s, precomputed scores) against segments.

    python benchmarks/sparse_latency.py DIR/files-1000000 [--files 100] [--queries 100]

Reads the first ``--files`` JSONL files of a ``scale.py --ingest`` corpus, builds both
sidecars from the same texts, and times ``search(query, 100)`` for SciFact claims. A
third variant is the segments as ragcli wrote them before pair files (``segments.json``
without ``pairs``: weights computed per posting at query time).
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    texts = []
    for path in sorted(args.corpus.glob("part-*.jsonl"))[: args.files]:
        texts += [json.loads(line)["text"] for line in path.open()]
    with QUERIES.open() as handle:
        queries = [json.loads(line)["text"] for line in handle][: args.queries]
    folder = Path(tempfile.mkdtemp(prefix="rag-sparse-"))
    format_1(folder / "format-1", texts)
    writer = SparseWriter(folder / "segments", None)
    for chunk_id, text in enumerate(texts):
        writer.add(chunk_id, text)
    writer.finish().save(folder / "segments")
    without_pairs(folder / "segments", folder / "segments-without-pairs")
    print(f"{len(texts)} chunks; load average {os.getloadavg()[0]:.2f}")
    for name in ("format-1", "segments", "segments-without-pairs"):
        index = SparseIndex.load(folder / name)
        index.search(queries[0], 100)
        times = []
        for query in queries:
            tick = time.perf_counter()
            index.search(query, 100)
            times.append(time.perf_counter() - tick)
        p50, p95 = np.percentile(np.asarray(times) * 1000, [50, 95])
        segments = len(getattr(index, "segments", [])) or 1
        print(f"{name} ({segments} segments): p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    print(f"load average {os.getloadavg()[0]:.2f} at end")
    shutil.rmtree(folder)


if __name__ == "__main__":
    main()
