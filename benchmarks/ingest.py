"""Ingest throughput: the whole pipeline against the embedding model alone.

    python benchmarks/ingest.py [--corpus PATH] [--repeat N]

Ingests a real corpus (default: Cranfield's BEIR corpus.jsonl from ../shared/data) into a
fresh temporary index, then encodes exactly the same chunk texts again with the same,
already loaded model. Prints documents, chunks, wall time, chunks/s for the whole ingest,
chunks/s for the model alone, and the ratio between them (goal: >= 80%).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "data" / "cranfield" / "beir" / "corpus.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement")
    args = parser.parse_args()
    if not args.corpus.exists():
        sys.exit(f"{args.corpus}: not found")

    from ragcli.config import Settings
    from ragcli.embed import SentenceTransformerEncoder as Encoder
    from ragcli.index import Index
    from ragcli.text import index_text

    settings = Settings()
    encoder = Encoder(settings.embed_model, settings.embed_batch_size)
    encoder.encode(["warm up"])  # model load is not part of either figure

    pipeline_rates, model_rates, walls = [], [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            index = Index(Path(tmp) / "index", settings=settings, base_dir=Path(tmp))
            index.__dict__["encoder"] = encoder
            started = time.perf_counter()
            report = index.ingest([args.corpus])
            wall = time.perf_counter() - started
            texts = [
                index_text(title, text) for _, title, text in index.store.catalog.iter_chunk_texts()
            ]
        started = time.perf_counter()
        encoder.encode(texts)
        model_seconds = time.perf_counter() - started
        walls.append(wall)
        pipeline_rates.append(report.chunks / wall)
        model_rates.append(len(texts) / model_seconds)

    pipeline, model = statistics.median(pipeline_rates), statistics.median(model_rates)
    print(f"corpus            {args.corpus}")
    print(f"documents         {report.documents}")
    print(f"chunks            {report.chunks}")
    print(f"wall time         {statistics.median(walls):.1f} s (median of {args.repeat})")
    print("stage times       " + ", ".join(f"{k} {v:.1f} s" for k, v in report.timings.items()))
    print(f"pipeline          {pipeline:.1f} chunks/s")
    print(f"model alone       {model:.1f} chunks/s")
    print(f"pipeline / model  {pipeline / model:.0%}")


if __name__ == "__main__":
    main()
