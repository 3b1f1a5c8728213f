"""EPUB books (.epub), read as zip + XML with lxml: chapters in spine order.

The package document (``META-INF/container.xml`` names it) gives the title and the
spine (the navigation document left out: it only repeats the chapter titles); each
chapter's ``h1``-``h6`` give the heading path, and a chapter without headings is placed
under its own ``<title>``.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from ragcli.errors import LoadError
from ragcli.load import xhtml
from ragcli.load.builder import Builder
from ragcli.load.zipped import opened, parse_xml, read_member
from ragcli.types import Document, Location

EXTENSIONS = (".epub",)

_CONTAINER = "{urn:oasis:names:tc:opendocument:xmlns:container}"
_OPF = "{http://www.idpf.org/2007/opf}"
_DC_TITLE = "{http://purl.org/dc/elements/1.1/}title"
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title\s*>", re.I | re.S)


def _package(archive) -> tuple[str, object]:
    container = parse_xml(
        read_member(archive, "META-INF/container.xml", "EPUB"), "container", "EPUB"
    )
    rootfile = container.find(f".//{_CONTAINER}rootfile")
    if rootfile is None or not rootfile.get("full-path"):
        raise LoadError("not a valid EPUB file (container.xml names no package document)")
    name = rootfile.get("full-path")
    return name, parse_xml(read_member(archive, name, "EPUB"), name, "EPUB")


def _chapters(opf_name: str, package) -> list[str]:
    """Member names of the spine's documents, in reading order."""
    from urllib.parse import unquote

    base = posixpath.dirname(opf_name)
    manifest = {
        item.get("id"): item.get("href")
        for item in package.iter(f"{_OPF}item")
        if item.get("href") and "nav" not in (item.get("properties") or "").split()
    }
    names = []
    for ref in package.iter(f"{_OPF}itemref"):
        href = manifest.get(ref.get("idref"))
        if href:
            names.append(posixpath.normpath(posixpath.join(base, unquote(href.split("#")[0]))))
    return names


def _chapter_title(markup: bytes) -> str:
    found = _TITLE.search(markup)
    if not found:
        return ""
    return " ".join(re.sub(rb"<[^>]+>", b"", found.group(1)).decode("utf-8", "replace").split())


def load_epub(path: Path, root: Path) -> list[Document]:
    builder = Builder("epub", empty="no text in any chapter")
    chapters = 0
    with opened(path, "EPUB") as archive:
        opf_name, package = _package(archive)
        found = package.find(f".//{_DC_TITLE}")
        title = " ".join((found.text or "").split()) if found is not None else ""
        present = set(archive.namelist())
        for name in _chapters(opf_name, package):
            if name not in present:
                continue
            markup = read_member(archive, name, "EPUB")
            chapters += _add_chapter(builder, markup)
    return [builder.document(path, root, title or path.stem, chapters=chapters)]


def _add_chapter(builder: Builder, markup: bytes) -> int:
    builder.restart_headings()
    fallback = _chapter_title(markup)
    location = Location(heading=(fallback,) if fallback else ())
    added = False
    for level, text in xhtml.blocks(markup):
        if level:
            location = builder.heading(level, text)
        else:
            builder.add(text, location)
        added = True
    return int(added)
