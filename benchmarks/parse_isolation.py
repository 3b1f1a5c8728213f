"""The cost of parsing each PDF under limits in another process (ragcli.load._isolate).

    python benchmarks/parse_isolation.py FOLDER [--rounds N] [--office]

Loads every PDF under FOLDER with ``load_pdf`` (in the parse process, under
``MAX_MEMORY_BYTES``, ``MAX_CPU_SECONDS`` and ``MAX_WAIT_SECONDS``) and with the same
parser in this process (``_load_pdf``), alternating the two per round so load on the
machine falls on both. This process first loads the embedding model, as `rag ingest`
has by then. Prints, per way, wall milliseconds per file and CPU milliseconds per file
(this process and its child processes: the parse process's own CPU and that of any
child it forked), medians of the rounds, and the overhead of isolation in percent of
each. CPU is the steadier figure on a shared machine.

``--office`` also times the DOCX, PPTX, XLSX, ODT and EPUB files under FOLDER: their
reader in this process against ``load_file``, which parses them in their worker.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

OFFICE = (".docx", ".pptx", ".xlsx", ".odt", ".epub")


def _children() -> list[int]:
    found = []
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(pid) for pid in (task / "children").read_text().split()]
    return found


def _stat_cpu(pid: int) -> float:
    """utime + stime + cutime + cstime of a live process, in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def cpu_now() -> float:
    """CPU seconds of this process, its live children and those it waited for."""
    ended = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (
        time.process_time()
        + ended.ru_utime
        + ended.ru_stime
        + sum(_stat_cpu(pid) for pid in _children())
    )


def groups(folder: Path, office: bool) -> dict[str, tuple[list[Path], dict[str, Callable]]]:
    """Format -> (its files, {way: load(path, root)})."""
    from ragcli.load import LOADERS, load_file
    from ragcli.load.pdf import _load_pdf, load_pdf

    found = {".pdf": (sorted(folder.rglob("*.pdf")),
                      {"in process": lambda p, r: _load_pdf(p, r, False),
                       "isolated": load_pdf})}  # fmt: skip
    for ext in OFFICE if office else ():
        load = LOADERS[ext].load
        found[ext] = (sorted(folder.rglob(f"*{ext}")),
                      {"in process": load, "isolated": load_file})  # fmt: skip
    return {ext: group for ext, group in found.items() if group[0]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--office", action="store_true")
    args = parser.parse_args()
    from ragcli.config import Settings
    from ragcli.embed import ingest_encoder
    from ragcli.errors import warn

    encoder = ingest_encoder(Settings(), warn=warn)
    encoder.encode(["warm up"])  # the model in memory, as during an ingest
    print(f"load average {Path('/proc/loadavg').read_text().strip()}")
    for ext, (files, ways) in groups(args.folder, args.office).items():
        for load in ways.values():
            load(files[0], args.folder)  # the worker started, the libraries imported
        wall: dict[str, list[float]] = {name: [] for name in ways}
        cpu: dict[str, list[float]] = {name: [] for name in ways}
        for _ in range(args.rounds):
            for name, load in ways.items():
                started, cpu0 = time.perf_counter(), cpu_now()
                for path in files:
                    load(path, args.folder)
                wall[name].append((time.perf_counter() - started) / len(files))
                cpu[name].append((cpu_now() - cpu0) / len(files))
        report(ext, len(files), wall, cpu)
    print(f"load average {Path('/proc/loadavg').read_text().strip()}")


def report(ext: str, count: int, wall: dict[str, list[float]], cpu: dict[str, list[float]]):
    for name in wall:
        print(f"{ext:6s} {name:11s} wall {statistics.median(wall[name]) * 1000:7.2f} ms/file "
              f"cpu {statistics.median(cpu[name]) * 1000:7.2f} ms/file (wall rounds: "
              f"{', '.join(f'{v * 1000:.1f}' for v in wall[name])})")  # fmt: skip
    overhead = {figure: statistics.median(values["isolated"])
                / statistics.median(values["in process"]) - 1
                for figure, values in (("wall", wall), ("cpu", cpu))}  # fmt: skip
    print(f"{ext:6s} {count} files; overhead of isolation: wall {overhead['wall'] * 100:+.1f}%, "
          f"cpu {overhead['cpu'] * 100:+.1f}%")  # fmt: skip


if __name__ == "__main__":
    main()
