"""Fusion candidates, offline, in-sample and leave-one-collection-out (issue 15).

    python benchmarks/fusion.py [--collections cranfield,scifact,xquad_en] [--json OUT]

Once per collection, each judged query's dense and BM25 candidate pools are computed
with the real default encoder and the real store (the eval index of
``ragcli.evaluate.indexes``, cached under ~/.cache/ragcli/eval) exactly as ``rag eval``
searches them: ``fetch = 100 * chunk_factor`` chunks, each side's top
``pool_factor * fetch``, and every chunk of the union with its real score on both sides.
The pools are cached under ~/.cache/ragcli/fusion-pools. Every candidate is then scored
from the pools with ``ragcli.retrieve.fused_scores`` (the code searches run): top
``fetch`` chunks, rolled up into documents (best chunk, or best plus ``share`` of the
second), cut to 100, nDCG@10 and R@100 by trec_eval.

``--docs 10`` fuses the smaller pools a search for 10 documents would (``rag search -k``
scale: each side's list cut to ``5 * 10 * chunk_factor``), for nDCG@10 only.

In-sample: each method's parameters tuned on the mean nDCG@10 of all collections (and
of every ``--docs`` scale). Held-out: for each collection, the parameters tuned on the
other two (at every scale), tested on it.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))

from ragcli.config import Settings, cache_dir  # noqa: E402
from ragcli.retrieve import fused_scores  # noqa: E402

DOCS = 100
POOL_FACTOR = 5
ALPHAS = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
TODAY = ("minmax", {"alpha": 0.7, "share": 0.0})


def grids() -> dict[str, list[dict]]:
    """Every method's parameter grid (``share``: roll-up weight of a document's 2nd chunk)."""
    a = [{"alpha": x} for x in ALPHAS]
    return {
        "minmax": a,
        "zscore": a,
        "dbsf": a,
        "rrf": [{"alpha": x, "rrf_k": k} for x in (0.5, 0.6, 0.7) for k in (10, 60)],
        "adaptive": [
            {"alpha": x, "beta": b}
            for x in (0.6, 0.7, 0.75, 0.8, 0.85, 0.9)
            for b in (0.01, 0.025, 0.05, 0.1)
        ],
    }


ROLLUP_SHARES = (0.1, 0.25)
ROLLUP_ALPHAS = (0.6, 0.7, 0.8)


# ----------------------------------------------------------------------------- pools


def build_pools(name: str) -> dict:
    from ragcli.evaluate.datasets import read_beir
    from ragcli.evaluate.indexes import prepare_beir_index

    collection = read_beir(DATA / name / "beir", "test")
    target = prepare_beir_index(collection, Settings(), cache_dir() / "eval")
    target.scan()
    fetch = DOCS * target.chunk_factor
    pool = POOL_FACTOR * fetch
    key = hashlib.sha256(f"{target.index.location}|{pool}".encode()).hexdigest()[:12]
    path = cache_dir() / "fusion-pools" / f"{name}-{key}.npz"
    if path.exists():
        return load_pools(path, collection, fetch)
    started = time.perf_counter()
    store = target.index.store
    encoder = target.index.query_encoder
    texts = [q.text for q in collection.questions]
    vectors = encoder.encode_queries(texts)  # with the index's query prompt
    parts: dict[str, list] = {k: [] for k in ("ids", "dense", "sparse", "drank", "srank")}
    offsets = [0]
    doc_of: dict[int, str] = {}
    for text, vector in zip(texts, vectors, strict=True):
        d_ids, d_scores = store.dense_search(vector, pool)
        s_ids, s_scores = store.sparse_search(text, pool)
        union = np.asarray(list(dict.fromkeys([*d_ids.tolist(), *s_ids.tolist()])), np.int64)
        dense = dict(zip(d_ids.tolist(), d_scores.tolist(), strict=True))
        sparse = dict(zip(s_ids.tolist(), s_scores.tolist(), strict=True))
        miss_d = np.asarray([i for i in union.tolist() if i not in dense], np.int64)
        miss_s = np.asarray([i for i in union.tolist() if i not in sparse], np.int64)
        if len(miss_d):
            dense.update(
                zip(miss_d.tolist(), store.dense_scores(miss_d, vector).tolist(), strict=True)
            )
        if len(miss_s):
            sparse.update(
                zip(miss_s.tolist(), store.sparse_scores(miss_s, text).tolist(), strict=True)
            )
        new = [i for i in union.tolist() if i not in doc_of]
        for cid, chunk in store.chunks(new).items():
            doc_of[cid] = chunk.doc_id
        drank = {c: r for r, c in enumerate(d_ids.tolist(), 1)}
        srank = {c: r for r, c in enumerate(s_ids.tolist(), 1)}
        parts["ids"].append(union)
        parts["dense"].append(np.asarray([dense[i] for i in union.tolist()], np.float32))
        parts["sparse"].append(np.asarray([sparse[i] for i in union.tolist()], np.float32))
        parts["drank"].append(np.asarray([drank.get(i, 0) for i in union.tolist()], np.int32))
        parts["srank"].append(np.asarray([srank.get(i, 0) for i in union.tolist()], np.int32))
        offsets.append(offsets[-1] + len(union))
    chunk_ids = np.asarray(sorted(doc_of), np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        offsets=np.asarray(offsets, np.int64),
        chunk_ids=chunk_ids,
        chunk_docs=np.asarray([doc_of[i] for i in chunk_ids.tolist()]),
        **{k: np.concatenate(v) for k, v in parts.items()},
    )
    print(f"{name}: pools built in {time.perf_counter() - started:.0f} s -> {path}", flush=True)
    return load_pools(path, collection, fetch)


def shrink(pools: dict, docs: int) -> dict:
    """The pools a search for ``docs`` documents would fuse: each side's list is a prefix
    of the cached one, so U is the chunks ranked within the smaller pool on either side."""
    fetch = pools["fetch"] * docs // DOCS
    pool = POOL_FACTOR * fetch
    queries = []
    for q in pools["queries"]:
        drank = np.where(q["drank"] <= pool, q["drank"], 0)
        srank = np.where(q["srank"] <= pool, q["srank"], 0)
        keep = (drank > 0) | (srank > 0)
        small = {k: v[keep] for k, v in q.items() if k != "id"}
        small.update(id=q["id"], drank=drank[keep], srank=srank[keep])
        queries.append(small)
    return {"queries": queries, "qrels": pools["qrels"], "fetch": fetch}


def load_pools(path: Path, collection, fetch: int) -> dict:
    data = np.load(path)
    lookup = dict(zip(data["chunk_ids"].tolist(), data["chunk_docs"].tolist(), strict=True))
    offsets = data["offsets"]
    queries = []
    for n, question in enumerate(collection.questions):
        a, b = int(offsets[n]), int(offsets[n + 1])
        ids = data["ids"][a:b]
        queries.append(
            {
                "id": question.id,
                "ids": ids,
                "docs": np.asarray([lookup[i] for i in ids.tolist()]),
                "dense": data["dense"][a:b].astype(np.float64),
                "sparse": data["sparse"][a:b].astype(np.float64),
                "drank": data["drank"][a:b].astype(np.int64),
                "srank": data["srank"][a:b].astype(np.int64),
            }
        )
    qrels = {q.id: dict(q.relevant) for q in collection.questions}
    return {"queries": queries, "qrels": qrels, "fetch": fetch}


# ----------------------------------------------------------------------------- scoring


def doc_run(query: dict, fused: np.ndarray, fetch: int, share: float) -> list[str]:
    """The query's documents: its top ``fetch`` chunks (ties by chunk id) rolled up."""
    order = np.lexsort((query["ids"], -fused))[:fetch]
    docs = query["docs"][order]
    if share == 0.0:
        _, first = np.unique(docs, return_index=True)
        return docs[np.sort(first)][:DOCS].tolist()
    score: dict[str, float] = {}
    seen: dict[str, int] = {}
    for doc, value in zip(docs.tolist(), fused[order].tolist(), strict=True):
        count = seen.get(doc, 0)
        if count == 0:
            score[doc] = value
        elif count == 1:
            score[doc] += share * (value - min(0.0, value))  # never lowers the best chunk's
        seen[doc] = count + 1
    ranked = sorted(score, key=lambda d: -score[d])
    return ranked[:DOCS]


def evaluate(pools: dict, method: str, params: dict) -> dict[str, float]:
    from ragcli.evaluate.metrics import score_retrieval

    share = params.get("share", 0.0)
    knobs = {k: v for k, v in params.items() if k not in ("alpha", "share")}
    run = {}
    for q in pools["queries"]:
        fused = fused_scores(
            method, q["dense"], q["sparse"], q["drank"], q["srank"], params["alpha"], **knobs
        )
        run[q["id"]] = doc_run(q, fused, pools["fetch"], share)
    mean = score_retrieval(run, pools["qrels"], ["ndcg@10", "recall@100"]).mean
    return {"ndcg": mean["ndcg@10"], "recall": mean["recall@100"]}


def label(params: dict) -> str:
    return " ".join(f"{k}={v:g}" for k, v in params.items() if not (k == "share" and v == 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collections", default="cranfield,scifact,xquad_en")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument(
        "--docs", default=str(DOCS), help="documents searched for, a comma list (rag eval: 100)"
    )
    args = parser.parse_args()
    built = {name: build_pools(name) for name in args.collections.split(",")}
    scales = [int(d) for d in args.docs.split(",")]
    pools = {  # one column per collection and scale: cranfield@100, cranfield@10, ...
        f"{name}@{docs}": p if docs == DOCS else shrink(p, docs)
        for docs in scales
        for name, p in built.items()
    }
    names = list(pools)
    started = time.perf_counter()
    table: dict[str, dict[str, dict]] = {}  # method -> label -> collection -> figures
    configs: dict[str, list[dict]] = {}
    for method, grid in grids().items():
        configs[method] = [dict(p, share=0.0) for p in grid]
    # roll-up: a document's second chunk counts too (min-max only: it is slow offline)
    configs["minmax+rollup"] = [
        {"alpha": a, "share": s} for a, s in itertools.product(ROLLUP_ALPHAS, ROLLUP_SHARES)
    ]
    for method, grid in configs.items():
        base = method.split("+")[0]
        table[method] = {}
        for params in grid:
            table[method][label(params)] = {
                "params": params,
                **{name: evaluate(pools[name], base, params) for name in names},
            }
        print(f"{method}: {len(grid)} settings ({time.perf_counter() - started:.0f} s)", flush=True)
    report = summarise(table, names)
    print_report(report, names)
    if args.json:
        args.json.write_text(json.dumps({"report": report, "table": table}, indent=1))


def collection_of(column: str) -> str:
    return column.split("@")[0]


def mean_ndcg(row: dict, names: list[str]) -> float:
    return sum(row[n]["ndcg"] for n in names) / len(names)


def summarise(table: dict, names: list[str]) -> dict:
    today = table[TODAY[0]][label(TODAY[1])]
    report = {"today": {n: today[n] for n in names}, "methods": {}}
    for method, rows in table.items():
        best = max(rows.values(), key=lambda row: mean_ndcg(row, names))
        entry = {"in_sample": {"params": best["params"], **{n: best[n] for n in names}}}
        held = {}
        for name in names if len(names) > 1 else []:
            others = [n for n in names if collection_of(n) != collection_of(name)]
            tuned = max(rows.values(), key=lambda row, o=others: mean_ndcg(row, o))
            held[name] = {"params": tuned["params"], **tuned[name]}
        entry["held_out"] = held
        report["methods"][method] = entry
    return report


def print_report(report: dict, names: list[str]) -> None:
    today = report["today"]
    head = " | ".join(f"{n} nDCG@10 / R@100" for n in names)
    print(f"\n| method | setting | {head} | mean nDCG@10 | mean Δ vs today |")
    print("|---|---|" + "---|" * (len(names) + 2))
    base = sum(today[n]["ndcg"] for n in names) / len(names)
    cells = " | ".join(f"{today[n]['ndcg']:.4f} / {today[n]['recall']:.4f}" for n in names)
    print(f"| today (minmax α 0.7) | fixed | {cells} | {base:.4f} | |")
    for method, entry in report["methods"].items():
        for kind in ("in_sample", "held_out") if len(names) > 1 else ("in_sample",):
            if kind == "in_sample":
                rows = {n: entry[kind][n] for n in names}
                setting = label(entry[kind]["params"])
            else:
                rows = {n: entry[kind][n] for n in names}
                setting = "; ".join(f"{n}: {label(entry[kind][n]['params'])}" for n in names)
            mean = sum(rows[n]["ndcg"] for n in names) / len(names)
            cells = " | ".join(f"{rows[n]['ndcg']:.4f} / {rows[n]['recall']:.4f}" for n in names)
            print(f"| {method} {kind.replace('_', '-')} | {setting} | {cells} | {mean:.4f} "
                  f"| {mean - base:+.4f} |")  # fmt: skip


if __name__ == "__main__":
    main()
