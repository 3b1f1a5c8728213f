"""The answer bar on the example corpus: each question's best cosine and whether `ask`
answers (the 24 of examples/questions.jsonl) or abstains (off-topic questions).

    python benchmarks/no_answer.py

Ingests examples/docs into a temporary index (the real model), then runs
``ragcli.answer.ask`` with the extractive backend, hybrid, no reranking.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
OFF_TOPIC = (
    "a recipe for chocolate chip cookies",
    "how do I bake sourdough bread",
    "what is the capital of Australia",
    "best football team in the Premier League",
    "how to configure nginx reverse proxy",
    "symptoms of the common cold",
    "python list comprehension syntax",
    "what is the price of bitcoin today",
    "train schedule from Paris to Berlin",
    "how to knit a scarf",
    "who won the 2018 world cup",
    "lyrics of bohemian rhapsody",
)


def main() -> None:
    sys.path.insert(0, str(REPO))
    from ragcli.answer import ask
    from ragcli.generate import make_backend
    from ragcli.index import Index

    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(REPO / "examples" / "docs", Path(tmp) / "docs")
        index = Index(Path(tmp) / ".rag" / "default")
        index.ingest([Path(tmp) / "docs"])
        settings = index.settings.with_overrides(rerank=False, llm="extractive")
        backend = make_backend(settings)
        lines = (REPO / "examples" / "questions.jsonl").read_text().splitlines()
        questions = [json.loads(line) for line in lines if line.strip()]
        answered = gold = 0
        for q in questions:
            r = ask(index, q["question"], settings, backend=backend, cache=False)
            hit = any(a.lower() in r.text.lower() for a in q["answers"])
            answered += not r.no_answer
            gold += hit
            print(f"{r.relevance['best_cosine']:.3f}  {'abstains' if r.no_answer else 'answers '}"
                  f"  {'gold' if hit else '    '}  {q['question'].strip()}")  # fmt: skip
        abstained = 0
        for question in OFF_TOPIC:
            r = ask(index, question, settings, backend=backend, cache=False)
            abstained += r.no_answer
            state = "abstains" if r.no_answer else "answers "
            print(f"{r.relevance['best_cosine']:.3f}  {state}  off-topic  {question}")
        print(f"questions answered {answered}/{len(questions)} (gold answer quoted: {gold}); "
              f"off-topic abstained {abstained}/{len(OFF_TOPIC)}")  # fmt: skip


if __name__ == "__main__":
    main()
