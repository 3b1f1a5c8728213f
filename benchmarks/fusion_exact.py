"""Fusions compared exactly, offline, on one index and its queries (issue 21).

    python benchmarks/fusion_exact.py INDEX_DIR QUESTIONS.jsonl [--cache FILE]
    python benchmarks/fusion_exact.py INDEX_DIR --beir ../shared/data/scifact/beir

For every query, every chunk's cosine (the index's own vectors, the query embedded by the
index's query encoder) and its BM25 score under three analyses (the analyser before issue
21; names kept whole; names and heading paths) are computed once, over the whole index,
and cached (``--cache``). Each method then ranks chunks from those scores: ``today``
emulates the adaptive fusion of the previous default exactly as ``rag search -k K`` ran
it (pools of ``5 * K`` per side, z-scores over their union, the old analysis); the
``linear`` rows rank the whole index by ``a * cosine + (1 - a) * BM25 / weight``, the
weight being the query's whole idf (``StoreReader.sparse_ceiling``; ``_matched``: the
idf of matched terms only), ``a`` = alpha, or ``name_alpha`` for a query holding a code
name. Chunks roll up into documents (a document ranks by its best chunk); the table gives
hit@1 with ``-k`` 1, 5 and 10, MRR@10 and nDCG@10 (gain 2^grade - 1) at ``-k 10``, per
question ``kind`` (``QUESTIONS.jsonl``: ``rag eval``'s format, relevant paths as the
index's sources) or over a BEIR collection's test qrels.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ragcli.config import Settings  # noqa: E402
from ragcli.embed import query_encoder  # noqa: E402
from ragcli.store import dense as dense_store  # noqa: E402
from ragcli.store.local import LocalStore  # noqa: E402
from ragcli.store.sparse import DEFAULT_PARAMS, SparseIndex  # noqa: E402
from ragcli.text import holds_name, index_text, sparse_text  # noqa: E402

OLD = {k: v for k, v in DEFAULT_PARAMS.items() if k not in ("names", "headings")}
KS = (1, 5, 10)


def questions(args) -> list[tuple[str, dict[str, int], str]]:
    """(query, {relevant id: grade}, kind) of every judged question."""
    if args.beir:
        beir = Path(args.beir)
        texts = {}
        for line in (beir / "queries.jsonl").open():
            record = json.loads(line)
            texts[record["_id"]] = record["text"]
        relevant: dict[str, dict[str, int]] = defaultdict(dict)
        for line in (beir / "qrels" / "test.tsv").read_text().splitlines()[1:]:
            query, doc, grade = line.split("\t")
            if int(grade) > 0:
                relevant[query][doc] = int(grade)
        return [(texts[q], relevant[q], "beir") for q in relevant]
    out = []
    for line in Path(args.questions).read_text().splitlines():
        record = json.loads(line)
        judged = record.get("relevant") or {}
        if isinstance(judged, list):
            judged = dict.fromkeys(judged, 1)
        if judged:
            out.append((record["question"], judged, record.get("kind", "all")))
    return out


def scores(index_dir: Path, asked) -> dict:
    """Every chunk's cosine and BM25 scores (three analyses) for every query."""
    store = LocalStore(index_dir)
    rows = list(store.catalog.iter_chunk_texts())
    ids = np.asarray([row[0] for row in rows], np.int64)
    chunks = store.chunks(ids.tolist())
    vectors = dense_store.vectors_for(store.dense, ids)
    plain = [index_text(title, text) for _, title, _, text in rows]
    with_headings = [sparse_text(title, heading, text) for _, title, heading, text in rows]
    sparse = {
        "old": SparseIndex.build(ids, plain, OLD),
        "names": SparseIndex.build(ids, plain, {**DEFAULT_PARAMS, "headings": 0}),
        "headings": SparseIndex.build(ids, with_headings, DEFAULT_PARAMS),
    }
    encoder = query_encoder(store.manifest, Settings(), warn=print)
    per_query = []
    for text, relevant, kind in asked:
        entry = {"relevant": relevant, "kind": kind, "has_name": holds_name(text)}
        entry["dense"] = (vectors @ encoder.encode_query(text)).astype(np.float64)
        for name, index in sparse.items():
            entry[name] = index.scores(text).astype(np.float64)
        entry["weight"] = sparse["headings"].ceiling(text)
        entry["weight_matched"] = _matched_weight(sparse["headings"], text)
        per_query.append(entry)
    return {
        "docs": [chunks[int(i)].doc_id for i in ids],
        "sources": [chunks[int(i)].source for i in ids],
        "queries": per_query,
    }


def _matched_weight(index: SparseIndex, query: str) -> float:
    from ragcli.store.sparse import _idf
    from ragcli.text import tokenize

    n, total = len(index.row_ids), 0.0
    for term in tokenize(query, index.params, index.stopwords):
        df = sum(e - s for seg in index.segments if (span := seg.span(term)) for s, e in [span])
        total += _idf(index.params["method"], df, n) if df else 0.0
    return total


def _order(values: np.ndarray) -> np.ndarray:
    return np.lexsort((np.arange(len(values)), -values))


def _z(values: np.ndarray) -> np.ndarray:
    std = values.std()
    return (values - values.mean()) / std if std > 1e-12 else np.zeros_like(values)


def adaptive_today(q: dict, k: int, alpha: float = 0.75, beta: float = 0.05) -> np.ndarray:
    """The previous default as ``rag search -k k`` ran it: pools of 5k, old analysis."""
    dense, sparse = q["dense"], q["old"]
    pool = 5 * k
    top_dense = _order(dense)[:pool]
    positive = np.flatnonzero(sparse > 0)
    top_sparse = positive[_order(sparse[positive])][:pool]
    union = np.asarray(list(dict.fromkeys([*top_dense.tolist(), *top_sparse.tolist()])))
    dz, sz = _z(dense[union]), _z(sparse[union])
    weight = min(0.95, max(0.05, alpha + beta * (dz.max() - sz.max())))
    fused = weight * dz + (1 - weight) * sz
    return union[np.lexsort((union, -fused))]


def linear(q: dict, alpha: float, name_alpha: float, side: str, weight: str) -> np.ndarray:
    a = name_alpha if q["has_name"] else alpha
    share = q[side] / q[weight] if q[weight] > 0 else q[side] * 0
    return _order(a * q["dense"] + (1 - a) * share)


def methods() -> dict:
    table = {
        "sparse_before": lambda q, k: _order(q["old"]),
        "sparse_names": lambda q, k: _order(q["names"]),
        "sparse_headings": lambda q, k: _order(q["headings"]),
        "dense": lambda q, k: _order(q["dense"]),
        "today": adaptive_today,
    }
    for alpha, name_alpha in ((0.5, 0.3), (0.5, 0.5), (0.4, 0.3), (0.6, 0.3)):
        label = f"linear_{alpha}_{name_alpha}"
        table[label] = lambda q, k, a=alpha, n=name_alpha: linear(q, a, n, "headings", "weight")
    table["linear_0.5_0.3_matched"] = lambda q, k: linear(q, 0.5, 0.3, "headings", "weight_matched")
    table["linear_0.5_0.3_no_headings"] = lambda q, k: linear(q, 0.5, 0.3, "names", "weight")
    return table


def documents(order, docs, sources, relevant, k) -> list[str]:
    ranked, seen = [], set()
    for row in order.tolist():
        key = docs[row] if docs[row] in relevant or sources[row] not in relevant else sources[row]
        if key not in seen:
            seen.add(key)
            ranked.append(key)
            if len(ranked) >= k:
                break
    return ranked


def measures(ranked: list[str], relevant: dict[str, int]) -> dict[str, float]:
    first = next((i for i, d in enumerate(ranked[:10], 1) if d in relevant), None)
    dcg = sum(
        (2 ** relevant.get(d, 0) - 1) / math.log2(i + 1) for i, d in enumerate(ranked[:10], 1)
    )
    ideal = sorted(relevant.values(), reverse=True)[:10]
    idcg = sum((2**g - 1) / math.log2(i + 1) for i, g in enumerate(ideal, 1))
    return {
        "hit1": float(first == 1),
        "mrr": 1 / first if first else 0.0,
        "ndcg": dcg / idcg if idcg else 0.0,
    }


def report(data: dict) -> None:
    kinds = sorted({q["kind"] for q in data["queries"]})
    print(f"{len(data['queries'])} queries; hit@1 at -k 1/5/10 per kind; MRR@10, nDCG@10 at -k 10")
    for name, rank in methods().items():
        cells: dict[str, list] = defaultdict(list)
        for q in data["queries"]:
            for k in KS:
                order = rank(q, k)[: max(200, 20 * k)]
                got = measures(
                    documents(order, data["docs"], data["sources"], q["relevant"], 10),
                    q["relevant"],
                )
                cells[(q["kind"], k)].append(got["hit1"])
                cells[("all", k)].append(got["hit1"])
                if k == 10:
                    cells["mrr"].append(got["mrr"])
                    cells["ndcg"].append(got["ndcg"])
        parts = [
            f"{kind}: " + " ".join(f"{np.mean(cells[(kind, k)]):.3f}" for k in KS)
            for kind in (*kinds, "all")
            if len(kinds) > 1 or kind == "all"
        ]
        tail = f"mrr {np.mean(cells['mrr']):.3f} ndcg {np.mean(cells['ndcg']):.3f}"
        print(f"{name:28} {' | '.join(parts)} | {tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index", type=Path)
    parser.add_argument("questions", nargs="?")
    parser.add_argument("--beir")
    parser.add_argument("--cache", type=Path)
    args = parser.parse_args()
    if args.cache and args.cache.exists():
        data = pickle.loads(args.cache.read_bytes())
    else:
        data = scores(args.index, questions(args))
        if args.cache:
            args.cache.write_bytes(pickle.dumps(data))
    print(f"load {os.getloadavg()[0]:.1f}")
    report(data)


if __name__ == "__main__":
    main()
