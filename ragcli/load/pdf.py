"""PDF (.pdf) with pypdfium2: sections by page and outline heading, ``Location(page=n)``.

Pages are joined with a blank line in ``Document.text``; pages without text get no
section but keep the numbering of the others right. The text is cleaned
(``ragcli.load.clean``): NFKC (ligatures), running headers, footers and page numbers
removed, words broken at line ends joined while real hyphens stay ("state-of-the-art").
Where the PDF has an outline (bookmarks), each page is split where its headings start
and every section carries its heading path; without one, lines set in a larger font than
the body text are the headings (``font_headings``). Pages without a text layer (scans) are read
by OCR when it is on (``ragcli.load.ocr``). A junk metadata title ("paper.dvi",
"Microsoft Word - x.doc") gives way to the first page's largest text.

pypdfium2 (PDFium, BSD/Apache) was chosen by measurement (benchmarks/pdf_text.py): about
9x the pages per second of pypdf and pdfminer.six on the same files, the same reading
order on two-column papers, and it marks the hyphens it found at line ends, so
de-hyphenation can tell them from hyphens in the text. It is imported lazily. PDFium is
not thread-safe: one file is read at a time per process (ingest loads files serially).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

from ragcli.errors import LoadError
from ragcli.load.builder import MAX_DOCUMENT_CHARS, HeadingPath, file_document, over_chars
from ragcli.load.clean import (
    dehyphenate,
    is_junk_title,
    normalise_unicode,
    remove_page_furniture,
)
from ragcli.load.reading import read_bytes
from ragcli.types import Document, Location, Section

EXTENSIONS = (".pdf",)
# Pages read from one PDF: a 609-byte file can claim a million pages (each one costs
# PDFium a lookup, and each a place in the metadata).
MAX_PAGES = 10_000
# Each PDF is parsed in a worker process under these limits (ragcli.load._isolate): PDFium
# inflates a page's content stream whole (a 1.2 MB file held 400 MB of page stream). The
# wait is wall-clock time, for a parse that stops using CPU without ending.
MAX_MEMORY_BYTES = 512 * 1024 * 1024
MAX_CPU_SECONDS = 120
MAX_WAIT_SECONDS = 300

_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_MANY_BLANK_LINES = re.compile(r"\n{3,}")
# PDFium's marks for a hyphen it saw at a line end (it drops the line break).
_PDFIUM_LINE_HYPHEN = re.compile("[\ufffe\x02]")


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def _clean(text: str) -> str:
    text = text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")
    text = _PDFIUM_LINE_HYPHEN.sub("-\n", text)
    text = _TRAILING_SPACE.sub("\n", text)
    return _MANY_BLANK_LINES.sub("\n\n", text).strip()


def _metadata_title(document) -> str | None:
    try:
        title = document.get_metadata_dict().get("Title")
    except Exception:
        return None
    if not isinstance(title, str):
        return None
    title = " ".join(title.split())
    return None if is_junk_title(title) else normalise_unicode(title)


def load_pdf(path: Path, root: Path, ocr: bool = False) -> list[Document]:
    """The PDF's document, parsed in a worker process under ``MAX_MEMORY_BYTES``,
    ``MAX_CPU_SECONDS`` and ``MAX_WAIT_SECONDS`` (in this process with OCR on: its
    engines are too large for the same memory bound)."""
    if ocr:
        return _load_pdf(path, root, ocr)
    from ragcli.load._isolate import run_isolated

    absolute = Path(os.path.abspath(path)), Path(os.path.abspath(root))  # the worker: other cwd
    return run_isolated(_load_pdf, *absolute, False, memory=MAX_MEMORY_BYTES,
                        cpu_seconds=MAX_CPU_SECONDS, timeout=MAX_WAIT_SECONDS, what="PDF",
                        preload=("pypdfium2",))  # fmt: skip


# A one-page PDF with a line of Helvetica text (warm_up).
_WARM_UP_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]/Contents 4 0 R"
    b"/Resources<</Font<</F1 5 0 R>>>>>>endobj\n"
    b"4 0 obj<</Length 44>>stream\nBT /F1 12 Tf 72 700 Td (Warm up text.) Tj ET\nendstream endobj\n"
    b"5 0 obj<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def warm_up() -> None:
    """Parse a small PDF once, so PDFium's font setup and this module's caches are
    done in the parse worker before its limits are set (ragcli.load._isolate)."""
    import contextlib
    import tempfile

    with tempfile.TemporaryDirectory() as folder, contextlib.suppress(Exception):
        path = Path(folder) / "warm-up.pdf"
        path.write_bytes(_WARM_UP_PDF)
        _load_pdf(path, Path(folder), False)


def _load_pdf(path: Path, root: Path, ocr: bool) -> list[Document]:
    import pypdfium2  # noqa: F401  (imported by the worker before its limits)

    data = read_bytes(path, limit=None)
    if b"%PDF-" not in data[:1024]:
        raise LoadError("corrupt PDF: no PDF header")
    document, encrypted = _open(data)
    try:
        return _load(document, encrypted, path, root, ocr)
    finally:
        document.close()


def _load(document, encrypted: bool, path: Path, root: Path, ocr: bool) -> list[Document]:
    if len(document) == 0:
        raise LoadError("corrupt PDF: no pages")
    if len(document) > MAX_PAGES:
        raise LoadError(
            f"over {MAX_PAGES:,} pages (the limit per PDF; it claims {len(document):,})"
        )
    raw = _page_texts(document)
    failed = [number for number, text in enumerate(raw, start=1) if text is None]
    scanned = [index for index, text in enumerate(raw) if text is not None and not text.strip()]
    if ocr and scanned:
        from ragcli.load.ocr import ocr_pdf_pages

        for index, text in ocr_pdf_pages(document, scanned).items():
            raw[index] = text
    texts = clean_pages([text or "" for text in raw])
    if not any(texts):
        if len(failed) == len(raw):
            raise LoadError("corrupt PDF: text extraction failed on every page")
        if ocr:
            raise LoadError("no text found by OCR (scanned PDF)")
        from ragcli.load.ocr import HINT_OFF

        raise LoadError(f"no extractable text (scanned PDF?; {HINT_OFF})")
    headings = outline_headings(document) or font_headings(document)
    text, sections = _sections(texts, headings)

    pages_with_text = sum(1 for page_text in texts if page_text)
    metadata: dict = {"pages": len(raw), "pages_with_text": pages_with_text}
    if failed:
        metadata["pages_failed"] = failed
    if ocr and scanned:
        metadata["pages_ocr"] = [index + 1 for index in scanned]
    if encrypted:
        metadata["encrypted"] = True
    title = _metadata_title(document) or first_page_title(document) or path.stem
    return [
        file_document(
            path,
            root,
            kind="pdf",
            title=title,
            text=text,
            sections=sections,
            empty="no extractable text",
            metadata=metadata,
        )
    ]


def _page_texts(document) -> list[str | None]:
    """Each page's text (None where extraction failed), ``LoadError`` once the text
    passes ``MAX_DOCUMENT_CHARS``."""
    texts, total = [], 0
    for index in range(len(document)):
        text = _page_text(document, index)
        total += len(text or "")
        if total > MAX_DOCUMENT_CHARS:
            raise over_chars()
        texts.append(text)
    return texts


def clean_pages(texts: list[str]) -> list[str]:
    """Each page's text normalised, without page furniture, words rejoined."""
    normalised = [_clean(normalise_unicode(text)) for text in texts]
    return [dehyphenate(text) for text in remove_page_furniture(normalised)]


def _sections(
    texts: list[str], headings: dict[int, list[tuple[str, ...]]]
) -> tuple[str, list[Section]]:
    """The document text (pages joined by a blank line) and its sections: one per page,
    split where an outline heading starts, each with the heading path in force."""
    parts: list[str] = []
    sections: list[Section] = []
    offset = 0
    path: tuple[str, ...] = ()
    for number, page_text in enumerate(texts, start=1):
        cuts = _heading_offsets(page_text, headings.get(number - 1, []))
        if not page_text:
            path = cuts[-1][1] if cuts else path
            continue
        if parts:
            offset += 2  # the "\n\n" joining pages
        bounds = [(0, path), *cuts] if not cuts or cuts[0][0] > 0 else cuts
        for i, (start, heading) in enumerate(bounds):
            end = bounds[i + 1][0] if i + 1 < len(bounds) else len(page_text)
            if page_text[start:end].strip():
                location = Location(page=number, heading=heading)
                sections.append(Section(offset + start, offset + end, location))
            path = heading
        parts.append(page_text)
        offset += len(page_text)
    return "\n\n".join(parts), sections


def _heading_offsets(
    page_text: str, paths: list[tuple[str, ...]]
) -> list[tuple[int, tuple[str, ...]]]:
    """Where each heading starting on this page begins in its text (where the previous
    one began when the heading text is not found), in order."""
    cuts: list[tuple[int, tuple[str, ...]]] = []
    position = 0
    for path in paths:
        words = path[-1].split()
        pattern = r"\s*".join(re.escape(word) for word in words)
        found = re.search(pattern, page_text[position:], re.I) if words else None
        if found:
            position += found.start()
        cuts.append((position, path))
    return cuts


def outline_headings(document) -> dict[int, list[tuple[str, ...]]]:
    """0-based page index -> heading paths of the outline entries pointing at it."""
    by_page: dict[int, list[tuple[str, ...]]] = {}
    stack: list[str] = []
    try:
        for bookmark in document.get_toc(max_depth=6):
            title = " ".join(normalise_unicode(bookmark.get_title() or "").split())
            destination = bookmark.get_dest()
            page = destination.get_index() if destination is not None else None
            del stack[bookmark.level :]
            if not title:
                continue
            stack.append(title)
            if page is not None and page >= 0:
                by_page.setdefault(page, []).append(tuple(stack))
    except Exception:  # a broken outline costs the headings, never the text
        return {}
    return by_page


# A line is a heading when its text is at least this much larger than the body text.
_HEADING_SCALE = 1.15
_MAX_HEADING_LEVELS = 3


def font_headings(document, max_pages: int = 500) -> dict[int, list[tuple[str, ...]]]:
    """Heading paths from font sizes, for PDFs without an outline: whole lines set larger
    than the body text, one level per size (largest first, at most three). The first
    page's largest line is the title, not a heading. A document where such lines are
    common (slides, posters) gets none."""
    try:
        pages = [
            _sized_lines(document[i].get_textpage()) for i in range(min(len(document), max_pages))
        ]
    except Exception:
        return {}
    sizes: Counter[float] = Counter()
    for lines in pages:
        for size, text in lines:
            sizes[size] += len(text)
    if not sizes:
        return {}
    body = sizes.most_common(1)[0][0]
    found = [
        (page, size, text)
        for page, lines in enumerate(pages)
        for size, text in _merge_lines(lines)
        if size >= body * _HEADING_SCALE and _heading_like(text)
    ]
    if pages and pages[0]:
        title_size = max(size for size, _ in pages[0])
        found = [h for h in found if not (h[0] == 0 and h[1] == title_size)]
    if not found or len(found) > 8 * len(pages):
        return {}
    levels = sorted({size for _, size, _ in found}, reverse=True)
    by_page: dict[int, list[tuple[str, ...]]] = {}
    path = HeadingPath()
    for page, size, text in found:
        level = min(levels.index(size), _MAX_HEADING_LEVELS - 1)
        by_page.setdefault(page, []).append(path.enter(level, text))
    return by_page


_DOT_LEADER = re.compile(r"(?:\.\s?){4,}")  # a table of contents line


def _heading_like(text: str) -> bool:
    letters = sum(char.isalpha() for char in text)
    return (
        3 <= len(text) <= 120
        and letters >= 3
        and not text.endswith((",", ";"))
        and not _DOT_LEADER.search(text)
    )


def _merge_lines(lines: list[tuple[float, str]]) -> list[tuple[float, str]]:
    """Consecutive lines of one size joined (a heading set on two lines)."""
    merged: list[tuple[float, str]] = []
    for size, text in lines:
        if merged and merged[-1][0] == size:
            merged[-1] = (size, f"{merged[-1][1]} {text}")
        else:
            merged.append((size, text))
    return merged


def _sized_lines(textpage) -> list[tuple[float, str]]:
    """(font size, text) per line whose characters are all of one size (a few sampled
    per line); a line mixing sizes gets size 0."""
    import pypdfium2.raw as pdfium_c

    text = textpage.get_text_range()  # one character of the page per text position
    lines: list[tuple[float, str]] = []
    offset = 0
    for line in text.replace("\r", " ").split("\n"):
        filled = [offset + i for i, char in enumerate(line) if not char.isspace()]
        offset += len(line) + 1
        if not filled:
            continue
        picks = filled[:: max(1, len(filled) // 5)][:6] + [filled[-1]]
        sizes = {round(pdfium_c.FPDFText_GetFontSize(textpage.raw, i) * 2) / 2 for i in picks}
        clean = normalise_unicode(" ".join(line.split()))
        lines.append((sizes.pop() if len(sizes) == 1 else 0.0, clean))
    return lines


def first_page_title(document) -> str | None:
    """The first page's largest text when it stands out from the body text (a title)."""
    try:
        runs = _font_runs(document[0].get_textpage())
    except Exception:
        return None
    if not runs:
        return None
    body = Counter(size for size, text in runs for _ in text.strip()).most_common(1)[0][0]
    title = _largest_group(runs, body)
    if len(title) >= 4 and not is_junk_title(title):
        return title[:200]
    for size in sorted({size for size, _ in runs if size > body * 1.15}, reverse=True):
        title = " ".join("".join(text for s, text in runs if s == size).split())
        title = normalise_unicode(title)
        if len(title) >= 4 and not is_junk_title(title):
            return title[:200]
    return None


def _largest_group(runs: list[tuple[float, str]], body: float) -> str:
    """The largest run with its neighbours in nearly its size: a title set in two sizes
    ("R" in 20 pt then "FAQ" in 17 pt, as texinfo does)."""
    top = max(range(len(runs)), key=lambda i: runs[i][0])
    if runs[top][0] <= body * 1.15:
        return ""

    def big(i: int) -> bool:
        return runs[i][0] > body * 1.15 and runs[i][0] >= 0.75 * runs[top][0]

    low = high = top
    while low > 0 and big(low - 1):
        low -= 1
    while high + 1 < len(runs) and big(high + 1):
        high += 1
    return normalise_unicode(" ".join("".join(text for _, text in runs[low : high + 1]).split()))


def _font_runs(textpage) -> list[tuple[float, str]]:
    """(font size rounded to 0.5 pt, text) for each run of characters of one size."""
    import pypdfium2.raw as pdfium_c

    runs: list[tuple[float, list[str]]] = []
    for index in range(min(textpage.count_chars(), 20000)):
        code = pdfium_c.FPDFText_GetUnicode(textpage.raw, index)
        char = chr(code) if 0 < code < 0x110000 else " "
        size = round(pdfium_c.FPDFText_GetFontSize(textpage.raw, index) * 2) / 2
        if char in "\r\n\ufffe\x02":
            char = " "
        if runs and (runs[-1][0] == size or not char.strip()):
            runs[-1][1].append(char)
        else:
            runs.append((size, [char]))
    return [(size, "".join(chars)) for size, chars in runs]


def _open(data: bytes):
    """The PDFium document, opened with the empty password if it is encrypted, and
    whether the file was encrypted."""
    import pypdfium2
    import pypdfium2.raw as pdfium_c

    try:
        document = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as err:
        if "password" in str(err).lower():
            raise LoadError("encrypted PDF") from None
        raise LoadError(f"corrupt PDF: {_pdfium_reason(err)}") from None
    except Exception as err:
        raise LoadError(f"corrupt PDF: {_one_line(err)}") from None
    encrypted = pdfium_c.FPDF_GetSecurityHandlerRevision(document.raw) != -1
    return document, encrypted


def _pdfium_reason(err: Exception) -> str:
    """ "Failed to load document (PDFium: Data format error)." -> "data format error"."""
    found = re.search(r"PDFium: ([^)]*)\)", str(err))
    if not found:
        return _one_line(err)
    reason = found.group(1).lower()
    # PDFium reports "Success" when its parser gave up without setting an error code
    return "PDFium cannot parse it (no error code)" if reason == "success" else reason


def _page_text(document, index: int) -> str | None:
    """The page's text ("" for none); None if extraction failed."""
    try:
        page = document[index]
        return page.get_textpage().get_text_range()
    except Exception:
        return None
