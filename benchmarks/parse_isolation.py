"""The cost of parsing each PDF in a forked child under limits (ragcli.load._isolate).

    python benchmarks/parse_isolation.py FOLDER [--rounds N]

Loads every PDF under FOLDER with ``load_pdf`` (a forked child per file, under
``MAX_MEMORY_BYTES`` and ``MAX_CPU_SECONDS``) and with the same parser in this process
(``_load_pdf``), alternating the two per round so load on the machine falls on both.
This process first loads the embedding model, as `rag ingest` has by then, so each
fork copies the page tables of a process of realistic size. Prints seconds per file
for each way and the overhead of the child in percent (median of the rounds).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from ragcli.config import Settings
    from ragcli.embed import ingest_encoder
    from ragcli.errors import warn
    from ragcli.load.pdf import _load_pdf, load_pdf

    encoder = ingest_encoder(Settings(), warn=warn)
    encoder.encode(["warm up"])  # the model in memory, as during an ingest
    files = sorted(args.folder.rglob("*.pdf"))
    ways = {"in process": lambda p: _load_pdf(p, args.folder, False),
            "forked child": lambda p: load_pdf(p, args.folder)}  # fmt: skip
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, load in ways.items():
            started = time.perf_counter()
            for path in files:
                load(path)
            seconds[name].append((time.perf_counter() - started) / len(files))
    base = statistics.median(seconds["in process"])
    for name, values in seconds.items():
        print(f"{name:13s} {statistics.median(values) * 1000:7.2f} ms/file "
              f"(rounds: {', '.join(f'{v * 1000:.2f}' for v in values)})")  # fmt: skip
    overhead = statistics.median(seconds["forked child"]) / base - 1
    print(f"{len(files)} PDFs; overhead of the forked child {overhead * 100:+.1f}%")


if __name__ == "__main__":
    main()
