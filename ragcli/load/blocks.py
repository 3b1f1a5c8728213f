"""Documents assembled from blocks: paragraphs and headings in reading order.

Loaders that render a structured format (HTML, reST) into plain text give a list of
``(heading level, text)`` blocks, level 0 for body text; ``assemble`` joins them with a
blank line and makes one ``Section`` per heading, carrying the heading path.
"""

from __future__ import annotations

from ragcli.types import Location, Section

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
