"""PDF (.pdf) with pypdf: one section per page, ``Location(page=n)`` 1-based.

Pages are joined with a blank line in ``Document.text``; pages without text get no
section but keep the numbering of the others right. pypdf is imported lazily.
"""

from __future__ import annotations

import io
import logging
import re
import warnings
from pathlib import Path

from ragcli.errors import LoadError
from ragcli.load._common import read_bytes, relative_id
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
    if not title or title.lower() in {"untitled", "untitled document", "none"}:
        return None
    return title


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
    parts: list[str] = []
    sections: list[Section] = []
    failed: list[int] = []
    offset = 0
    for number, page in enumerate(pages, start=1):
        page_text = _page_text(page)
        if page_text is None:
            failed.append(number)
            continue
        if not page_text:
            continue
        if parts:
            offset += 2  # the "\n\n" joining pages
        sections.append(Section(offset, offset + len(page_text), Location(page=number)))
        parts.append(page_text)
        offset += len(page_text)

    if not parts:
        if failed and len(failed) == len(pages):
            raise LoadError("corrupt PDF: text extraction failed on every page")
        raise LoadError("no extractable text (scanned PDF?)")

    doc_id = relative_id(path, root)
    metadata: dict = {"pages": len(pages), "pages_with_text": len(sections)}
    if failed:
        metadata["pages_failed"] = failed
    if encrypted:
        metadata["encrypted"] = True
    return [
        Document(
            doc_id=doc_id,
            source=doc_id,
            title=_metadata_title(reader) or path.stem,
            kind="pdf",
            text="\n\n".join(parts),
            sections=sections,
            metadata=metadata,
        )
    ]


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
