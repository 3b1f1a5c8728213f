"""PDF text extraction: speed and damage per extractor, before and after cleaning.

    python benchmarks/pdf_text.py PDF_OR_DIR [...] [--extractors pypdf,pypdfium2,pdfminer]

For each extractor that is installed: pages per second (raw extraction only), then over
the chunks of every file (ragcli's chunker, default settings) the share of chunks with a
ligature (U+FB00-FB06), with a word broken at a line end ("sec- onds": a hyphen before
a line break followed by a lower-case letter), and with a repeated page header/footer
(a line found at the top or bottom of at least half the pages of its file). "raw" is the
extractor's text; "clean" is after ragcli.load.clean (NFKC, furniture, de-hyphenation),
as ``rag ingest`` stores it. Real PDFs nobody here wrote are the point: Debian's
texlive-publishers-doc has two-column ACM/IEEE/Elsevier samples, r-doc-pdf manuals.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ragcli.chunk import Chunker  # noqa: E402
from ragcli.config import Settings  # noqa: E402
from ragcli.load.pdf import clean_pages  # noqa: E402
from ragcli.types import Document, Section  # noqa: E402
from ragcli.weights import load_tokenizer  # noqa: E402

_LIGATURE = re.compile("[\ufb00-\ufb06]")
_BROKEN = re.compile(r"\w-\n\s*[a-z]")


def pypdf_pages(path: Path) -> list[str]:
    import pypdf

    return [page.extract_text() or "" for page in pypdf.PdfReader(path).pages]


def pdfium_pages(path: Path) -> list[str]:
    import pypdfium2

    document = pypdfium2.PdfDocument(path)
    return [document[i].get_textpage().get_text_range() for i in range(len(document))]


def pdfminer_pages(path: Path) -> list[str]:
    from pdfminer.high_level import extract_text

    return extract_text(path).split("\f")


EXTRACTORS: dict[str, Callable[[Path], list[str]]] = {
    "pypdf": pypdf_pages,
    "pypdfium2": pdfium_pages,
    "pdfminer": pdfminer_pages,
}


def furniture_lines(pages: list[str]) -> set[str]:
    """Lines at a page edge (first/last 2 non-blank) on at least half the pages (>= 3)."""
    counts: Counter[str] = Counter()
    for page in pages:
        lines = [" ".join(line.split()) for line in page.split("\n") if line.strip()]
        counts.update(set(lines[:2] + lines[-2:]))
    threshold = max(3, (len(pages) + 1) // 2)
    return {line for line, n in counts.items() if n >= threshold and len(line) > 3}


def chunk_texts(chunker: Chunker, pages: list[str]) -> list[str]:
    text = "\n\n".join(pages)
    doc = Document("d", "d", "d", "pdf", text, [Section(0, len(text))])
    return [chunk.text for chunk in chunker.chunk(doc)]


def damage(chunks: list[str], furniture: set[str]) -> tuple[int, int, int]:
    ligature = sum(1 for chunk in chunks if _LIGATURE.search(chunk))
    broken = sum(1 for chunk in chunks if _BROKEN.search(chunk))
    repeated = sum(
        1
        for chunk in chunks
        if any(" ".join(line.split()) in furniture for line in chunk.split("\n"))
    )
    return ligature, broken, repeated


def measure(name: str, files: list[Path], chunker: Chunker) -> None:
    extract = EXTRACTORS[name]
    pages_total, seconds = 0, 0.0
    totals = {"raw": [0, 0, 0, 0], "clean": [0, 0, 0, 0]}
    for path in files:
        started = time.perf_counter()
        try:
            pages = extract(path)
        except Exception as err:
            print(f"  {name}: {path.name}: {type(err).__name__}: {err}")
            continue
        seconds += time.perf_counter() - started
        pages_total += len(pages)
        furniture = furniture_lines(pages)
        for label, texts in (("raw", pages), ("clean", clean_pages(pages))):
            chunks = chunk_texts(chunker, texts)
            counts = damage(chunks, furniture)
            row = totals[label]
            row[0] += len(chunks)
            for i, n in enumerate(counts, start=1):
                row[i] += n
    print(f"{name:10} {pages_total} pages, {pages_total / max(seconds, 1e-9):6.1f} pages/s")
    for label, (n, ligature, broken, repeated) in totals.items():
        share = [f"{100 * value / max(n, 1):5.1f}%" for value in (ligature, broken, repeated)]
        print(
            f"  {label:5} {n:5} chunks  ligatures {share[0]}  broken hyphenation {share[1]}"
            f"  repeated header/footer {share[2]}"
        )


def measure_loader(files: list[Path]) -> None:
    """ragcli's own loader end to end (extraction, cleaning, outline, title)."""
    from ragcli.load.pdf import load_pdf

    started = time.perf_counter()
    pages = sum(load_pdf(path, path.parent)[0].metadata["pages"] for path in files)
    seconds = time.perf_counter() - started
    print(f"rag load   {pages} pages, {pages / seconds:6.1f} pages/s (load_pdf, all cleaning)")


def pdf_files(arguments: list[str]) -> list[Path]:
    files: list[Path] = []
    for argument in arguments:
        path = Path(argument)
        files.extend(sorted(path.rglob("*.pdf")) if path.is_dir() else [path])
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--extractors", default="pypdf,pypdfium2,pdfminer")
    args = parser.parse_args()
    files = pdf_files(args.paths)
    print(f"{len(files)} PDF files; load average {os.getloadavg()[0]:.2f}")
    settings = Settings()
    chunker = Chunker(
        load_tokenizer(settings.embed_model), settings.chunk_size, settings.chunk_overlap
    )
    for name in args.extractors.split(","):
        try:
            measure(name, files, chunker)
        except ImportError:
            print(f"{name:10} not installed")
    measure_loader(files)


if __name__ == "__main__":
    main()
