"""The ``load`` stage: turn one file into ``Document`` objects.

``load_file(path, root)`` dispatches on the file's extension (``LOADERS``, made from the
registry of formats, ``FORMATS``). Every failure
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
from ragcli.load.reading import sniff_text
from ragcli.registry import Registry
from ragcli.types import Document


@dataclass(frozen=True)
class Loader:
    """A file format: the ``Document.kind`` it gives, its loader, the file name endings
    it reads and whether only with OCR on (images of text)."""

    kind: str
    load: Callable[..., list[Document]]  # (path, root) -> documents
    extensions: tuple[str, ...] = ()
    ocr_only: bool = False


FORMATS: Registry[Loader] = Registry("file format")
"""File formats by kind, built-ins first; a later format takes the extensions it shares
with an earlier one (reST's ``.rst``, which plain text lists too). A plugin format
registers here from Python (``FORMATS.register("rtf", Loader("rtf", load_rtf,
(".rtf",)))``). Formats have no entry-point group: every folder walk asks for them (the
freshness check of ``rag search`` too), and reading entry points costs 35-90 ms."""


def _register_builtins() -> None:
    for module, kind, func, extensions in (
        (code, "code", code.load_code, code.EXTENSIONS),
        (text, "text", text.load_text, text.EXTENSIONS),
        (markdown, "markdown", markdown.load_markdown, markdown.EXTENSIONS),
        (html, "html", html.load_html, html.EXTENSIONS),
        (pdf, "pdf", pdf.load_pdf, pdf.EXTENSIONS),
        (jsonl, "jsonl", jsonl.load_jsonl, jsonl.EXTENSIONS),
        (rst, "rst", rst.load_rst, rst.EXTENSIONS),
        (office, "docx", office.load_docx, office.DOCX_EXTENSIONS),
        (office, "pptx", office.load_pptx, office.PPTX_EXTENSIONS),
        (sheets, "xlsx", sheets.load_xlsx, sheets.XLSX_EXTENSIONS),
        (sheets, "csv", sheets.load_csv, sheets.CSV_EXTENSIONS),
        (odf, "odt", odf.load_odf, (".odt",)),
        (odf, "ods", odf.load_odf, (".ods",)),
        (odf, "odp", odf.load_odf, (".odp",)),
        (epub, "epub", epub.load_epub, epub.EXTENSIONS),
        (notebook, "notebook", notebook.load_notebook, notebook.EXTENSIONS),
        (mail, "email", mail.load_email, mail.EXTENSIONS),
    ):
        FORMATS.register(
            kind, Loader(kind, func, tuple(extensions)), description=module.__doc__.split("\n")[0]
        )
    FORMATS.register(
        "image",
        Loader("image", ocr.load_image, tuple(ocr.EXTENSIONS), ocr_only=True),
        description="images of text, read by OCR (with --ocr)",
    )


_register_builtins()


def _by_extension(ocr_only: bool) -> dict[str, Loader]:
    table: dict[str, Loader] = {}
    for entry in FORMATS.registered():
        loader = entry.load()
        if loader.ocr_only == ocr_only:
            table.update((extension.lower(), loader) for extension in loader.extensions)
    return table


LOADERS: dict[str, Loader] = _by_extension(ocr_only=False)
"""Lower-case extension (with the dot) -> loader, of the built-in formats."""

SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(LOADERS)
KINDS: frozenset[str] = frozenset(entry.load().kind for entry in FORMATS.registered())
"""Every ``Document.kind`` a built-in format can give (what ``--type`` filters on)."""

# Files recognised by their whole name (Makefile, Dockerfile, ...), loaded as code.
_CODE_FILENAMES = frozenset(code.FILENAMES)
_CODE_LOADER = FORMATS.get("code")
# Files without an extension (README, LICENSE) are plain text when their content is.
_NO_EXTENSION_LOADER = FORMATS.get("text")
_IMAGE_LOADERS = _by_extension(ocr_only=True)


def loader_for(path: Path, ocr: bool = False) -> Loader | None:
    """The loader for ``path`` by name and extension, or None if unsupported (images
    of text are supported only with ``ocr``)."""
    suffix = path.suffix.lower()
    if ocr and suffix in _IMAGE_LOADERS:
        return _IMAGE_LOADERS[suffix]
    if path.name in _CODE_FILENAMES:
        return _CODE_LOADER
    if not path.suffix:
        return _NO_EXTENSION_LOADER
    if rst.is_rst_name(path.name):  # Sphinx's "_sources/x.rst.txt" too
        return LOADERS[".rst"]
    found = LOADERS.get(suffix)
    if found is None and html.is_html_name(path.name):  # "core.html.en.utf8"
        return LOADERS[".html"]
    if found is None and len(FORMATS.registered()) > _BUILTIN_COUNT:
        found = _by_extension(ocr_only=False).get(suffix)  # a plugin's format
    return found


_BUILTIN_COUNT = len(FORMATS.registered())


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
    "FORMATS",
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
