"""Milvus Lite against the local store: result parity and speed (issue #7's figures).

    python benchmarks/milvus.py [--collections cranfield,scifact,xquad_en]
        [--sizes 20000,100000] [--keep DIR] [--skip-parity] [--skip-speed]

Parity: for each shared BEIR collection, the cached local eval index (the one ``rag eval
--beir`` builds, under ``$XDG_CACHE_HOME/ragcli/eval/``) is copied into a Milvus Lite
store through ``MilvusWriter``: the same documents, chunks, chunk ids and vectors, read
from the catalog and FAISS, so nothing is re-embedded. Every judged test query then runs
on both stores (rerank off, query vectors embedded once and shared) in four modes: dense,
RRF hybrid (alpha 0.5), the default hybrid (minmax, alpha 0.7) and sparse. Reported: the
share of queries whose top-10 chunks are identical as ordered lists and as sets, and
nDCG@10 computed by ``rag eval``'s own code (``ragcli.evaluate.run_row``: it fetches
``k * chunk_factor`` chunks and ranks documents by their best chunk). Mismatches are
classified (ties: the same scores at every rank; ANN misses: a chunk of the exact
dense top-10 absent from Milvus's with a higher cosine than Milvus's 10th), and the
dense side is re-searched with larger HNSW ``ef`` values directly through pymilvus.

Speed: SciFact's real chunks and vectors (11.8k), repeated to 20k and 100k chunks (each
copy's vectors perturbed and renormalised, so no two vectors are equal), are written
through ``LocalWriter`` and ``MilvusWriter`` (nothing is embedded: the write includes
catalog, FAISS and BM25 for the local store, inserts, BM25 function, flush and index
build for Milvus). Then 200 SciFact queries run in-process on both stores: with the
query vectors computed beforehand (the store and fusion only), and end to end with the
ONNX query encoder. Write times are medians over ``--write-runs``, latencies medians of
the per-run p50/p95 over ``--runs``.

Milvus Lite runs its server in this process and allows one process per ``.db`` file.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
COLLECTION = "ragcli_bench"
NOW = "2026-01-01T00:00:00+00:00"
K = 10
# (label, search options): the four ways the parity check searches
MODES = {
    "dense": {"mode": "dense"},
    "rrf": {"mode": "hybrid", "fusion": "rrf", "alpha": 0.5},
    "hybrid": {"mode": "hybrid", "fusion": "minmax", "alpha": 0.7},
    "sparse": {"mode": "sparse"},
}
NDCG_MODES = ("hybrid", "dense", "sparse")
LATENCY_MODES = {
    "hybrid": {"mode": "hybrid", "fusion": "minmax", "alpha": 0.7},
    "dense": {"mode": "dense"},
    "sparse": {"mode": "sparse"},
}
EF_PROBE = (64, 128, 256, 512)
TIE = 1e-5  # scores this close count as tied


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load_average() -> str:
    with contextlib.suppress(OSError):
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    return "?"


# --- reading a local index and writing it to Milvus -----------------------------------
def eval_index(root: Path, name: str) -> Path:
    """The cached eval index of collection ``name``: the one ``rag eval`` would use with the
    default settings, else the only/newest ``name-*`` folder under ``root``."""
    from ragcli.config import load_settings
    from ragcli.evaluate import eval_index_dir

    corpus = DATA / name / "beir" / "corpus.jsonl"
    with contextlib.suppress(OSError):
        wanted = eval_index_dir(corpus, load_settings(corpus.parent), root, name)
        if (wanted / "CURRENT").exists():
            return wanted
    found = sorted(root.glob(f"{name}-*"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise SystemExit(
            f"no eval index of {name} under {root}: run "
            f"`rag eval --beir {DATA / name / 'beir'}` once first"
        )
    return found[-1]


def read_local(index_dir: Path) -> dict[str, Any]:
    """Everything a writer needs, from a local index: files, documents, chunks, vectors."""
    from ragcli.store import dense
    from ragcli.store.local import LocalStore
    from ragcli.types import Document

    store = LocalStore(index_dir)
    try:
        catalog = store.catalog
        records = catalog.files()
        ingested = dict(catalog.db.execute("SELECT path, ingested_at FROM files"))
        ids = [row[0] for row in catalog.db.execute("SELECT chunk_id FROM chunks ORDER BY 1")]
        chunks = catalog.chunks(ids)
        vectors = dense.vectors_for(store.dense, np.asarray(ids, dtype=np.int64))
        row_of = {cid: n for n, cid in enumerate(ids)}
        by_doc: dict[str, list] = defaultdict(list)
        for cid in ids:
            by_doc[chunks[cid].doc_id].append(chunks[cid])
        docs_by_file: dict[str, list] = defaultdict(list)
        rows = catalog.db.execute(
            "SELECT doc_id, file, source, kind, title, metadata FROM documents"
        )
        for doc_id, file, source, kind, title, metadata in rows:
            doc = Document(
                doc_id=doc_id,
                source=source,
                title=title,
                kind=kind,
                text="",  # MilvusWriter stores chunk texts, never the document's
                metadata=json.loads(metadata or "{}"),
            )
            doc_chunks = sorted(by_doc.get(doc_id, []), key=lambda c: c.chunk_id)
            docs_by_file[file].append((doc, doc_chunks))
        files = []
        for path, record in records.items():
            pairs = sorted(
                docs_by_file.get(path, []),
                key=lambda pair: pair[1][0].chunk_id if pair[1] else -1,
            )
            order = [row_of[c.chunk_id] for _, cs in pairs for c in cs]
            files.append((record, pairs, vectors[order], ingested[path]))
        files.sort(key=lambda f: min((c.chunk_id for _, cs in f[1] for c in cs), default=-1))
        manifest = {
            key: value
            for key, value in store.manifest.items()
            if key not in ("counts", "generation", "dense_index", "format_version")
        }
        return {"files": files, "manifest": manifest, "n_chunks": len(ids)}
    finally:
        store.close()


def write_store(writer, data: dict[str, Any]) -> float:
    """Write ``data`` (from read_local/replicate) with an opened writer; seconds."""
    started = time.perf_counter()
    with writer:
        for record, pairs, vectors, ingested_at in data["files"]:
            writer.add_file(record, pairs, vectors, ingested_at)
        manifest = dict(data["manifest"])
        writer.commit(
            manifest,
            roots=manifest.pop("roots", []),
            updated_at=manifest.pop("updated_at", None),
            dimension=manifest.pop("dimension", None),
        )
    return time.perf_counter() - started


def wait_for_indexes(uri: str, timeout: float = 600.0) -> float:
    """Seconds until Milvus reports both vector indexes built over every row."""
    from ragcli.store.milvus import MilvusStore

    started = time.perf_counter()
    store = MilvusStore.open(uri, COLLECTION)
    try:
        client = store.db.client
        while time.perf_counter() - started < timeout:
            pending = 0
            for field in ("dense", "sparse"):
                try:
                    info = client.describe_index(COLLECTION, field)
                except Exception:  # noqa: BLE001 - a Lite without the figures: stop waiting
                    return time.perf_counter() - started
                pending += int(info.get("pending_index_rows", 0) or 0)
                total, done = info.get("total_rows"), info.get("indexed_rows")
                if total is not None and done is not None and int(done) < int(total):
                    pending += int(total) - int(done)
            if not pending:
                break
            time.sleep(0.05)
    finally:
        store.close()
    return time.perf_counter() - started


def release(db_path: Path) -> None:
    """Stop the Milvus Lite server this process runs for ``db_path``."""
    with contextlib.suppress(Exception):
        from milvus_lite import server_manager_instance

        server_manager_instance.release_server(str(db_path))


def open_pair(local_dir: Path, uri: str, work: Path, settings):
    from ragcli.index import Index

    local = Index(local_dir, settings=settings, base_dir=work)
    milvus = Index(
        work / "milvus-cache",
        settings=settings,
        base_dir=work,
        store_uri=uri,
        collection=COLLECTION,
    )
    for index in (local, milvus):
        index.warn = lambda message: log(f"warning: {message}")
    return local, milvus


def share_query_vectors(local, milvus, texts) -> float:
    """Embed ``texts`` once, batched, and give both indexes the same vectors; seconds."""
    from ragcli.evaluate import QueryVectorCache

    started = time.perf_counter()
    cache = QueryVectorCache(local.query_encoder)
    cache.prime(list(texts))
    local.query_encoder = cache
    milvus.query_encoder = cache
    return time.perf_counter() - started


# --- parity ---------------------------------------------------------------------------
def compare(local_hits, milvus_hits) -> dict[str, Any]:
    a = [h.chunk.chunk_id for h in local_hits]
    b = [h.chunk.chunk_id for h in milvus_hits]
    sa = [h.score for h in local_hits]
    sb = [h.score for h in milvus_hits]
    same_scores = len(sa) == len(sb) and all(abs(x - y) <= TIE for x, y in zip(sa, sb, strict=True))
    common = set(a) & set(b)
    drift = max(
        (abs(sa[a.index(c)] - sb[b.index(c)]) for c in common),
        default=0.0,
    )
    return {
        "order": a == b,
        "set": set(a) == set(b),
        "overlap": len(common) / max(len(a), 1),
        "ties": a != b and same_scores,  # only tied chunks change places
        "drift": drift,
        "local": a,
        "milvus": b,
        "local_scores": sa,
        "milvus_scores": sb,
    }


def ann_miss(result: dict[str, Any]) -> bool:
    """A chunk of the exact (local) dense top-10 that Milvus missed although it scores
    above Milvus's 10th: HNSW recall, not a tie."""
    if not result["milvus_scores"]:
        return bool(result["local"])
    floor = result["milvus_scores"][-1]
    return any(
        cid not in result["milvus"] and score > floor + TIE
        for cid, score in zip(result["local"], result["local_scores"], strict=True)
    )


def pool_causes(local, milvus, questions, results, vectors, pool: int) -> dict[str, int]:
    """Why a hybrid top-10 differs: the candidate pools (``pool`` per side) it fuses. For
    each mismatched query, does the dense pool differ (and is a chunk of the exact pool
    missing from Milvus's: an ANN miss), does the sparse pool differ in order only among
    tied scores, or in its scores?"""
    text_of = {q.id: q.text for q in questions}
    found = {
        "queries": 0,
        "dense_pool_differs": 0,
        "dense_pool_ann_miss": 0,
        "sparse_pool_differs": 0,
        "sparse_pool_ties_only": 0,
    }
    for result in results:
        if result["order"]:
            continue
        found["queries"] += 1
        text = text_of[result["qid"]]
        a_ids, a_scores = local.store.dense_search(vectors[text], pool)
        b_ids, b_scores = milvus.store.dense_search(vectors[text], pool)
        if a_ids.tolist() != b_ids.tolist():
            found["dense_pool_differs"] += 1
            floor = float(b_scores[-1]) if len(b_scores) else -1.0
            missing = set(a_ids.tolist()) - set(b_ids.tolist())
            if any(
                cid in missing and score > floor + TIE
                for cid, score in zip(a_ids.tolist(), a_scores.tolist(), strict=True)
            ):
                found["dense_pool_ann_miss"] += 1
        a_ids, a_scores = local.store.sparse_search(text, pool)
        b_ids, b_scores = milvus.store.sparse_search(text, pool)
        if a_ids.tolist() != b_ids.tolist():
            found["sparse_pool_differs"] += 1
            if len(a_scores) == len(b_scores) and np.allclose(a_scores, b_scores, atol=TIE, rtol=0):
                found["sparse_pool_ties_only"] += 1
    return found


def ef_probe(local, milvus, questions, vectors, pool: int) -> dict[str, dict[str, float]]:
    """Milvus's dense top-``pool`` at several HNSW ``ef`` (straight through pymilvus, as
    ``dense_search`` does with its ef) against the local exact search, and the RRF hybrid
    top-10 that pool gives (fused by ``ragcli.retrieve`` with Milvus's BM25 pool) against
    the local one. ``exact`` fuses the local dense pool with Milvus's BM25 pool: what is
    left there comes from the sparse side."""
    from ragcli import retrieve

    db = milvus.store.db
    alpha = MODES["rrf"]["alpha"]

    def zeros(ids):  # RRF uses ranks only: no scores are looked up
        return np.zeros(len(ids))

    def rrf_top(dense_ids, sparse_ids):
        fused = retrieve.fuse(
            np.asarray(dense_ids, dtype=np.int64),
            np.zeros(len(dense_ids), dtype=np.float32),
            np.asarray(sparse_ids, dtype=np.int64),
            np.zeros(len(sparse_ids), dtype=np.float32),
            zeros,
            zeros,
            alpha,
            "rrf",
        )
        return [c.chunk_id for c in fused[:K]]

    base = {}
    for question in questions:
        text, vector = question.text, vectors[question.text]
        exact = local.store.dense_search(vector, pool)[0].tolist()
        local_sparse = local.store.sparse_search(text, pool)[0].tolist()
        milvus_sparse = milvus.store.sparse_search(text, pool)[0].tolist()
        base[question.id] = (exact, rrf_top(exact, local_sparse), milvus_sparse)
    out = {}
    for ef in ("exact", *EF_PROBE):
        same10 = same_pool = same_set = same_rrf = 0
        recall = []
        for question in questions:
            exact, local_rrf, milvus_sparse = base[question.id]
            if ef == "exact":
                got = exact
            else:
                vector = vectors[question.text]
                results = db.client.search(
                    db.name,
                    data=[np.asarray(vector, dtype=np.float32).tolist()],
                    anns_field="dense",
                    limit=pool,
                    search_params={"metric_type": "COSINE", "params": {"ef": max(ef, pool)}},
                    output_fields=["chunk_id"],
                )
                hits = sorted(
                    ((int(hit["chunk_id"]), float(hit["distance"])) for hit in results[0]),
                    key=lambda item: (-item[1], item[0]),
                )
                got = [cid for cid, _ in hits[:pool]]
            same10 += got[:K] == exact[:K]
            same_pool += got == exact
            same_set += set(got) == set(exact)
            recall.append(len(set(got) & set(exact)) / max(len(exact), 1))
            same_rrf += rrf_top(got, milvus_sparse) == local_rrf
        n = max(len(questions), 1)
        out[str(ef)] = {
            "dense_top10_order_pct": 100 * same10 / n,
            "pool_order_pct": 100 * same_pool / n,
            "pool_set_pct": 100 * same_set / n,
            "pool_recall": float(np.mean(recall)) if recall else 0.0,
            "rrf_top10_order_pct": 100 * same_rrf / n,
        }
    return out


def parity_collection(name: str, args, work: Path, settings) -> dict[str, Any]:
    from ragcli.evaluate import EvalOptions, RowContext, Target, default_k, read_beir, run_row
    from ragcli.store.milvus import MilvusWriter

    local_dir = eval_index(args.eval_root, name)
    log(f"{name}: local eval index {local_dir}")
    tick = time.perf_counter()
    data = read_local(local_dir)
    read_s = time.perf_counter() - tick
    db_path = work / f"parity-{name}.db"
    uri = f"milvus-lite:{db_path}"
    write_s = write_store(MilvusWriter.open(uri, COLLECTION, rebuild=True), data)
    index_s = wait_for_indexes(uri)
    log(
        f"{name}: {data['n_chunks']} chunks read in {read_s:.1f} s, written to Milvus Lite "
        f"in {write_s:.1f} s (+{index_s:.1f} s index wait)"
    )
    del data

    qset = read_beir(DATA / name / "beir", "test")
    questions = [q for q in qset.questions if q.relevant]
    if args.limit:
        questions = questions[: args.limit]
    local, milvus = open_pair(local_dir, uri, work, settings)
    counts = (local.store.counts(), milvus.store.counts())
    if counts[0] != counts[1]:
        raise SystemExit(f"{name}: counts differ after the copy: {counts}")
    encode_s = share_query_vectors(local, milvus, [q.text for q in questions])
    vectors = local.query_encoder._vectors
    if args.probe_only:
        tick = time.perf_counter()
        probe = ef_probe(local, milvus, questions, vectors, K * settings.pool_factor)
        log(f"{name}: ef probe in {time.perf_counter() - tick:.1f} s")
        for index in (local, milvus):
            index.reader.close()
        release(db_path)
        return {"collection": name, "queries": len(questions), "ef_probe": probe}

    # top-10 chunks, four modes ------------------------------------------------------
    tick = time.perf_counter()
    per_mode: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    for question in questions:
        for mode, options in MODES.items():
            a = local.search(question.text, k=K, rerank=False, **options)
            b = milvus.search(question.text, k=K, rerank=False, **options)
            per_mode[mode].append({"qid": question.id, **compare(a, b)})
    # the dense candidate pool hybrid fuses (k * pool_factor): minmax depends on all of it
    pool = K * settings.pool_factor
    pool_same = 0
    for question in questions:
        vector = vectors[question.text]
        a, _ = local.store.dense_search(vector, pool)
        b, _ = milvus.store.dense_search(vector, pool)
        pool_same += set(a.tolist()) == set(b.tolist())
    search_s = time.perf_counter() - tick

    causes = {
        mode: pool_causes(local, milvus, questions, per_mode[mode], vectors, pool)
        for mode in ("rrf", "hybrid")
    }
    n = len(questions)
    modes_out = {}
    for mode, results in per_mode.items():
        mismatched = [r for r in results if not r["order"]]
        modes_out[mode] = {
            "order_pct": 100 * sum(r["order"] for r in results) / n,
            "set_pct": 100 * sum(r["set"] for r in results) / n,
            "mean_overlap": float(np.mean([r["overlap"] for r in results])),
            "mismatches": len(mismatched),
            "ties": sum(r["ties"] for r in mismatched),
            "ann_misses": sum(ann_miss(r) for r in mismatched) if mode == "dense" else None,
            "max_score_drift": max((r["drift"] for r in results), default=0.0),
            "examples": [
                {key: r[key] for key in ("qid", "local", "milvus", "local_scores", "milvus_scores")}
                for r in mismatched[:3]
            ],
        }
    modes_out["dense"][f"pool{pool}_set_pct"] = 100 * pool_same / n
    for mode, found in causes.items():
        modes_out[mode]["pool_causes"] = found

    # nDCG@10 with rag eval's own row runner ------------------------------------------
    tick = time.perf_counter()
    qrels = {q.id: dict(q.relevant) for q in questions}
    ndcg: dict[str, dict[str, Any]] = {}
    for mode in NDCG_MODES:
        options = MODES[mode]
        resolved = {
            "chunk_size": None,
            "mode": options["mode"],
            "k": default_k(["ndcg@10"]),
            "pool_factor": settings.pool_factor,
            "fusion": options.get("fusion", settings.fusion),
            "alpha": options.get("alpha", settings.alpha),
            "rerank": False,
        }
        rows = {}
        for label, index in (("local", local), ("milvus", milvus)):
            target = Target(index=index, chunk_size=None)
            target.scan()
            context = RowContext(qrels, ["ndcg@10"], EvalOptions(metrics=["ndcg@10"]))
            row = run_row(target, questions, resolved, context)
            rows[label] = row
        same_docs = sum(
            rows["local"]["per_query"][q.id]["top"] == rows["milvus"]["per_query"][q.id]["top"]
            for q in questions
        )
        ndcg[mode] = {
            "local": rows["local"]["mean"]["ndcg@10"],
            "milvus": rows["milvus"]["mean"]["ndcg@10"],
            "fetch_chunks": rows["local"]["fetch_chunks"],
            "same_top10_docs_pct": 100 * same_docs / n,
            "ms_per_query": {
                "local": rows["local"]["timings"]["ms_per_query"],
                "milvus": rows["milvus"]["timings"]["ms_per_query"],
            },
        }
        ndcg[mode]["diff"] = ndcg[mode]["milvus"] - ndcg[mode]["local"]
    ndcg_s = time.perf_counter() - tick

    probe = None
    if not args.no_ef_probe:
        tick = time.perf_counter()
        probe = ef_probe(local, milvus, questions, vectors, pool)
        log(f"{name}: ef probe in {time.perf_counter() - tick:.1f} s")

    for index in (local, milvus):
        index.reader.close()
    release(db_path)
    out = {
        "collection": name,
        "local_index": str(local_dir),
        "queries": n,
        "chunks": counts[0]["chunks"],
        "documents": counts[0]["documents"],
        "modes": modes_out,
        "ndcg": ndcg,
        "ef_probe": probe,
        "seconds": {
            "read_local": read_s,
            "milvus_write": write_s,
            "milvus_index_wait": index_s,
            "encode_queries": encode_s,
            "top10_searches": search_s,
            "ndcg_rows": ndcg_s,
        },
    }
    log(
        f"{name}: done; dense {modes_out['dense']['order_pct']:.1f}% / rrf "
        f"{modes_out['rrf']['order_pct']:.1f}% identical, hybrid nDCG@10 "
        f"{ndcg['hybrid']['local']:.4f} vs {ndcg['hybrid']['milvus']:.4f}"
    )
    return out


# --- speed ----------------------------------------------------------------------------
def replicate(base: dict[str, Any], n_chunks: int, seed: int = 0) -> dict[str, Any]:
    """``n_chunks`` chunks from copies of ``base``'s: copy r gets its own file, document
    ids ``<id>~r<r>``, fresh chunk ids, and vectors perturbed (cosine ~0.995) and
    renormalised. The first copy is the original."""
    from dataclasses import replace

    from ragcli.store.catalog import FileRecord

    rng = np.random.default_rng(seed)
    (record, pairs, vectors, ingested_at), *rest = base["files"]
    if rest:
        raise SystemExit("replicate expects a one-file (BEIR corpus) index")
    per_copy = sum(len(cs) for _, cs in pairs)
    files = []
    next_id = 0
    copy = 0
    while next_id < n_chunks:
        suffix = "" if copy == 0 else f"~r{copy}"
        new_pairs = []
        taken = 0
        for doc, chunks in pairs:
            if next_id >= n_chunks:
                break
            room = n_chunks - next_id
            chunks = chunks[:room]
            new_doc = replace(doc, doc_id=doc.doc_id + suffix)
            new_chunks = [
                replace(c, doc_id=new_doc.doc_id, chunk_id=next_id + i)
                for i, c in enumerate(chunks)
            ]
            next_id += len(new_chunks)
            taken += len(new_chunks)
            new_pairs.append((new_doc, new_chunks))
        part = vectors[:taken].copy()
        if copy:
            noise = rng.standard_normal(part.shape).astype(np.float32) / math.sqrt(part.shape[1])
            part += 0.1 * noise
            part /= np.linalg.norm(part, axis=1, keepdims=True)
        path = f"{record.path}.copy{copy}"
        new_record = FileRecord(path, f"{record.source}.copy{copy}", record.sha256, 1, 1)
        files.append((new_record, new_pairs, part, ingested_at))
        copy += 1
    assert per_copy > 0
    return {"files": files, "manifest": base["manifest"], "n_chunks": next_id}


def percentiles(times: list[float]) -> tuple[float, float]:
    ms = np.asarray(times) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def time_queries(index, queries, options, runs: int) -> dict[str, float]:
    for query in queries[:10]:  # warm-up: loads, caches, connections
        index.search(query, k=K, rerank=False, **options)
    p50s, p95s = [], []
    for _ in range(runs):
        times = []
        for query in queries:
            started = time.perf_counter()
            index.search(query, k=K, rerank=False, **options)
            times.append(time.perf_counter() - started)
        p50, p95 = percentiles(times)
        p50s.append(p50)
        p95s.append(p95)
    return {
        "p50_ms": statistics.median(p50s),
        "p95_ms": statistics.median(p95s),
        "p50_runs": p50s,
        "p95_runs": p95s,
    }


def speed_size(n_chunks: int, base: dict[str, Any], args, work: Path, settings, queries):
    from ragcli.evaluate import QueryVectorCache
    from ragcli.store.local import LocalWriter
    from ragcli.store.milvus import MilvusWriter

    data = replicate(base, n_chunks)
    folder = work / f"speed-{n_chunks}"
    folder.mkdir(parents=True, exist_ok=True)
    writes: dict[str, list[dict[str, float]]] = {"local": [], "milvus": []}
    local_dir = folder / "local"
    db_path = folder / "milvus.db"
    for run in range(args.write_runs):
        last = run == args.write_runs - 1
        target = local_dir if last else folder / f"local-run{run}"
        seconds = write_store(LocalWriter(target, rebuild=True), data)
        writes["local"].append({"seconds": seconds, "chunks_per_s": data["n_chunks"] / seconds})
        if not last:
            shutil.rmtree(target, ignore_errors=True)
        log(f"{n_chunks}: local write run {run + 1}: {seconds:.1f} s (load {load_average()})")

        path = db_path if last else folder / f"milvus-run{run}.db"
        uri = f"milvus-lite:{path}"
        seconds = write_store(MilvusWriter.open(uri, COLLECTION, rebuild=True), data)
        wait = wait_for_indexes(uri)
        total = seconds + wait
        writes["milvus"].append(
            {
                "seconds": total,
                "write_commit_s": seconds,
                "index_wait_s": wait,
                "chunks_per_s": data["n_chunks"] / total,
            }
        )
        if not last:
            release(path)
            shutil.rmtree(path, ignore_errors=True)
        log(
            f"{n_chunks}: milvus write run {run + 1}: {seconds:.1f} s + {wait:.1f} s index wait "
            f"(load {load_average()})"
        )
    del data

    local, milvus = open_pair(local_dir, f"milvus-lite:{db_path}", folder, settings)
    real_encoder = local.query_encoder
    # end to end first (real encoder on both), then store-only (precomputed vectors)
    latency: dict[str, dict[str, dict[str, Any]]] = {"end_to_end": {}, "store": {}}
    milvus.query_encoder = real_encoder
    for mode, options in LATENCY_MODES.items():
        for label, index in (("local", local), ("milvus", milvus)):
            result = time_queries(index, queries, options, args.e2e_runs)
            latency["end_to_end"].setdefault(mode, {})[label] = result
            log(f"{n_chunks}: e2e {mode} {label}: p50 {result['p50_ms']:.1f} ms")
    cache = QueryVectorCache(real_encoder)
    cache.prime(queries)
    local.query_encoder = cache
    milvus.query_encoder = cache
    for mode, options in LATENCY_MODES.items():
        for label, index in (("local", local), ("milvus", milvus)):
            result = time_queries(index, queries, options, args.runs)
            latency["store"].setdefault(mode, {})[label] = result
            log(f"{n_chunks}: store {mode} {label}: p50 {result['p50_ms']:.1f} ms")
    counts = milvus.store.counts()
    for index in (local, milvus):
        index.reader.close()
    release(db_path)
    return {
        "chunks": counts["chunks"],
        "documents": counts["documents"],
        "writes": writes,
        "write_median": {
            label: {
                "seconds": statistics.median(r["seconds"] for r in runs),
                "chunks_per_s": statistics.median(r["chunks_per_s"] for r in runs),
                **(
                    {"index_wait_s": statistics.median(r["index_wait_s"] for r in runs)}
                    if label == "milvus"
                    else {}
                ),
            }
            for label, runs in writes.items()
        },
        "latency": latency,
    }


# --- tables ---------------------------------------------------------------------------
def probe_table(results: list[dict[str, Any]]) -> list[str]:
    if not any(r.get("ef_probe") for r in results):
        return []
    lines = [
        "",
        "### Milvus dense pool at other HNSW ef (pymilvus directly) vs exact local, and "
        "the RRF top-10 it gives (% of queries identical; ragcli's dense_search uses "
        "ef = max(64, limit); pool = k x pool_factor = 50)",
        "",
        "| collection | dense ef | dense top-10 | dense top-50 order | top-50 set "
        "| recall@50 | RRF hybrid top-10 |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        for ef, v in (r["ef_probe"] or {}).items():
            lines.append(
                f"| {r['collection']} | {ef} | {v['dense_top10_order_pct']:.1f} | "
                f"{v['pool_order_pct']:.1f} | {v['pool_set_pct']:.1f} | "
                f"{v['pool_recall']:.4f} | {v['rrf_top10_order_pct']:.1f} |"
            )
    return lines


def parity_tables(results: list[dict[str, Any]]) -> str:
    lines = [
        "### Same top-10 chunks, Milvus Lite vs local (% of queries: ordered list / set)",
        "",
        "| collection | queries | chunks | dense | RRF hybrid (a 0.5) "
        "| default hybrid (minmax, a 0.7) | sparse | dense top-50 pool set |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        m = r["modes"]
        cells = [f"{m[x]['order_pct']:.1f} / {m[x]['set_pct']:.1f}" for x in MODES]
        pool_key = next(key for key in m["dense"] if key.startswith("pool"))
        lines.append(
            f"| {r['collection']} | {r['queries']} | {r['chunks']} | "
            + " | ".join(cells)
            + f" | {m['dense'][pool_key]:.1f} |"
        )
    lines += [
        "",
        "### nDCG@10 (rag eval's scoring: documents by best chunk), rerank off",
        "",
        "| collection | mode | local | Milvus Lite | diff | same top-10 docs % |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in results:
        for mode in NDCG_MODES:
            v = r["ndcg"][mode]
            label = "hybrid (default)" if mode == "hybrid" else mode
            lines.append(
                f"| {r['collection']} | {label} | {v['local']:.4f} | {v['milvus']:.4f} | "
                f"{v['diff']:+.4f} | {v['same_top10_docs_pct']:.1f} |"
            )
    lines += ["", "### Mismatch analysis (ordered top-10 lists that differ)", ""]
    lines += [
        "| collection | mode | mismatches | only tied scores swap | dense ANN misses "
        "| max score drift |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in results:
        for mode, m in r["modes"].items():
            miss = "" if m["ann_misses"] is None else str(m["ann_misses"])
            lines.append(
                f"| {r['collection']} | {mode} | {m['mismatches']} | {m['ties']} | {miss} | "
                f"{m['max_score_drift']:.2e} |"
            )
    lines += [
        "",
        "Hybrid mismatches by candidate pool (k x pool_factor per side):",
        "",
        "| collection | mode | mismatched queries | dense pool differs | of which ANN miss "
        "| sparse pool differs | of which tied scores only |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        for mode in ("rrf", "hybrid"):
            c = r["modes"][mode]["pool_causes"]
            lines.append(
                f"| {r['collection']} | {mode} | {c['queries']} | {c['dense_pool_differs']} | "
                f"{c['dense_pool_ann_miss']} | {c['sparse_pool_differs']} | "
                f"{c['sparse_pool_ties_only']} |"
            )
    lines += probe_table(results)
    lines += ["", "### Requirement (issue #7)", ""]
    for r in results:
        m, h = r["modes"], r["ndcg"]["hybrid"]
        ok_dense = m["dense"]["order_pct"] >= 95
        ok_rrf = m["rrf"]["order_pct"] >= 95
        ok_ndcg = abs(h["diff"]) <= 0.005
        lines.append(
            f"- {r['collection']}: dense same top-10 {m['dense']['order_pct']:.1f}% "
            f"({'PASS' if ok_dense else 'FAIL'}), RRF {m['rrf']['order_pct']:.1f}% "
            f"({'PASS' if ok_rrf else 'FAIL'}), default-hybrid nDCG@10 diff "
            f"{h['diff']:+.4f} ({'PASS' if ok_ndcg else 'FAIL'})"
        )
    return "\n".join(lines)


def speed_tables(results: list[dict[str, Any]], runs) -> str:
    lines = [
        f"### Write (no embedding): median of {runs['write']} runs",
        "",
        "| chunks | store | seconds | chunks/s | note |",
        "|---:|---|---:|---:|---|",
    ]
    for r in results:
        w = r["write_median"]
        lines.append(
            f"| {r['chunks']} | local (LocalWriter) | {w['local']['seconds']:.1f} | "
            f"{w['local']['chunks_per_s']:.0f} | catalog + FAISS flat + bm25s |"
        )
        lines.append(
            f"| {r['chunks']} | Milvus Lite (MilvusWriter) | {w['milvus']['seconds']:.1f} | "
            f"{w['milvus']['chunks_per_s']:.0f} | inserts + commit/flush; "
            f"+{w['milvus']['index_wait_s']:.1f} s index wait included |"
        )
    lines += [
        "",
        f"### Query latency in-process, k=10, rerank off, {runs['queries']} queries (ms; "
        "median over "
        f"{runs['store']} store-only runs / {runs['e2e']} end-to-end runs)",
        "",
        "| chunks | mode | local p50 | local p95 | Milvus p50 | Milvus p95 "
        "| e2e local p50 | e2e local p95 | e2e Milvus p50 | e2e Milvus p95 |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        for mode in LATENCY_MODES:
            s, e = r["latency"]["store"][mode], r["latency"]["end_to_end"][mode]
            lines.append(
                f"| {r['chunks']} | {mode} | {s['local']['p50_ms']:.1f} | "
                f"{s['local']['p95_ms']:.1f} | {s['milvus']['p50_ms']:.1f} | "
                f"{s['milvus']['p95_ms']:.1f} | {e['local']['p50_ms']:.1f} | "
                f"{e['local']['p95_ms']:.1f} | {e['milvus']['p50_ms']:.1f} | "
                f"{e['milvus']['p95_ms']:.1f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collections", default="cranfield,scifact,xquad_en")
    parser.add_argument("--sizes", default="20000,100000", help="chunk counts for --speed")
    parser.add_argument("--keep", type=Path, help="keep the stores in this folder")
    parser.add_argument("--skip-parity", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--queries", type=int, default=200, help="latency queries")
    parser.add_argument("--runs", type=int, default=3, help="store-only latency runs")
    parser.add_argument("--e2e-runs", type=int, default=1, help="end-to-end latency runs")
    parser.add_argument("--write-runs", type=int, default=3, help="write runs per size")
    parser.add_argument("--limit", type=int, help="parity: only the first N queries")
    parser.add_argument("--no-ef-probe", action="store_true")
    parser.add_argument(
        "--probe-only", action="store_true", help="parity: only the HNSW ef / RRF probe"
    )
    parser.add_argument("--json", type=Path, help="write every figure here as JSON")
    parser.add_argument(
        "--eval-root",
        type=Path,
        default=Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        / "ragcli"
        / "eval",
        help="where the cached eval indexes are",
    )
    args = parser.parse_args()

    from ragcli.config import load_settings

    started = time.perf_counter()
    work = args.keep or Path(tempfile.mkdtemp(prefix="rag-milvus-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    settings = load_settings(work)
    log(f"work folder {work}; {os.cpu_count()} CPUs, load average {load_average()}")
    report: dict[str, Any] = {"cpus": os.cpu_count(), "load_start": load_average()}
    tables = []
    try:
        if not args.skip_parity:
            parity = [
                parity_collection(name.strip(), args, work, settings)
                for name in args.collections.split(",")
                if name.strip()
            ]
            report["parity"] = parity
            if args.probe_only:
                tables.append("\n".join(probe_table(parity)))
            else:
                tables.append(parity_tables(parity))
            if args.json:
                args.json.write_text(json.dumps(report, indent=1, default=str))
        if not args.skip_speed:
            base = read_local(eval_index(args.eval_root, "scifact"))
            queries = []
            with (DATA / "scifact" / "beir" / "queries.jsonl").open() as handle:
                for line in handle:
                    queries.append(json.loads(line)["text"])
            queries = queries[: args.queries]
            speed = []
            for size in (int(s) for s in args.sizes.split(",") if s.strip()):
                speed.append(speed_size(size, base, args, work, settings, queries))
                if args.json:
                    report["speed"] = speed
                    args.json.write_text(json.dumps(report, indent=1, default=str))
            report["speed"] = speed
            runs = {
                "write": args.write_runs,
                "store": args.runs,
                "e2e": args.e2e_runs,
                "queries": len(queries),
            }
            tables.append(speed_tables(speed, runs))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    report["load_end"] = load_average()
    report["seconds"] = time.perf_counter() - started
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str))
    print("\n\n".join(tables))
    print(
        f"\n{os.cpu_count()} CPUs shared with other work; load average at start "
        f"{report['load_start']}, at end {report['load_end']}; total "
        f"{report['seconds'] / 60:.1f} min"
    )


if __name__ == "__main__":
    main()
