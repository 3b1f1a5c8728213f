"""The ``load`` stage: turn one file into ``Document`` objects.

``load_file(path, root)`` dispatches on the file's extension (``LOADERS``). Every failure
is a ``LoadError`` whose message is a short reason without the path (the caller adds
it): ``empty file``, ``binary data, not text``, ``not valid UTF-8 (...)``, ``permission
denied``, ``corrupt PDF: ...``, ``encrypted PDF``, ``no extractable text (scanned
PDF?; ...)`` (with how to turn OCR on), ``line 17: invalid JSON (...)``, ``not a valid
DOCX file (...)``, ``install python-docx to index .docx files (...)``. No library
exception escapes. Images of text (``ragcli.load.ocr``) are supported only with ``ocr``.

Heavy libraries (pypdfium2, lxml, docutils, python-docx, python-pptx, openpyxl, the OCR
engines) are imported only when a file needs them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ragcli.errors import LoadError
from ragcli.load import (
    code,
    epub,
    html,
    jsonl,
    mail,
    markdown,
    notebook,
    ocr,
    odf,
    office,
    pdf,
    rst,
    sheets,
    text,
)
from ragcli.load._common import sniff_text
from ragcli.types import Document


@dataclass(frozen=True)
class Loader:
    kind: str  # Document.kind it produces
    load: Callable[[Path, Path], list[Document]]


def _registry() -> dict[str, Loader]:
    table: dict[str, Loader] = {}
    for module, kind, func in (
        (code, "code", code.load_code),
        (text, "text", text.load_text),
        (markdown, "markdown", markdown.load_markdown),
        (html, "html", html.load_html),
        (pdf, "pdf", pdf.load_pdf),
        (jsonl, "jsonl", jsonl.load_jsonl),
        (rst, "rst", rst.load_rst),  # after text, which lists .rst too
    ):
        for extension in module.EXTENSIONS:
            table[extension] = Loader(kind, func)
    for extensions, kind, func in (
        (office.DOCX_EXTENSIONS, "docx", office.load_docx),
        (office.PPTX_EXTENSIONS, "pptx", office.load_pptx),
        (sheets.XLSX_EXTENSIONS, "xlsx", sheets.load_xlsx),
        (sheets.CSV_EXTENSIONS, "csv", sheets.load_csv),
        ((".odt",), "odt", odf.load_odf),
        ((".ods",), "ods", odf.load_odf),
        ((".odp",), "odp", odf.load_odf),
        (epub.EXTENSIONS, "epub", epub.load_epub),
        (notebook.EXTENSIONS, "notebook", notebook.load_notebook),
        (mail.EXTENSIONS, "email", mail.load_email),
    ):
        for extension in extensions:
            table[extension] = Loader(kind, func)
    return table


LOADERS: dict[str, Loader] = _registry()
"""Lower-case extension (with the dot) -> loader."""

SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(LOADERS)
# "image": images of text, which load only with OCR on (_IMAGE_LOADER below)
KINDS: frozenset[str] = frozenset({*(loader.kind for loader in LOADERS.values()), "image"})
"""Every ``Document.kind`` a file can give (what ``--type`` filters on)."""

# Files recognised by their whole name (Makefile, Dockerfile, ...), loaded as code.
_CODE_FILENAMES = frozenset(code.FILENAMES)
_CODE_LOADER = Loader("code", code.load_code)
# Files without an extension (README, LICENSE) are plain text when their content is.
_NO_EXTENSION_LOADER = Loader("text", text.load_text)


_IMAGE_EXTENSIONS = frozenset(ocr.EXTENSIONS)
_IMAGE_LOADER = Loader("image", ocr.load_image)


def loader_for(path: Path, ocr: bool = False) -> Loader | None:
    """The loader for ``path`` by name and extension, or None if unsupported (images
    of text are supported only with ``ocr``)."""
    if ocr and path.suffix.lower() in _IMAGE_EXTENSIONS:
        return _IMAGE_LOADER
    if path.name in _CODE_FILENAMES:
        return _CODE_LOADER
    if not path.suffix:
        return _NO_EXTENSION_LOADER
    if rst.is_rst_name(path.name):  # Sphinx's "_sources/x.rst.txt" too
        return LOADERS[".rst"]
    found = LOADERS.get(path.suffix.lower())
    if found is None and html.is_html_name(path.name):  # "core.html.en.utf8"
        return LOADERS[".html"]
    return found


def supported(path: Path, ocr: bool = False) -> bool:
    """True if ``load_file`` knows the file's format (by name and extension only)."""
    return loader_for(Path(path), ocr) is not None


def kind_of(path: Path) -> str | None:
    """The ``Document.kind`` a supported file would give, else None."""
    loader = loader_for(Path(path))
    return loader.kind if loader else None


def load_file(path: Path, root: Path, ocr: bool = False) -> list[Document]:
    """Documents from one file; ``LoadError`` with a one-line reason if it can't be read.

    ``doc_id`` and ``source`` are ``path`` relative to ``root`` (POSIX), or the file name
    if ``root`` is the file itself; JSONL records keep their own ids as ``doc_id``.
    """
    path = Path(path)
    loader = loader_for(path, ocr)
    if loader is None:
        raise LoadError(f"unsupported type {path.suffix.lower()}")
    from ragcli.load._isolate import ZIPPED_KINDS, load_zipped

    try:
        if ocr and loader.kind == "pdf":  # scanned pages too
            return loader.load(path, Path(root), ocr=True)
        if loader.kind in ZIPPED_KINDS:  # in a worker process under limits
            return load_zipped(loader.load, path, Path(root), loader.kind)
        return loader.load(path, Path(root))
    except LoadError:
        raise
    except RecursionError:
        raise LoadError("too deeply nested to parse") from None
    except MemoryError:
        raise LoadError("out of memory while reading") from None
    except Exception as err:  # a library bug must not abort a whole ingest
        detail = " ".join(str(err).split())[:120]
        reason = f"{type(err).__name__}: {detail}" if detail else type(err).__name__
        raise LoadError(reason) from None


__all__ = [
    "KINDS",
    "LOADERS",
    "SUPPORTED_EXTENSIONS",
    "Loader",
    "kind_of",
    "load_file",
    "loader_for",
    "sniff_text",
    "supported",
]
