"""The one document builder of the load stage: a file's text built block by block, its
heading path, one ``Section`` per run of blocks with the same location, tables as
readable lines, and the empty check.

Every format makes its ``Document`` with ``file_document`` (JSONL records, which keep
their own ids, aside). The structured formats (DOCX, PPTX, spreadsheets, ODF, EPUB,
notebooks, e-mail, OCR pages) and the rendered ones (HTML, reST: ``(heading level,
text)`` blocks) add blocks to a ``Builder``; the formats whose text is the file's own
(plain text, code, Markdown, PDF pages) give their text and sections directly.

The rules are the same for every format: blocks are joined by a blank line; a heading
starts a section and extends the heading path (``HeadingPath``); a heading with nothing
under it before the next heading joins that next section, so no section is only a
heading line, and a heading at the very end has no section; a document without a
section is ``LoadError(empty)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from ragcli.errors import LoadError
from ragcli.load.reading import relative_id
from ragcli.types import Document, Location, Section

Block = tuple[int, str]
"""A rendered block: (heading level, text), level 0 for body text."""

# Rows of a table are grouped into sections of about this many characters, so that most
# groups fit in one chunk (200 word pieces are 600-900 characters of prose) and a
# chunk's row range is the rows it really holds.
ROW_GROUP_CHARS = 600
# A document built from blocks (DOCX, PPTX, spreadsheets, ODF, EPUB, HTML, reST,
# notebooks, e-mail) whose text grows past this many characters is refused rather than
# held and chunked: zip members are bounded (ragcli.load.zipped), but markup can be
# nearly all text.
MAX_DOCUMENT_CHARS = 32 * 1024 * 1024
# Cells read from one spreadsheet (XLSX, ODS, CSV/TSV), empty ones the file places
# before a filled one included: a sheet can place a cell at row 1,048,576.
MAX_CELLS = 5_000_000


def over_chars(limit: int = MAX_DOCUMENT_CHARS) -> LoadError:
    return LoadError(f"over {limit:,} characters of text (the limit per document)")


def file_document(
    path: Path,
    root: Path,
    *,
    kind: str,
    title: str,
    text: str,
    sections: list[Section],
    empty: str,
    metadata: dict[str, Any] | None = None,
    **fields: Any,
) -> Document:
    """The document of one file: its id and source are ``path`` relative to ``root``;
    ``LoadError(empty)`` when it has no section (no text to index). ``fields``: the
    other ``Document`` fields (``line_numbers``, ``line_map``)."""
    if not sections:
        raise LoadError(empty)
    doc_id = relative_id(path, root)
    return Document(
        doc_id=doc_id,
        source=doc_id,
        title=title,
        kind=kind,
        text=text,
        sections=sections,
        metadata=metadata or {},
        **fields,
    )


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


class Builder:
    """A document's text and sections, built block by block (the rules above): the
    document of a file of ``kind``, or ``LoadError(empty)`` when it has no text."""

    def __init__(self, kind: str = "", empty: str = "no text") -> None:
        self.kind = kind
        self.empty = empty
        self.parts: list[str] = []
        self.length = 0
        self.headings = HeadingPath()
        self.first_heading: str | None = None
        self._sections: list[Section] = []
        self._heading_only = False  # the last section holds heading lines alone so far

    def add(self, text: str, location: Location | None = None) -> None:
        """A block of body text, stripped (a blank one is left out)."""
        self._append(text.strip(), Location() if location is None else location, False)

    def heading(self, level: int, title: str, **where: Any) -> Location:
        """A heading line: it extends the heading path and starts a section; returns the
        location of the blocks under it (``where``: its other fields, a slide, a page)."""
        location = Location(heading=self.headings.enter(level, title), **where)
        self.first_heading = self.first_heading or location.heading[-1]
        self._append(title.strip(), location, True)
        return location

    def add_rendered(self, blocks: Iterable[Block]) -> None:
        """Rendered blocks (HTML, reST), their text kept as rendered (code keeps the
        indentation of its first line)."""
        location = Location()
        for level, text in blocks:
            if level:
                location = self.heading(level, text)
            else:
                self._append(text, location, False)

    def restart_headings(self) -> None:
        """A new part (an EPUB chapter) whose headings start from the top again."""
        self.headings = HeadingPath()

    def _append(self, text: str, location: Location, heading: bool) -> None:
        if not text.strip():
            return
        start = self.length + 2 if self.parts else 0
        if start + len(text) > MAX_DOCUMENT_CHARS:
            raise over_chars()
        if self.parts:
            self.parts.append("\n\n")
        self.parts.append(text)
        self.length = start + len(text)
        last = self._sections[-1] if self._sections else None
        if last is not None and (self._heading_only or (not heading and last.location == location)):
            self._sections[-1] = Section(last.start, self.length, location)
        else:
            self._sections.append(Section(start, self.length, location))
        self._heading_only = heading

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @property
    def sections(self) -> list[Section]:
        """The sections so far, without a last one of heading lines alone."""
        return self._sections[:-1] if self._heading_only else list(self._sections)

    def document(self, path: Path, root: Path, title: str, **metadata: Any) -> Document:
        """The file's one document (``file_document``), its section count in metadata."""
        sections = self.sections
        return file_document(
            path,
            root,
            kind=self.kind,
            title=title,
            text=self.text,
            sections=sections,
            empty=self.empty,
            metadata={"sections": len(sections), **metadata},
        )


def assemble(blocks: Iterable[Block]) -> tuple[str, list[Section]]:
    """Rendered blocks' text and sections, as ``Builder.add_rendered`` makes them."""
    builder = Builder()
    builder.add_rendered(blocks)
    return builder.text, builder.sections


def document(
    path: Path, root: Path, blocks: list[Block], *, kind: str, title: str | None, empty: str
) -> list[Document]:
    """The one document of a rendered file: its blocks built, titled by ``title``, else
    the first heading, else the file name; ``LoadError(empty)`` when there is no text."""
    builder = Builder(kind, empty)
    builder.add_rendered(blocks)
    return [builder.document(path, root, title or builder.first_heading or path.name.split(".")[0])]


# -- tables -------------------------------------------------------------------------------


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
    builder: Builder,
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
            builder.add("\n".join(lines), Location(sheet=sheet, row_start=first, row_end=number))
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
