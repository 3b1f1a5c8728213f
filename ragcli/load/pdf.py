"""PDF (.pdf) with pypdf: sections by page and outline heading, ``Location(page=n)``.

Pages are joined with a blank line in ``Document.text``; pages without text get no
section but keep the numbering of the others right. The text is cleaned
(``ragcli.load.clean``): NFKC (ligatures), running headers, footers and page numbers
removed, words broken at line ends joined. Where the PDF has an outline (bookmarks),
each page is split at its headings and every section carries its heading path. A junk
metadata title ("paper.dvi", "Microsoft Word - x.doc") gives way to the largest text on
the first page. pypdf was chosen by measurement (benchmarks/pdf_text.py): it keeps
two-column reading order and real hyphens, which pypdfium2 merges ("cameraready").
pypdf is imported lazily.
"""

from __future__ import annotations

import io
import logging
import math
import re
import warnings
from collections import Counter
from pathlib import Path

from ragcli.errors import LoadError
from ragcli.load._common import read_bytes, relative_id
from ragcli.load.clean import (
    dehyphenate,
    is_junk_title,
    normalise_unicode,
    remove_page_furniture,
)
from ragcli.types import Document, Location, Section

EXTENSIONS = (".pdf",)

_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_MANY_BLANK_LINES = re.compile(r"\n{3,}")


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def _clean(text: str) -> str:
    text = text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")
    text = _TRAILING_SPACE.sub("\n", text)
    return _MANY_BLANK_LINES.sub("\n\n", text).strip()


def _metadata_title(reader) -> str | None:
    try:
        meta = reader.metadata
        title = meta.title if meta is not None else None
    except Exception:
        return None
    if not isinstance(title, str):
        return None
    title = " ".join(title.split())
    return None if is_junk_title(title) else normalise_unicode(title)


def load_pdf(path: Path, root: Path) -> list[Document]:
    data = read_bytes(path, limit=None)
    if b"%PDF-" not in data[:1024]:
        raise LoadError("corrupt PDF: no PDF header")
    pypdf_logger = logging.getLogger("pypdf")
    saved_level = pypdf_logger.level
    pypdf_logger.setLevel(logging.CRITICAL)  # pypdf logs every repaired xref; keep quiet
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _load(data, path, root)
    finally:
        pypdf_logger.setLevel(saved_level)


def _load(data: bytes, path: Path, root: Path) -> list[Document]:
    reader, encrypted = _open(data)
    pages = _pages(reader)
    raw = [_page_text(page) for page in pages]
    failed = [number for number, text in enumerate(raw, start=1) if text is None]
    texts = clean_pages([text or "" for text in raw])
    if not any(texts):
        if failed and len(failed) == len(pages):
            raise LoadError("corrupt PDF: text extraction failed on every page")
        raise LoadError("no extractable text (scanned PDF?)")
    text, sections = _sections(texts, outline_headings(reader))

    doc_id = relative_id(path, root)
    pages_with_text = sum(1 for page_text in texts if page_text)
    metadata: dict = {"pages": len(pages), "pages_with_text": pages_with_text}
    if failed:
        metadata["pages_failed"] = failed
    if encrypted:
        metadata["encrypted"] = True
    title = _metadata_title(reader) or first_page_title(pages[0]) or path.stem
    return [
        Document(
            doc_id=doc_id,
            source=doc_id,
            title=title,
            kind="pdf",
            text=text,
            sections=sections,
            metadata=metadata,
        )
    ]


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
    """Where each heading starting on this page begins in its text (the page start when
    the heading text is not found), in order."""
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


def outline_headings(reader) -> dict[int, list[tuple[str, ...]]]:
    """0-based page index -> heading paths of the outline entries pointing at it."""
    by_page: dict[int, list[tuple[str, ...]]] = {}

    def walk(items: list, parents: tuple[str, ...]) -> None:
        last: tuple[str, ...] = parents
        for item in items:
            if isinstance(item, list):
                walk(item, last)
                continue
            title = " ".join(normalise_unicode(str(item.title or "")).split())
            try:
                page = reader.get_destination_page_number(item)
            except Exception:
                continue
            if not title or page is None or page < 0:
                continue
            last = (*parents, title)
            by_page.setdefault(page, []).append(last)

    try:
        walk(reader.outline, ())
    except Exception:  # a broken outline costs the headings, never the text
        return {}
    return by_page


def first_page_title(page) -> str | None:
    """The first page's largest text when it stands out from the body text (a title)."""
    runs: list[tuple[float, str]] = []

    def visit(text: str, cm, tm, font, size) -> None:
        if text.strip() and size:
            scale = math.hypot(tm[0], tm[1]) * math.hypot(cm[0], cm[1])
            runs.append((round(float(size) * scale, 1), text))

    try:
        page.extract_text(visitor_text=visit)
    except Exception:
        return None
    if not runs:
        return None
    body = Counter(size for size, text in runs for _ in text).most_common(1)[0][0]
    for size in sorted({size for size, _ in runs if size > body * 1.15}, reverse=True):
        title = " ".join(" ".join(text for s, text in runs if s == size).split())
        title = normalise_unicode(title)
        if len(title) >= 4 and not is_junk_title(title):
            return title[:200]
    return None


def _open(data: bytes):
    """The pypdf reader, decrypted if it opens with an empty password, and whether the
    file was encrypted."""
    import pypdf
    from pypdf.errors import DependencyError

    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
    except Exception as err:
        raise LoadError(f"corrupt PDF: {_one_line(err)}") from None

    try:
        encrypted = reader.is_encrypted
    except Exception as err:
        raise LoadError(f"corrupt PDF: {_one_line(err)}") from None
    if encrypted:
        try:
            opened = reader.decrypt("")
        except DependencyError:
            raise LoadError("encrypted PDF (AES: needs the 'cryptography' package)") from None
        except Exception as err:
            raise LoadError(f"encrypted PDF ({_one_line(err)})") from None
        if not opened:  # PasswordType.NOT_DECRYPTED == 0
            raise LoadError("encrypted PDF")
    return reader, encrypted


def _pages(reader) -> list:
    from pypdf.errors import FileNotDecryptedError

    try:
        pages = list(reader.pages)
    except FileNotDecryptedError:
        raise LoadError("encrypted PDF") from None
    except Exception as err:
        raise LoadError(f"corrupt PDF: {_one_line(err)}") from None
    if not pages:
        raise LoadError("corrupt PDF: no pages")
    return pages


def _page_text(page) -> str | None:
    """The page's cleaned text ("" for none); None if extraction failed."""
    from pypdf.errors import FileNotDecryptedError

    try:
        return _clean(page.extract_text() or "")
    except FileNotDecryptedError:
        raise LoadError("encrypted PDF") from None
    except Exception:
        return None
