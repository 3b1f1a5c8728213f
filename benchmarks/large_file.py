"""One large file through load + chunk, and through a whole ingest: wall time, peak memory.

    python benchmarks/large_file.py [--sizes 23,100] [--formats txt,md,py,jsonl,html]
                                    [--steps chunk,ingest] [--keep DIR]

The files are made from real text: SciFact abstracts (/work/shared/data/scifact, title
and abstract; env RAG_BENCH_CORPUS for another corpus.jsonl) concatenated as paragraphs,
over and over in a shuffled order until the size (MB, 10^6 bytes) is reached. Formats:
``txt`` (paragraphs), ``md`` (each abstract under a ``##`` heading of its title, a ``#``
part heading every 100), ``py`` (each abstract as the docstring of a function, wrapped
at 80 columns), ``jsonl`` (one BEIR record per abstract) and ``html`` (``<h2>`` title
and ``<p>`` abstract, an ``<h1>`` every 100). Each (format, size, step) runs in a fresh
process:

* ``chunk``: ``ragcli.load.load_file`` then ``ragcli.chunk.Chunker`` built as the ingest
  pipeline builds it (the model's tokenizer, the default chunk size and overlap), the
  chunks counted and hashed (a digest over every chunk's offsets, location and text, so
  two versions of the code can be compared chunk for chunk);
* ``ingest``: ``ragcli.ingest.ingest`` of that one file into a new index, with the
  benchmarks/scale.py ``HashEncoder`` in place of the model (encoding costs nothing, so
  the figure is load, chunk and write).

Printed per run: wall and CPU seconds (all threads), peak RSS (VmHWM) of the process
and its RSS before the file was read (imports and tokenizer), chunks, digest, and the
load average around it.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import os
import random
import resource
import sys
import tempfile
import textwrap
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale import peak_mib, rss_mib, worker_json  # noqa: E402

CORPUS = Path(os.environ.get("RAG_BENCH_CORPUS", "/work/shared/data/scifact/beir/corpus.jsonl"))
FORMATS = ("txt", "md", "py", "jsonl", "html")


def cpu_s() -> float:
    """CPU seconds of this process, every thread (the tokenizer's too)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def abstracts() -> list[tuple[str, str]]:
    out = []
    with CORPUS.open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if record.get("text", "").strip():
                out.append((" ".join(record.get("title", "").split()), record["text"].strip()))
    return out


def render(fmt: str, number: int, title: str, body: str) -> str:
    if fmt == "txt":
        return f"{title}\n\n{body}\n\n"
    if fmt == "md":
        part = f"# Part {number // 100 + 1}\n\n" if number % 100 == 0 else ""
        return f"{part}## {title}\n\n{body}\n\n"
    if fmt == "py":
        lines = textwrap.wrap(body, 80)
        doc = "\n    ".join([title, "", *lines])
        return f'def abstract_{number}():\n    """{doc}\n    """\n    return {number}\n\n\n'
    if fmt == "html":
        part = f"<h1>Part {number // 100 + 1}</h1>\n" if number % 100 == 0 else ""
        return f"{part}<h2>{html.escape(title)}</h2>\n<p>{html.escape(body)}</p>\n"
    record = {"_id": f"a{number}", "title": title, "text": body}
    return json.dumps(record, ensure_ascii=False) + "\n"


def make_file(folder: Path, fmt: str, megabytes: int) -> Path:
    """The file, written once (kept between runs)."""
    path = folder / f"large-{megabytes}mb.{fmt}"
    if path.exists():
        return path
    pool = abstracts()
    target = megabytes * 1_000_000
    rng = random.Random(megabytes)
    written, number = 0, 0
    tmp = path.with_suffix(".part")
    with tmp.open("w", encoding="utf-8") as out:
        while written < target:
            rng.shuffle(pool)
            for title, body in pool:
                piece = render(fmt, number, title, body)
                out.write(piece)
                written += len(piece.encode("utf-8"))
                number += 1
                if written >= target:
                    break
    tmp.rename(path)
    return path


def digest_chunks(chunks, docs) -> str:
    texts = {doc.doc_id: doc.text for doc in docs}
    sha = hashlib.sha256()
    for chunk in chunks:
        assert texts[chunk.doc_id][chunk.start : chunk.end] == chunk.text
        record = (chunk.doc_id, chunk.ordinal, chunk.start, chunk.end, chunk.n_tokens)
        sha.update(repr((record, chunk.location)).encode())
        sha.update(chunk.text.encode())
    return sha.hexdigest()[:16]


def chunk_step(path: Path) -> dict:
    from ragcli.chunk import chunker_for
    from ragcli.config import Settings
    from ragcli.errors import LoadError
    from ragcli.load import load_file

    chunker = chunker_for(Settings())
    before = rss_mib()
    started, cpu = time.perf_counter(), cpu_s()
    try:
        docs = load_file(path, path.parent)
    except LoadError as err:  # over the format's size limit
        return {"skipped": str(err), "peak_mib": round(peak_mib())}
    loaded = time.perf_counter()
    chunks = chunker.chunk_many(docs)
    done = time.perf_counter()
    return {
        "rss_before_mib": round(before),
        "load_s": round(loaded - started, 2),
        "chunk_s": round(done - loaded, 2),
        "wall_s": round(done - started, 2),
        "cpu_s": round(cpu_s() - cpu, 2),
        "peak_mib": round(peak_mib()),
        "text_mib": round(sum(sys.getsizeof(doc.text) for doc in docs) / 2**20, 1),
        "documents": len(docs),
        "chunks": len(chunks),
        "digest": digest_chunks(chunks, docs),
    }


def ingest_step(path: Path) -> dict:
    from scale import HashEncoder

    from ragcli.index import Index
    from ragcli.ingest import ingest
    from ragcli.store.local import LocalWriter

    with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        index_dir = Path(scratch) / ".rag"
        index = Index(index_dir, base_dir=path.parent)
        before = rss_mib()
        started, cpu = time.perf_counter(), cpu_s()
        report = ingest(
            LocalWriter(index_dir),
            [path],
            index.settings,
            base_dir=path.parent,
            encoder=HashEncoder(),
        )
        wall, cpu = time.perf_counter() - started, cpu_s() - cpu
    return {
        "rss_before_mib": round(before),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "peak_mib": round(peak_mib()),
        "stages_s": {k: round(v, 2) for k, v in report.timings.items()},
        "chunks": report.chunks,
        "skipped": report.skipped,
    }


def run(step: str, path: Path) -> dict:
    argv = [sys.executable, __file__, "--worker", step, "--file", str(path)]
    return worker_json(argv, f"{step} {path.name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="23,100", help="file sizes in MB, comma-separated")
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--steps", default="chunk,ingest")
    parser.add_argument("--keep", type=Path, default=Path(tempfile.gettempdir()) / "large-file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        step = chunk_step if args.worker == "chunk" else ingest_step
        print(json.dumps(step(args.file)))
        return
    args.keep.mkdir(parents=True, exist_ok=True)
    for megabytes in (int(size) for size in args.sizes.split(",")):
        for fmt in args.formats.split(","):
            path = make_file(args.keep, fmt, megabytes)
            for step in args.steps.split(","):
                result = run(step, path)
                print(f"{path.name} {step}: {json.dumps(result)}", flush=True)


if __name__ == "__main__":
    main()
