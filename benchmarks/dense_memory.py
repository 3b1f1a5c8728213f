"""Memory of writing the dense index: what ``LocalWriter.commit`` does to FAISS, alone.

    python benchmarks/dense_memory.py --chunks 600000 --dir DIR [--flat-max 500000]

Three steps, each in a process of its own, on random unit vectors (384 dimensions)
staged as ingest stages them (``VectorStage``): a fresh index of ``--chunks`` vectors,
then 10,000 added to it, then 10,000 removed from it; each step reads the previous
index as ``LocalWriter._write_dense`` does, applies the change and writes the result.
Above ``--flat-max`` (``dense.FLAT_MAX_CHUNKS``) the index is IVF. A sampler thread
reads VmRSS every 20 ms and keeps the peak of each phase: ``stage`` (writing the
staging files), ``read``, ``update`` (``dense.update_batches``), ``write``. Prints one
JSON line per step. Runs against whichever ragcli is on PYTHONPATH, so the code before
and after a change can be measured back to back.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

DIMENSION = 384
STEP_ROWS = 10_000


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class PhasePeaks:
    """The peak VmRSS of each named phase, sampled by a daemon thread."""

    def __init__(self) -> None:
        self.phase = "start"
        self.peaks: dict[str, float] = {}
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while True:
            phase, now = self.phase, rss_mib()
            self.peaks[phase] = max(self.peaks.get(phase, 0.0), now)
            time.sleep(0.02)

    def enter(self, phase: str) -> None:
        time.sleep(0.05)  # the sampler sees the end of the phase before
        self.phase = phase

    def report(self) -> dict[str, int]:
        time.sleep(0.05)
        return {phase: round(peak) for phase, peak in self.peaks.items()}


def staged(folder: Path, first_id: int, rows: int):
    from ragcli.store.local import VectorStage

    stage = VectorStage(folder)
    rng = np.random.default_rng(first_id)
    for start in range(0, rows, 50_000):
        count = min(50_000, rows - start)
        vectors = rng.standard_normal((count, DIMENSION), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        stage.append(np.arange(first_id + start, first_id + start + count), vectors)
    return stage


def read_live(path: Path):
    from ragcli.store import dense

    reader = getattr(dense, "read_for_update", dense.read_index)  # before: read whole
    return reader(path)


def step(name: str, folder: Path, chunks: int, flat_max: int) -> dict:
    from ragcli.store import dense

    dense.FLAT_MAX_CHUNKS = flat_max
    peaks = PhasePeaks()
    peaks.enter("stage")
    removed = np.zeros(0, dtype=np.int64)
    if name == "fresh":
        stage = staged(folder / "stage-fresh", 0, chunks)
    elif name == "add":
        stage = staged(folder / "stage-add", 10_000_000, STEP_ROWS)
    else:
        stage = staged(folder / "stage-none", 0, 0)
        removed = np.arange(0, STEP_ROWS, dtype=np.int64)
    started = time.perf_counter()
    peaks.enter("read")
    previous = {"fresh": None, "add": "fresh", "remove": "add"}[name]
    index = read_live(folder / f"{previous}.faiss") if previous else None
    peaks.enter("update")
    index, n_removed = dense.update_batches(index, DIMENSION, removed, stage.batches, len(stage))
    peaks.enter("write")
    dense.write_index(index, folder / f"{name}.faiss")
    seconds = time.perf_counter() - started
    stage.discard()
    return {
        "step": name,
        "kind": dense.kind_of(index),
        "ntotal": int(index.ntotal),
        "removed": n_removed,
        "seconds_read_update_write": round(seconds, 1),
        "peak_mib": peaks.report(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=600_000)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--flat-max", type=int, default=500_000)
    parser.add_argument("--step", choices=["fresh", "add", "remove"])
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    if args.step:
        print(json.dumps(step(args.step, args.dir, args.chunks, args.flat_max)))
        return
    for name in ("fresh", "add", "remove"):
        argv = [sys.executable, __file__, "--step", name, "--dir", str(args.dir)]
        argv += ["--chunks", str(args.chunks), "--flat-max", str(args.flat_max)]
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"{name} failed:\n{done.stderr[-3000:]}")
        print(done.stdout.strip().splitlines()[-1], flush=True)
    for name in ("fresh", "add", "remove"):
        (args.dir / f"{name}.faiss").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
