"""Word and PowerPoint files (.docx, .pptx) with python-docx and python-pptx.

DOCX: paragraphs and tables in body order; ``Heading N`` and ``Title`` styles (or
styles based on them) give the heading path. PPTX: one section per slide (``slide 3``,
its title as the heading), shapes in the slide's order (z-order),
tables as rows, speaker notes after the slide text.
"""

from __future__ import annotations

import re
from pathlib import Path

from ragcli.load.builder import Builder, table_text
from ragcli.load.reading import require
from ragcli.load.zipped import opened, opening
from ragcli.types import Document, Location

DOCX_EXTENSIONS = (".docx", ".docm")
PPTX_EXTENSIONS = (".pptx", ".pptm")

_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.I)


def _check_zip(path: Path, what: str) -> None:
    with opened(path, what):
        pass


def _drop_entities(element) -> None:
    """Unresolved entity references (a DTD's, never expanded) removed, the text after
    each kept: python-docx and python-pptx read a run's text only up to the first one."""
    from lxml import etree

    for entity in list(element.iter(etree.Entity)):
        parent, tail = entity.getparent(), entity.tail or ""
        if parent is None:
            continue
        previous = entity.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
        parent.remove(entity)


def _style_level(style) -> int | None:
    for _ in range(5):  # a custom style based on "Heading 2" is a heading too
        if style is None:
            return None
        name = style.name or ""
        if name.lower() == "title":
            return 1
        found = _HEADING_STYLE.match(name)
        if found:
            return int(found.group(1))
        style = style.base_style
    return None


class _HeadingLevels:
    """Heading level by paragraph style id, each style looked up once. A paragraph's
    ``.style`` would scan every style for unstyled paragraphs (80% of the load time)."""

    def __init__(self, document) -> None:
        self._part = document.part
        self._levels: dict[str, int | None] = {}

    def __call__(self, style_id: str | None) -> int | None:
        if style_id is None:  # the default paragraph style, "Normal"
            return None
        if style_id not in self._levels:
            style = self._part.styles.get_by_id(style_id, 1)  # WD_STYLE_TYPE.PARAGRAPH
            self._levels[style_id] = _style_level(style)
        return self._levels[style_id]


def _table_rows(table) -> list[list[str]]:
    rows = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:  # a merged cell is repeated once per grid column
            if id(cell._tc) not in seen:
                seen.add(id(cell._tc))
                cells.append(" ".join(cell.text.split()))
        rows.append(cells)
    return rows


def load_docx(path: Path, root: Path) -> list[Document]:
    docx = require("docx", "python-docx", ".docx")
    _check_zip(path, "DOCX")
    document = opening(lambda: docx.Document(str(path)), "DOCX")
    _drop_entities(document.element)
    builder = Builder("docx", empty="no text in the document")
    level_of = _HeadingLevels(document)
    location = Location()
    for item in document.iter_inner_content():
        if isinstance(item, docx.table.Table):
            builder.add(table_text(_table_rows(item)), location)
            continue
        text = item.text.strip()
        level = level_of(item._p.style) if text else None
        if level is None:
            builder.add(text, location)
        else:
            location = builder.heading(level, text)
    title = (document.core_properties.title or "").strip() or builder.first_heading or path.stem
    return [builder.document(path, root, title)]


def _shapes(shapes):
    """Every shape, group members included, in the slide's own order (z-order, usually
    the order they were added in). Sorting by position would resolve every placeholder's
    inherited position from its layout: 70% of the load time."""
    found = []
    for shape in shapes:
        if getattr(shape, "shape_type", None) == 6:  # MSO_SHAPE_TYPE.GROUP
            found.extend(_shapes(shape.shapes))
        else:
            found.append(shape)
    return found


def _slide_texts(slide, title_shape) -> list[str]:
    texts = []
    for shape in _shapes(slide.shapes):
        if title_shape is not None and shape.shape_id == title_shape.shape_id:
            continue
        if shape.has_text_frame:
            texts.append(shape.text_frame.text)
        elif getattr(shape, "has_table", False) and shape.has_table:
            rows = [[cell.text for cell in row.cells] for row in shape.table.rows]
            texts.append(table_text(rows))
    if slide.has_notes_slide:
        notes = slide.notes_slide.notes_text_frame
        if notes is not None and notes.text.strip():
            texts.append("Notes: " + notes.text.strip())
    return texts


def load_pptx(path: Path, root: Path) -> list[Document]:
    pptx = require("pptx", "python-pptx", ".pptx")
    _check_zip(path, "PPTX")
    presentation = opening(lambda: pptx.Presentation(str(path)), "PPTX")
    builder = Builder("pptx", empty="no text on any slide")
    first_title = None
    for number, slide in enumerate(presentation.slides, 1):
        _drop_entities(slide.element)
        if slide.has_notes_slide:
            _drop_entities(slide.notes_slide.element)
        title_shape = slide.shapes.title
        title = " ".join(title_shape.text.split()) if title_shape is not None else ""
        location = Location(slide=number, heading=(title,) if title else ())
        first_title = first_title or title
        builder.add(title, location)
        for text in _slide_texts(slide, title_shape):
            builder.add(text, location)
    title = (presentation.core_properties.title or "").strip() or first_title or path.stem
    return [builder.document(path, root, title)]
