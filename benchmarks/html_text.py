"""HTML text extraction on real pages: what the old trafilatura-Markdown path and the
lxml walker (ragcli.load.html) keep and damage.

    python benchmarks/html_text.py DIR_OR_FILE [...]

Per extractor, over every ``*.html*`` file: files/s, chunks (ragcli's chunker, default
settings) with a Markdown escape (``lua\\_rawgeti``, ``\\*L``), the page's own h1-h6
headings (inside its main content) found as a section heading, sections under a heading
that is not one of the page's own (a ``# comment`` of a ``pre`` read as a heading),
inline ``code`` texts (outside ``pre``) found in the stored text, and table cells found.
Real pages nobody here wrote are the point: Debian's apache2-doc, lua5.2-doc and
python3-doc install whole manuals under /usr/share/doc.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ragcli.chunk import Chunker  # noqa: E402
from ragcli.config import Settings  # noqa: E402
from ragcli.load import html  # noqa: E402
from ragcli.load.builder import assemble  # noqa: E402
from ragcli.load.markdown import parse_markdown  # noqa: E402
from ragcli.load.reading import decode_text  # noqa: E402
from ragcli.types import Document, Section  # noqa: E402
from ragcli.weights import load_tokenizer  # noqa: E402

_ESCAPE = re.compile(r"\\[\\`*_{}\[\]()#+\-.!|<>~]")


def old_trafilatura(markup: str) -> tuple[str, list[Section]]:
    """The loader before this change: trafilatura's Markdown split like a .md file."""
    import trafilatura

    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    tree = html._parse(markup)
    text = trafilatura.extract(
        tree,
        output_format="markdown",
        include_comments=False,
        include_tables=True,
        include_images=False,
        include_links=False,
    )
    text = (text or "").strip()
    sections, _ = parse_markdown(text)
    return text, sections


def walker(markup: str) -> tuple[str, list[Section]]:
    return assemble(html.html_blocks(markup))


EXTRACTORS = {"trafilatura-markdown": old_trafilatura, "lxml-walker": walker}
try:
    import trafilatura  # noqa: F401  (the "before" column: pip install trafilatura)
except ImportError:
    del EXTRACTORS["trafilatura-markdown"]


def flat(text: str) -> str:
    return " ".join(text.split())


def truth(markup: str) -> tuple[set[str], list[str], list[str]]:
    """The page's own headings, inline code texts and table cells in its main content."""
    tree = html._parse(markup)
    if tree is None:
        return set(), [], []
    main = html._main(tree)
    headings = {flat(e.text_content()) for e in main.iter("h1", "h2", "h3", "h4", "h5", "h6")} - {
        ""
    }
    codes = [
        flat(e.text_content())
        for e in main.iter("code")
        if not any(a.tag == "pre" for a in e.iterancestors())
    ]
    cells = [flat(e.text_content()) for e in main.iter("td")]
    return headings, [c for c in codes if c], [c for c in cells if c]


def measure(name: str, files: list[Path], chunker: Chunker) -> None:
    extract = EXTRACTORS[name]
    markups = [decode_text(path.read_bytes()) for path in files]
    started = time.perf_counter()
    results = [extract(markup) for markup in markups]
    seconds = time.perf_counter() - started
    chunks = escaped = own = found = false_sections = sections_total = 0
    codes = codes_kept = cells = cells_kept = 0
    for path, markup, (text, sections) in zip(files, markups, results, strict=True):
        headings, code_texts, cell_texts = truth(markup)
        doc = Document(str(path), str(path), path.name, "html", text, sections)
        for chunk in chunker.chunk(doc) if sections else []:
            chunks += 1
            escaped += bool(_ESCAPE.search(chunk.text))
        recovered = {s.location.heading[-1] for s in sections if s.location.heading}
        own += len(headings)
        found += len(headings & recovered)
        sections_total += len(sections)
        false_sections += sum(
            1 for s in sections if s.location.heading and s.location.heading[-1] not in headings
        )
        stored = flat(text)
        codes += len(code_texts)
        codes_kept += sum(1 for c in code_texts if c in stored)
        cells += len(cell_texts)
        cells_kept += sum(1 for c in cell_texts if c in stored)
    print(
        f"{name:22} {len(files) / seconds:7.1f} files/s  chunks {chunks:6}  "
        f"with escapes {escaped:5} ({escaped / max(chunks, 1):5.1%})  "
        f"headings {found}/{own} ({found / max(own, 1):5.1%})  "
        f"sections under a false heading {false_sections}/{sections_total}  "
        f"inline code kept {codes_kept}/{codes} ({codes_kept / max(codes, 1):5.1%})  "
        f"table cells kept {cells_kept}/{cells} ({cells_kept / max(cells, 1):5.1%})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path)
    args = parser.parse_args()
    files: list[Path] = []
    for path in args.paths:
        found = sorted(path.rglob("*.htm*")) if path.is_dir() else [path]
        files += [f for f in found if f.is_file() and html.is_html_name(f.name)]
    settings = Settings()
    chunker = Chunker(
        load_tokenizer(settings.embed_model), settings.chunk_size, settings.chunk_overlap
    )
    print(f"{len(files)} files")
    for name in EXTRACTORS:
        measure(name, files, chunker)


if __name__ == "__main__":
    main()
