"""Documents assembled from blocks: paragraphs and headings in reading order.

Loaders that render a structured format (HTML, reST) into plain text give a list of
``(heading level, text)`` blocks, level 0 for body text; ``assemble`` joins them with a
blank line and makes one ``Section`` per heading, carrying the heading path.
"""

from __future__ import annotations

from pathlib import Path

from ragcli.errors import LoadError
from ragcli.load._common import relative_id
from ragcli.types import Document, Location, Section

Block = tuple[int, str]


def assemble(blocks: list[Block]) -> tuple[str, list[Section]]:
    """Text (blocks joined by a blank line) and one section per heading with its path;
    a heading with no text before the next one joins that next section, and text before
    the first heading is a section with an empty path."""
    parts: list[str] = []
    sections: list[Section] = []
    stack: list[Block] = []
    offset = start = 0
    path: tuple[str, ...] = ()
    has_body = False
    for level, text in blocks:
        if parts:
            offset += 2
        if level and has_body:
            sections.append(Section(start, offset - 2, Location(heading=path)))
            start, has_body = offset, False
        if level:
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, text))
            path = tuple(heading for _, heading in stack)
        else:
            has_body = True
        parts.append(text)
        offset += len(text)
    if has_body:
        sections.append(Section(start, offset, Location(heading=path)))
    return "\n\n".join(parts), sections


def document(
    path: Path, root: Path, blocks: list[Block], *, kind: str, title: str | None, empty: str
) -> list[Document]:
    """The one document of a rendered file: its blocks assembled, titled by ``title``, else
    the first heading, else the file name; ``LoadError(empty)`` when there is no text."""
    text, sections = assemble(blocks)
    if not sections:
        raise LoadError(empty)
    first_heading = next((text for level, text in blocks if level), None)
    doc_id = relative_id(path, root)
    return [
        Document(
            doc_id=doc_id,
            source=doc_id,
            title=title or first_heading or path.name.split(".")[0],
            kind=kind,
            text=text,
            sections=sections,
            metadata={"sections": len(sections)},
        )
    ]
