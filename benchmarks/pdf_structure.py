"""PDF structure on real files: titles, outline headings, and headings from font sizes.

    python benchmarks/pdf_structure.py PDF_OR_DIR [...]

Per file: pages, the metadata title and the title ragcli keeps, outline entries, and
the headings ``font_headings`` finds from font sizes alone (what a PDF without an
outline gets), with the share of outline titles among them (their recall, where an
outline exists to check against) and the seconds font sizes cost next to the whole load.
Real PDFs nobody here wrote: Debian's r-doc-pdf (R manuals, texinfo with outlines).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ragcli.load import load_file  # noqa: E402
from ragcli.load.pdf import _open, font_headings, outline_headings  # noqa: E402


def flat(text: str) -> str:
    """Lower case, without a leading section number ("1.2 Imports" -> "imports")."""
    return " ".join(re.sub(r"^(?:appendix\s+)?[\dA-Z]+(?:\.\d+)*\.?\s+", "", text).lower().split())


def measure(path: Path) -> None:
    started = time.perf_counter()
    [doc] = load_file(path, path.parent)
    load_seconds = time.perf_counter() - started
    document, _ = _open(path.read_bytes())
    try:
        meta = document.get_metadata_dict().get("Title") or ""
        outline = {flat(p[-1]) for paths in outline_headings(document).values() for p in paths}
        started = time.perf_counter()
        by_size = font_headings(document)
        font_seconds = time.perf_counter() - started
    finally:
        document.close()
    found = {flat(p[-1]) for paths in by_size.values() for p in paths}
    recall = f"{len(outline & found)}/{len(outline)}" if outline else "-"
    sample = "; ".join(sorted(found)[:3])[:90]
    print(
        f"{path.name:28} pages {doc.metadata['pages']:5}  meta {meta[:28]!r:30} title "
        f"{doc.title[:40]!r:42} outline {len(outline):4}  by size {len(found):4} "
        f"(outline recall {recall})  font sizes {font_seconds:5.2f} s of load "
        f"{load_seconds:5.2f} s  e.g. {sample}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path)
    args = parser.parse_args()
    for path in args.paths:
        for file in sorted(path.rglob("*.pdf")) if path.is_dir() else [path]:
            measure(file)


if __name__ == "__main__":
    main()
