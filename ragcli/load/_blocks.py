"""Building a document's text from blocks (paragraphs, rows, cells) with their locations.

The structured formats (DOCX, PPTX, spreadsheets, ODF, EPUB, notebooks, email) give
blocks rather than a text; ``Blocks`` joins them with blank lines and makes one
``Section`` per run of blocks with the same location, so chunks never mix two slides,
two headings or two row ranges.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from types import ModuleType

from ragcli.errors import LoadError
from ragcli.load._common import relative_id
from ragcli.types import Document, Location, Section

# Rows of a table are grouped into sections of about this many characters, so that most
# groups fit in one chunk (200 word pieces are 600-900 characters of prose) and a
# chunk's row range is the rows it really holds.
ROW_GROUP_CHARS = 600
# A structured document (DOCX, PPTX, spreadsheets, ODF, EPUB, HTML, notebooks, e-mail)
# whose text grows past this many characters is refused rather than held and chunked:
# its members are bounded (ragcli.load._zip), but markup can be nearly all text.
MAX_DOCUMENT_CHARS = 32 * 1024 * 1024
# Cells read from one spreadsheet (XLSX, ODS, CSV/TSV), empty ones the file places
# before a filled one included: a sheet can place a cell at row 1,048,576.
MAX_CELLS = 5_000_000


def over_chars(limit: int = MAX_DOCUMENT_CHARS) -> LoadError:
    return LoadError(f"over {limit:,} characters of text (the limit per document)")


class CellCount:
    """Cells read so far from one file; ``LoadError`` naming the limit once past it."""

    def __init__(self, limit: int = MAX_CELLS) -> None:
        self.limit = limit
        self.seen = 0

    def take(self, row) -> bool:
        self.seen += len(row)
        if self.seen > self.limit:
            raise LoadError(f"over {self.limit:,} cells (the limit per spreadsheet)")
        return True

    def rows(self, rows):
        """``rows`` (sequences of cells) passed through, counted."""
        for row in rows:
            self.take(row)
            yield row


@dataclass
class Blocks:
    parts: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    length: int = 0

    def add(self, text: str, location: Location | None = None) -> None:
        location = Location() if location is None else location
        text = text.strip()
        if not text:
            return
        if self.parts:
            self.parts.append("\n\n")
            self.length += 2
        start = self.length
        if start + len(text) > MAX_DOCUMENT_CHARS:
            raise over_chars()
        self.parts.append(text)
        self.length += len(text)
        last = self.sections[-1] if self.sections else None
        if last is not None and last.location == location:
            self.sections[-1] = Section(last.start, self.length, location)
        else:
            self.sections.append(Section(start, self.length, location))

    @property
    def text(self) -> str:
        return "".join(self.parts)


class HeadingPath:
    """The headings above the current block, outermost first."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, str]] = []

    def enter(self, level: int, title: str) -> tuple[str, ...]:
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, " ".join(title.split())))
        return self.path

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(title for _, title in self._stack)


def require(module: str, package: str, suffix: str) -> ModuleType:
    """Import a format library, or ``LoadError`` with the one-line install hint."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise LoadError(
            f"install {package} to index {suffix} files (pip install {package})"
        ) from None


def cell_text(value: object) -> str:
    """A spreadsheet value as a person reads it: ``3`` not ``3.0``, dates without a
    midnight time, no surrounding whitespace."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return " ".join(str(value).split())


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


def looks_like_header(row: list[str]) -> bool:
    """A first row of labels: at least one cell, every filled cell text and not a number."""
    filled = [value for value in row if value]
    return bool(filled) and not any(_is_number(value) for value in filled)


def add_table(
    blocks: Blocks,
    rows: list[tuple[int, list[str]]],
    sheet: str | None = None,
    header: bool | None = None,
) -> int:
    """Rows (number, cell texts) as readable lines, grouped into row-range sections.

    With a header row each line names its columns (``Name: Ada | Year: 1843``), so a
    chunk is readable without the header above it; the header row is kept as the first
    line of the first group. Returns the number of data rows added.
    """
    count = CellCount()
    rows = [(number, cells) for number, cells in rows if count.take(cells) and any(cells)]
    if not rows:
        return 0
    if header is None:
        header = len(rows) > 1 and looks_like_header(rows[0][1])
    names = rows[0][1] if header else []
    lines: list[str] = []
    first = size = 0
    for number, cells in rows:
        if not lines:
            first, size = number, 0
        lines.append(_row_line(cells, names, header and number == rows[0][0]))
        size += len(lines[-1]) + 1
        if size >= ROW_GROUP_CHARS or number == rows[-1][0]:
            blocks.add("\n".join(lines), Location(sheet=sheet, row_start=first, row_end=number))
            lines = []
    return len(rows) - bool(header)


def _row_line(cells: list[str], names: list[str], is_header: bool) -> str:
    if not names or is_header:
        return " | ".join(cells).strip(" |")
    pairs = []
    for i, value in enumerate(cells):
        if value:
            name = names[i] if i < len(names) and names[i] else f"column {i + 1}"
            pairs.append(f"{name}: {value}")
    return " | ".join(pairs)


def table_text(rows: list[list[str]]) -> str:
    """A table inside a document (DOCX, PPTX, ODT) as lines, like ``add_table``."""
    rows = [cells for cells in rows if any(cells)]
    header = len(rows) > 1 and looks_like_header(rows[0])
    names = rows[0] if header else []
    return "\n".join(_row_line(cells, names, header and i == 0) for i, cells in enumerate(rows))


def make_document(
    path: Path, root: Path, kind: str, title: str, blocks: Blocks, **metadata: object
) -> Document:
    """The one document of a structured file."""
    doc_id = relative_id(path, root)
    return Document(
        doc_id=doc_id,
        source=doc_id,
        title=title,
        kind=kind,
        text=blocks.text,
        sections=blocks.sections,
        metadata={"sections": len(blocks.sections), **metadata},
    )
