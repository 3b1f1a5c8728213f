"""OCR for scanned PDF pages and images of text (.png, .jpg, .tiff, ...): the ``ocr`` extra.

Off by default (``ocr = true`` in the settings, ``RAG_OCR=1`` or ``rag ingest --ocr``).
Without it, scanned PDFs are skipped as "no extractable text" with a one-line hint and
images stay unsupported files; with it but no engine installed, both are skipped as "no
extractable text" with the install hint. Two engines run offline from registry packages:

- tesseract (Debian's ``tesseract-ocr``, through ``pytesseract``): used when its binary
  is on PATH; measured more accurate on English pages and about as fast
  (benchmarks/ocr.py, docs/benchmarks.md).
- RapidOCR (``rapidocr-onnxruntime``, PP-OCR models inside the wheel, ONNX Runtime):
  pure pip, the fallback; its recogniser sometimes drops the spaces between words.

A page is read at 300 dpi; lines come back in reading order, paragraphs separated by a
blank line.
"""

from __future__ import annotations

import functools
import io
import shutil
from collections.abc import Callable
from pathlib import Path

from ragcli.errors import LoadError
from ragcli.load.builder import Builder
from ragcli.load.reading import read_bytes
from ragcli.types import Document, Location

EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
RENDER_DPI = 300
HINT_OFF = "OCR is off: rag ingest --ocr reads it"
HINT_MISSING = "OCR needs an engine: pip install 'ragcli[ocr]' (and Debian's tesseract-ocr)"

Engine = Callable[[object], str]  # PIL image -> text


def _tesseract(image) -> str:
    import pytesseract

    return pytesseract.image_to_string(image, lang="eng")


@functools.cache
def _rapidocr():
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR()


def _rapid(image) -> str:
    import numpy as np

    result, _ = _rapidocr()(np.asarray(image.convert("RGB")))
    return "\n".join(text for _box, text, _score in result or [])


def engines() -> dict[str, Engine]:
    """The installed engines, best first."""
    found: dict[str, Engine] = {}
    try:
        import pytesseract  # noqa: F401

        if shutil.which("tesseract"):
            found["tesseract"] = _tesseract
    except ImportError:
        pass
    try:
        import rapidocr_onnxruntime  # noqa: F401

        found["rapidocr"] = _rapid
    except ImportError:
        pass
    return found


def engine() -> tuple[str, Engine]:
    """The engine OCR uses; ``LoadError`` with the install hint when there is none."""
    found = engines()
    if not found:
        raise LoadError(f"no extractable text ({HINT_MISSING})")
    return next(iter(found.items()))


def read_image(image, ocr: Engine) -> str:
    """The text of one page image, trailing spaces and runs of blank lines removed."""
    lines = [line.rstrip() for line in ocr(image).replace("\f", "\n").split("\n")]
    text = "\n".join(lines).strip()
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text


def load_image(path: Path, root: Path) -> list[Document]:
    """An image of text: each frame (a multi-page TIFF has several) is one page."""
    name, reader = engine()
    from PIL import Image, ImageSequence, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(read_bytes(path))) as image:
            pages = [read_image(frame.copy(), reader) for frame in ImageSequence.Iterator(image)]
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise LoadError(f"unreadable image ({' '.join(str(err).split())[:80]})") from None
    return [_document(path, root, pages, name)]


def _document(path: Path, root: Path, pages: list[str], name: str) -> Document:
    builder = Builder("image", empty="no text found by OCR")
    for number, text in enumerate(pages, start=1):
        builder.add(text, Location(page=number))
    first_line = builder.text.split("\n", 1)[0].strip()
    return builder.document(path, root, first_line[:120] or path.stem, pages=len(pages), ocr=name)


def pdf_page_images(document, indexes: list[int]):
    """The given 0-based pages of an open pypdfium2 document, rendered as PIL images."""
    for index in indexes:
        page = document[index]
        yield index, page.render(scale=RENDER_DPI / 72).to_pil()


def ocr_pdf_pages(document, indexes: list[int]) -> dict[int, str]:
    """OCR text of the given pages (0-based index -> text)."""
    _name, reader = engine()
    return {index: read_image(image, reader) for index, image in pdf_page_images(document, indexes)}
