"""Embedding throughput: the local Encoder against RayEncoder (rag ingest --engine ray).

    python benchmarks/ray_ingest.py [--corpus PATH] [--limit N] [--repeat N]
                                    [--address ADDR] [--actors N] [--cpus-per-actor X]

Chunks a real corpus (default: Cranfield's BEIR corpus.jsonl from ../shared/data) with
ragcli's own loader and chunker, as ingest does, then embeds exactly the same chunk
texts with:

- the local sentence-transformers Encoder, model already loaded (as benchmarks/ingest.py);
- RayEncoder from scratch: Ray start-up, actors, model load in the actors, shutdown;
- RayEncoder in a Ray session that is already up: actors and model load included;
- RayEncoder steady state: from the first batch's arrival to the last, so neither
  start-up nor model loading counts.

Prints chunks/s for each (median of --repeat runs) and its time relative to the local
Encoder's (1.20x: Ray takes 20% longer).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "data" / "cranfield" / "beir" / "corpus.jsonl"


def chunk_texts(corpus: Path, limit: int | None) -> list[str]:
    """The texts ingest would embed for ``corpus``: loaded, chunked, title first."""
    from ragcli.chunk import chunker_for
    from ragcli.config import Settings
    from ragcli.load import load_file
    from ragcli.text import index_text

    chunker = chunker_for(Settings())
    chunks = chunker.chunk_many(load_file(corpus, corpus.parent))
    texts = [index_text(chunk.title, chunk.text) for chunk in chunks]
    return texts[:limit] if limit else texts


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


class Arrivals:
    """A progress callback that notes when each batch arrived."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.counts: list[int] = []

    def __call__(self, n: int) -> None:
        self.times.append(time.perf_counter())
        self.counts.append(n)

    def steady_rate(self) -> float:
        """Chunks/s after the first batch arrived (start-up and model load excluded)."""
        if len(self.times) < 2:
            return float("nan")
        return sum(self.counts[1:]) / (self.times[-1] - self.times[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--limit", type=int, default=None, help="embed only the first N chunks")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement")
    parser.add_argument("--address", default=None, help="Ray address (default: local Ray)")
    parser.add_argument("--actors", type=int, default=None, help="default: as many as fit")
    parser.add_argument("--cpus-per-actor", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=None, help="default: settings")
    args = parser.parse_args()
    if not args.corpus.exists():
        sys.exit(f"{args.corpus}: not found")

    from ragcli.config import Settings
    from ragcli.embed import SentenceTransformerEncoder as Encoder
    from ragcli.embed.ray import RayEncoder, plan_actors, ray_session

    settings = Settings()
    batch_size = args.batch_size or settings.embed_batch_size
    texts = chunk_texts(args.corpus, args.limit)
    notes: list[str] = []

    def ray_encoder() -> RayEncoder:
        return RayEncoder(
            settings.embed_model,
            batch_size,
            address=args.address,
            actors=args.actors,
            cpus_per_actor=args.cpus_per_actor,
            warn=notes.append,
        )

    local = Encoder(settings.embed_model, batch_size)
    local.encode(["warm up"])  # model load is not part of the local figure
    local_rates = [len(texts) / timed(lambda: local.encode(texts)) for _ in range(args.repeat)]

    cold_rates = [
        len(texts) / timed(lambda: ray_encoder().encode(texts)) for _ in range(args.repeat)
    ]

    warm_rates, steady_rates = [], []
    with ray_session(args.address):
        import ray

        cpus = ray.cluster_resources().get("CPU", 0.0)
        for _ in range(args.repeat):
            arrivals = Arrivals()
            started = time.perf_counter()
            ray_encoder().encode(texts, arrivals)
            warm_rates.append(len(texts) / (time.perf_counter() - started))
            steady_rates.append(arrivals.steady_rate())
    actors = plan_actors(cpus, args.actors, args.cpus_per_actor)

    local_rate = statistics.median(local_rates)
    rows = [
        ("local Encoder (model loaded)", local_rate),
        ("Ray, including Ray start-up", statistics.median(cold_rates)),
        ("Ray, session already up", statistics.median(warm_rates)),
        ("Ray, steady state", statistics.median(steady_rates)),
    ]
    print(f"corpus            {args.corpus}")
    print(f"chunks            {len(texts)}")
    print(f"batch size        {batch_size}")
    print(f"Ray cluster       {cpus:g} CPUs, {actors} actor(s) of {args.cpus_per_actor:g} CPU")
    for note in dict.fromkeys(notes):
        print(f"note              {note}")
    print(f"runs              median of {args.repeat}")
    for label, rate in rows:
        print(f"{label:<30} {rate:8.1f} chunks/s   time vs local {local_rate / rate:5.2f}x")


if __name__ == "__main__":
    main()
