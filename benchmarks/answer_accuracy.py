"""How often `rag ask`'s offline (extractive) answer quotes the gold answer.

    python benchmarks/answer_accuracy.py QUESTIONS.jsonl [--index DIR] [--limit N] [--json]

Runs ``ask``'s own path for each question (retrieval with the index's settings, the
relevance bar, then ``answer_from_hits`` with the extractive backend, no answer cache)
and scores the quoted text as ``rag eval --answers`` scores ``contains``: a gold answer,
normalised the SQuAD way, occurs in the normalised answer text. ``rag eval``'s own
``contains`` is computed on the one-sentence (or one-span) baseline answer, not on what
``rag ask`` prints, so this script measures what a user reads.

Prints, overall and by ``kind`` (when the question file has one):
  contains          share of answerable questions whose quoted text holds the gold answer
  contains@top1     the same, only where the first hit is from a relevant document
  abstained         answerable questions where ``ask`` said the index has no answer
  offtopic abstain  questions with no answers (off-topic) where ``ask`` abstained

The index is found as ``rag`` finds it (from ``--index`` or the question file's folder).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path


def _relevant(record: dict) -> set[str]:
    relevant = record.get("relevant") or {}
    return set(relevant) if isinstance(relevant, (dict, list)) else set()


def run(questions_path: Path, index_dir: str | None, limit: int | None) -> dict:
    from ragcli import Index
    from ragcli.answer import answer_from_hits, retrieve
    from ragcli.answer.ask import abstains
    from ragcli.evaluate.metrics import answer_contains
    from ragcli.generate.extractive import ExtractiveBackend

    index = Index.locate(index_dir, cwd=questions_path.resolve().parent)
    settings = index.settings
    records = [json.loads(line) for line in questions_path.open() if line.strip()]
    if limit:
        records = records[:limit]
    rows = []
    for record in records:
        question, answers = record["question"], record.get("answers") or []
        hits = retrieve(index, question, settings)
        top1 = bool(hits) and (
            hits[0].chunk.doc_id in _relevant(record) or hits[0].chunk.source in _relevant(record)
        )
        if not hits or abstains(index, hits, settings):
            text, abstained = "", True
        else:
            backend = ExtractiveBackend()
            result = answer_from_hits(index, question, hits, settings, backend=backend, cache=False)
            text, abstained = result.text, False
        rows.append(
            {
                "id": record.get("id"),
                "kind": record.get("kind", "all"),
                "question": question,
                "answers": answers,
                "top1": top1,
                "abstained": abstained,
                "contains": bool(answers) and bool(answer_contains(text, answers)),
                "answer": text,
            }
        )
    return {"questions": str(questions_path), "index": index.location, "rows": rows}


def summary(rows: list[dict]) -> dict:
    answerable = [r for r in rows if r["answers"]]
    top1 = [r for r in answerable if r["top1"]]
    offtopic = [r for r in rows if not r["answers"]]

    def share(part: list[dict], key: str) -> str:
        return (
            f"{sum(r[key] for r in part) / len(part):.3f} ({sum(r[key] for r in part)}/{len(part)})"
            if part
            else "-"
        )

    return {
        "contains": share(answerable, "contains"),
        "contains@top1": share(top1, "contains"),
        "abstained": share(answerable, "abstained"),
        "offtopic abstain": share(offtopic, "abstained"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("questions", type=Path)
    parser.add_argument("--index", default=None)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--json", action="store_true", help="every question's row as JSON")
    parser.add_argument("--misses", action="store_true", help="print the misses at top-1")
    args = parser.parse_args(argv)
    report = run(args.questions, args.index, args.limit)
    rows = report["rows"]
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"{report['questions']}  (index {report['index']})")
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_kind[row["kind"]].append(row)
    groups = [("all", rows)] + ([] if set(by_kind) == {"all"} else sorted(by_kind.items()))
    for name, part in groups:
        figures = "  ".join(f"{k} {v}" for k, v in summary(part).items())
        print(f"{name:>10}: {figures}")
    if args.misses:
        for row in rows:
            if row["answers"] and row["top1"] and not row["contains"]:
                print(f"\n# {row['id']} {row['question']!r} gold {row['answers']}")
                print(row["answer"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
