"""OpenDocument files (.odt, .ods, .odp), read as zip + XML with lxml.

ODT: headings (``text:h`` with their outline level) give the heading path; paragraphs,
lists and tables in body order. ODS: one table per sheet, as rows with their row
numbers (repeated rows and cells expanded). ODP: one section per slide, the title
frame as its heading, speaker notes after the slide text.
"""

from __future__ import annotations

from pathlib import Path

from ragcli.load.builder import Builder, add_table, table_text
from ragcli.load.zipped import opened, parse_xml, read_member
from ragcli.types import Document, Location

EXTENSIONS = (".odt", ".ods", ".odp")

_NS = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "draw": "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0",
    "presentation": "urn:oasis:names:tc:opendocument:xmlns:presentation:1.0",
    "dc": "http://purl.org/dc/elements/1.1/",
}
# Repeated empty rows and columns fill a sheet to its edge (a million rows): only
# repeats between values are expanded, and at most this many times.
_MAX_REPEAT = 1000
_MAX_SPACES = 100


def _q(name: str) -> str:
    prefix, local = name.split(":")
    return f"{{{_NS[prefix]}}}{local}"


_P, _H, _S, _TAB, _BREAK = (
    _q(n) for n in ("text:p", "text:h", "text:s", "text:tab", "text:line-break")
)
_SKIP = {_q("office:annotation"), _q("text:note"), _q("text:tracked-changes")}


def _count(value: str | None) -> int:
    """A ``text:c`` space count; past ``_MAX_SPACES`` more spaces carry no text (and a
    count of a billion would be a gigabyte)."""
    try:
        return max(0, min(int(value or "1"), _MAX_SPACES))
    except ValueError:
        return 1


def _text(element) -> str:
    """A paragraph's text: ``text:s`` spaces, tabs and line breaks kept, notes dropped."""
    parts = [element.text or ""]
    for child in element:
        if child.tag == _S:
            parts.append(" " * _count(child.get(_q("text:c"))))
        elif child.tag == _TAB:
            parts.append("\t")
        elif child.tag == _BREAK:
            parts.append("\n")
        elif child.tag not in _SKIP:
            parts.append(_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _paragraphs(element) -> list[str]:
    if element.tag in (_P, _H):
        return [_text(element)]
    return [text for child in element if child.tag not in _SKIP for text in _paragraphs(child)]


def _cell_text(cell) -> str:
    text = "\n".join(_paragraphs(cell)).strip()
    return " ".join(text.split()) or cell.get(_q("office:value"), "")


def _rows(table) -> list[tuple[int, list[str]]]:
    rows, number = [], 0
    for row in table.iter(_q("table:table-row")):
        repeat = int(row.get(_q("table:number-rows-repeated"), "1"))
        cells: list[str] = []
        pending = 0  # empty cells not yet known to sit between values
        for cell in row:
            if cell.tag not in (_q("table:table-cell"), _q("table:covered-table-cell")):
                continue
            times = int(cell.get(_q("table:number-columns-repeated"), "1"))
            value = _cell_text(cell)
            if not value:
                pending += times
                continue
            cells.extend([""] * min(pending, _MAX_REPEAT) + [value] * min(times, _MAX_REPEAT))
            pending = 0
        if cells:
            rows.extend((number + i + 1, cells) for i in range(min(repeat, _MAX_REPEAT)))
        number += repeat
    return rows


def _odt(body, builder: Builder) -> None:
    location = Location()

    def walk(element) -> None:
        nonlocal location
        for child in element:
            if child.tag in _SKIP:
                continue
            if child.tag == _H:
                text = _text(child).strip()
                if text:
                    level = int(child.get(_q("text:outline-level"), "1"))
                    location = builder.heading(level, text)
            elif child.tag == _P:
                builder.add(_text(child), location)
            elif child.tag == _q("table:table"):
                builder.add(table_text([cells for _, cells in _rows(child)]), location)
            else:
                walk(child)

    walk(body)


def _ods(body, builder: Builder) -> list[str]:
    sheets = []
    for table in body.iter(_q("table:table")):
        name = table.get(_q("table:name")) or f"Sheet{len(sheets) + 1}"
        sheets.append(name)
        add_table(builder, _rows(table), sheet=name)
    return sheets


def _odp(body, builder: Builder) -> None:
    for number, page in enumerate(body.iter(_q("draw:page")), 1):
        title = ""
        for frame in page.iter(_q("draw:frame")):
            if frame.get(_q("presentation:class")) == "title":
                title = " ".join(" ".join(_paragraphs(frame)).split())
                break
        location = Location(slide=number, heading=(title,) if title else ())
        notes = page.find(_q("presentation:notes"))
        texts = [t for child in page if child is not notes for t in _paragraphs(child)]
        builder.add("\n".join(texts), location)
        if notes is not None:
            note_text = "\n".join(_paragraphs(notes)).strip()
            builder.add("Notes: " + note_text if note_text else "", location)


def load_odf(path: Path, root: Path) -> list[Document]:
    suffix = path.suffix.lower()
    what = suffix[1:].upper()
    with opened(path, what) as archive:
        content = parse_xml(read_member(archive, "content.xml", what), "content.xml", what)
        title = ""
        if "meta.xml" in archive.namelist():
            meta = parse_xml(read_member(archive, "meta.xml", what), "meta.xml", what)
            found = meta.find(f".//{_q('dc:title')}")
            title = " ".join((found.text or "").split()) if found is not None else ""
    body = content.find(_q("office:body"))
    kind = {".odt": "odt", ".ods": "ods", ".odp": "odp"}[suffix]
    builder, metadata = Builder(kind, empty=f"no text in the {what} file"), {}
    if body is not None and kind == "odt":
        _odt(body, builder)
    elif body is not None and kind == "ods":
        metadata["sheets"] = _ods(body, builder)
    elif body is not None:
        _odp(body, builder)
    title = title or builder.first_heading or path.stem
    return [builder.document(path, root, title, **metadata)]
