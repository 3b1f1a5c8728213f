"""reStructuredText on real sources: the old plain-text loading against docutils.

    python benchmarks/rst_text.py DIR_OR_FILE [...]

Over every ``*.rst`` / ``*.rst.txt`` file, per loader: files/s, load failures, files
with at least one heading, and chunks (ragcli's chunker, default settings) that still
show reST markup: a section underline (``=====``), a role (``:meth:`x```), a directive
(``.. note::``). Bytes docutils wrote to stderr are counted too (they must be 0). Real
sources nobody here wrote: Debian's python3-doc ships CPython's under
/usr/share/doc/python3.11/html/_sources.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ragcli.chunk import Chunker  # noqa: E402
from ragcli.config import Settings  # noqa: E402
from ragcli.errors import LoadError  # noqa: E402
from ragcli.load import rst, text  # noqa: E402
from ragcli.weights import load_tokenizer  # noqa: E402

MARKUP = {
    "underline": re.compile(r"^([=\-~^\"'`#*+])\1{3,}\s*$", re.M),
    "role": re.compile(r":[\w:+-]+:`"),
    "directive": re.compile(r"^\s*\.\. [\w:-]+::", re.M),
}
LOADERS = {"plain text (before)": text.load_text, "docutils (rst.py)": rst.load_rst}


def measure(name: str, files: list[Path], chunker: Chunker) -> None:
    load = LOADERS[name]
    stderr = io.StringIO()
    docs, failures = [], 0
    started = time.perf_counter()
    with contextlib.redirect_stderr(stderr):
        for path in files:
            try:
                docs += load(path, path.parent)
            except LoadError:
                failures += 1
    seconds = time.perf_counter() - started
    chunks = 0
    marked = dict.fromkeys(MARKUP, 0)
    for doc in docs:
        for chunk in chunker.chunk(doc):
            chunks += 1
            for kind, pattern in MARKUP.items():
                marked[kind] += bool(pattern.search(chunk.text))
    with_headings = sum(1 for doc in docs if any(s.location.heading for s in doc.sections))
    shares = "  ".join(f"{k} {n} ({n / max(chunks, 1):5.1%})" for k, n in marked.items())
    print(
        f"{name:20} {len(files) / seconds:6.1f} files/s  failed {failures}  "
        f"files with headings {with_headings}/{len(docs)}  chunks {chunks}  "
        f"with markup: {shares}  stderr bytes {len(stderr.getvalue())}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path)
    args = parser.parse_args()
    files: list[Path] = []
    for path in args.paths:
        found = sorted(path.rglob("*")) if path.is_dir() else [path]
        files += [f for f in found if f.is_file() and rst.is_rst_name(f.name)]
    settings = Settings()
    chunker = Chunker(
        load_tokenizer(settings.embed_model), settings.chunk_size, settings.chunk_overlap
    )
    print(f"{len(files)} files")
    for name in LOADERS:
        measure(name, files, chunker)


if __name__ == "__main__":
    main()
