"""Cross-encoder cost per rerank depth, for choosing the default depth.

    python benchmarks/rerank.py [--depths 5,10,20,50,100]

No cross-encoder's weights can be downloaded here, so this builds one of the default
reranker's size and shape (a 6-layer MiniLM, 384 wide: all-MiniLM-L6-v2's own encoder
with a fresh one-output head). Its scores are meaningless but its cost is the real
model's. Passages are real SciFact chunks (~200 tokens); the query is a SciFact claim.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
SCIFACT = REPO.parent / "shared" / "data" / "scifact" / "beir"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", default="5,10,20,50,100")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from transformers import AutoTokenizer, BertForSequenceClassification

    from ragcli.rerank import Reranker
    from ragcli.weights import DEFAULT_EMBED_MODEL, resolve_model_path

    source = resolve_model_path(DEFAULT_EMBED_MODEL)
    folder = Path(tempfile.mkdtemp(prefix="rerank-bench-"))
    BertForSequenceClassification.from_pretrained(source, num_labels=1).save_pretrained(folder)
    AutoTokenizer.from_pretrained(source).save_pretrained(folder)
    reranker = Reranker(str(folder))

    passages = []
    with (SCIFACT / "corpus.jsonl").open() as handle:
        for line in handle:
            words = json.loads(line)["text"].split()
            if len(words) >= 150:
                passages.append(" ".join(words[:150]))  # about 200 word pieces
            if len(passages) >= 100:
                break
    query = "0-dimensional biomaterials show inductive properties."
    reranker.score(query, passages[:4])  # warm up
    print(f"cross-encoder of the default's size ({folder}); passages ~200 word pieces")
    for depth in (int(d) for d in args.depths.split(",")):
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            reranker.score(query, passages[:depth])
            times.append(time.perf_counter() - started)
        seconds = statistics.median(times)
        print(f"depth {depth:>4}: {seconds:6.2f} s  ({depth / seconds:5.1f} pairs/s)")


if __name__ == "__main__":
    main()
