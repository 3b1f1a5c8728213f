"""Sub-queries (lex, vec, hyde) against one plain query, on real judged questions (issue 24).

    python benchmarks/subqueries.py [--index NAME=DIR]... [--work DIR] [--chunks 30]
                                    [--json OUT]

Collections: the shared docs folders (``docs/flask``, ``docs/fastapi``: 40 hand-checked
questions each, by kind; the two off-topic ones have nothing relevant and are left
out) and the BEIR collections ``scifact`` (test) and ``cranfield``. Each is ingested
with the default settings into ``--work`` (default /tmp/subqueries/<name>, reused by a
later run) unless ``--index NAME=DIR`` names an index already built from it.

Per question, each configuration is searched in-process (``Index.search``, no rerank,
``-k`` = ``--chunks`` chunks), the hits rolled up into documents in rank order (a file
for the docs folders, a record id for BEIR) and cut to 10: hit@1, MRR@10 and nDCG@10
(graded gains where the qrels have them).

Configurations, all from the question's own text:

* ``plain``: the query alone (hybrid, the default ``linear`` fusion);
* ``lex+vec``: no query, ``searches=[{lex: q}, {vec: q}]``, fused by score (default);
* ``lex+vec rrf``: the same with ``fusion="rrf"`` (reciprocal rank fusion, as qmd);
* ``plain+lex+vec``: the query and both sub-queries (score fusion);
* ``plain+lex+vec rrf``: the same, RRF.

No ``hyde`` configuration: a hypothetical passage has to be written by a language model,
none runs here, and writing one from the gold answers would measure the answers. The
same holds for ``vec``/``lex`` rewrites of the question; only the question's own text is
used, so these figures show what the fusion costs or gains when the agent adds nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
DATA = (REPO.parent / "shared" / "data").resolve()
sys.path.insert(0, str(REPO))

from ragcli.index import Index  # noqa: E402

CUT = 10
CONFIGS = {
    "plain": lambda q: {"query": q},
    "lex+vec": lambda q: {"query": "", "searches": [("lex", q), ("vec", q)]},
    "lex+vec rrf": lambda q: {"query": "", "searches": [("lex", q), ("vec", q)], "fusion": "rrf"},
    "plain+lex+vec": lambda q: {"query": q, "searches": [("lex", q), ("vec", q)]},
    "plain+lex+vec rrf": lambda q: {
        "query": q,
        "searches": [("lex", q), ("vec", q)],
        "fusion": "rrf",
    },
}


def docs_questions(folder: Path) -> list[dict]:
    """(id, text, {relevant path: gain}, kind) of a docs folder's questions."""
    rows = [json.loads(line) for line in (folder / "questions.jsonl").read_text().splitlines()]
    return [
        {"id": r["id"], "text": r["question"], "relevant": r["relevant"], "kind": r["kind"]}
        for r in rows
        if r.get("relevant")
    ]


def beir_questions(folder: Path, split: str = "test") -> list[dict]:
    queries = {}
    for line in (folder / "queries.jsonl").read_text().splitlines():
        record = json.loads(line)
        queries[record["_id"]] = record["text"]
    qrels: dict[str, dict[str, int]] = {}
    for line in (folder / "qrels" / f"{split}.tsv").read_text().splitlines()[1:]:
        qid, did, score = line.split("\t")
        if int(score) > 0:
            qrels.setdefault(qid, {})[did] = int(score)
    return [
        {"id": qid, "text": queries[qid], "relevant": rel, "kind": "all"}
        for qid, rel in qrels.items()
        if qid in queries
    ]


COLLECTIONS = {
    "flask": (DATA / "docs" / "flask", docs_questions, "path"),
    "fastapi": (DATA / "docs" / "fastapi", docs_questions, "path"),
    "scifact": (DATA / "scifact" / "beir", beir_questions, "doc_id"),
    "cranfield": (DATA / "cranfield" / "beir", beir_questions, "doc_id"),
}


def ingest(name: str, source: Path, work: Path) -> Path:
    index = work / name
    target = source if COLLECTIONS[name][2] == "path" else source / "corpus.jsonl"
    command = [sys.executable, "-m", "ragcli", "ingest", str(target), "--index", str(index)]
    subprocess.run(command, check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    return index


def doc_key(hit, root: Path, by: str) -> str:
    if by == "doc_id":
        return hit.chunk.doc_id
    source = Path(hit.chunk.source)
    return str(source.relative_to(root)) if source.is_absolute() else source.as_posix()


def ranked_docs(hits, root: Path, by: str) -> list[str]:
    seen: dict[str, None] = {}
    for hit in hits:
        seen.setdefault(doc_key(hit, root, by), None)
    return list(seen)[:CUT]


def scores(ranking: list[str], relevant: dict[str, int]) -> dict[str, float]:
    first = next((n for n, doc in enumerate(ranking, 1) if doc in relevant), None)
    gains = [relevant.get(doc, 0) for doc in ranking]
    dcg = sum((2**g - 1) / math.log2(n + 1) for n, g in enumerate(gains, 1))
    ideal = sorted(relevant.values(), reverse=True)[:CUT]
    idcg = sum((2**g - 1) / math.log2(n + 1) for n, g in enumerate(ideal, 1))
    return {
        "hit@1": float(first == 1),
        "mrr@10": 1.0 / first if first else 0.0,
        "ndcg@10": dcg / idcg if idcg else 0.0,
    }


def run(name: str, index_dir: Path, chunks: int) -> dict:
    source, read, by = COLLECTIONS[name]
    questions = read(source)
    index = Index(index_dir)
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    started = time.perf_counter()
    for question in questions:
        for config, make in CONFIGS.items():
            arguments = make(question["text"])
            query = arguments.pop("query")
            hits = index.search(query, k=chunks, rerank=False, **arguments)
            ranking = ranked_docs(hits, source, by)
            row = scores(ranking, question["relevant"])
            for kind in dict.fromkeys(("all", question["kind"])):
                results.setdefault(kind, {}).setdefault(config, []).append(row)
    elapsed = time.perf_counter() - started
    return {"questions": len(questions), "seconds": round(elapsed, 1), "kinds": results}


def summary(results: dict) -> dict:
    table = {}
    for kind, configs in results["kinds"].items():
        table[kind] = {
            config: {m: round(sum(r[m] for r in rows) / len(rows), 3) for m in rows[0]}
            | {"n": len(rows)}
            for config, rows in configs.items()
        }
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", action="append", default=[], help="NAME=DIR")
    parser.add_argument("--work", type=Path, default=Path("/tmp/subqueries"))
    parser.add_argument("--collections", default=",".join(COLLECTIONS))
    parser.add_argument("--chunks", type=int, default=30)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    given = dict(item.split("=", 1) for item in args.index)
    report = {}
    for name in args.collections.split(","):
        index_dir = (
            Path(given[name]) if name in given else ingest(name, COLLECTIONS[name][0], args.work)
        )
        table = summary(run(name, index_dir, args.chunks))
        report[name] = table
        for kind, configs in table.items():
            print(f"\n{name} / {kind} (n={next(iter(configs.values()))['n']})")
            print(f"  {'config':<20} {'hit@1':>6} {'MRR@10':>7} {'nDCG@10':>8}")
            for config, m in configs.items():
                print(f"  {config:<20} {m['hit@1']:>6.3f} {m['mrr@10']:>7.3f} {m['ndcg@10']:>8.3f}")
        sys.stdout.flush()
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
