"""Markdown (.md, .markdown): one section per heading-delimited block.

Each section's ``Location.heading`` is the heading path (``("Guide", "Install")``). ATX
headings (``## Install``) and single-line setext headings (``Title`` over ``=====``) are
recognised; ``#`` lines inside fenced code blocks are not headings. Heading text is
cleaned (``clean.clean_heading_text``): no ``{ #anchor }`` attribute lists, links,
emphasis, code ticks or escapes, while ``__dunder__`` names keep their underscores. A
YAML front matter block stays in ``Document.text`` (so line numbers match the file) but
outside every section, and its ``title:`` is used as the document title.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ragcli.errors import LoadError
from ragcli.load._common import read_text, relative_id
from ragcli.load.clean import clean_heading_text
from ragcli.types import Document, Location, Section

EXTENSIONS = (".md", ".markdown", ".mdown", ".mkd")

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
_ATX_CLOSING = re.compile(r"(?:^|[ \t]+)#+[ \t]*$")
_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_NOT_PARAGRAPH = re.compile(r"^\s*(?:[-*+>|]|\d+[.)]\s|#|<|`{3}|~{3})")
_FRONT_MATTER_END = re.compile(r"^(?:---|\.\.\.)[ \t]*$")
_FRONT_MATTER_TITLE = re.compile(r"""^title:\s*(["']?)(.+?)\1\s*$""")


@dataclass(frozen=True)
class _Heading:
    start: int  # offset of the heading's first line
    body: int  # offset just after the heading line(s)
    level: int
    text: str


def _lines(text: str, start: int = 0) -> list[tuple[int, str]]:
    """(offset, line without newline) for each line from ``start``."""
    out = []
    offset = start
    for line in text[start:].split("\n"):  # not splitlines(): only "\n" ends a line here
        out.append((offset, line))
        offset += len(line) + 1
    return out


def _front_matter(text: str) -> tuple[int, str | None]:
    """End offset of a leading YAML front matter block (0 if none) and its title."""
    if not text.startswith("---\n"):
        return 0, None
    title = None
    for offset, line in _lines(text, 4)[:500]:
        if _FRONT_MATTER_END.match(line):
            return offset + len(line) + 1, title
        found = _FRONT_MATTER_TITLE.match(line)
        if found and title is None:
            title = found.group(2).strip() or None
    return 0, None


def _headings(text: str, start: int) -> list[_Heading]:
    headings: list[_Heading] = []
    fence: tuple[str, int] | None = None  # (fence char, fence length) while inside one
    lines = _lines(text, start)
    prev_blank = True
    for i, (offset, line) in enumerate(lines):
        end = offset + len(line) + 1
        if fence is not None:
            stripped = line.strip()
            char, length = fence
            if (
                len(line) - len(line.lstrip(" ")) <= 3
                and stripped
                and set(stripped) == {char}
                and len(stripped) >= length
            ):
                fence = None
            prev_blank = False
            continue
        opened = _FENCE_OPEN.match(line)
        if opened and not (opened.group(1)[0] == "`" and "`" in opened.group(2)):
            fence = (opened.group(1)[0], len(opened.group(1)))
            prev_blank = False
            continue
        atx = _ATX.match(line)
        if atx:
            content = _ATX_CLOSING.sub("", atx.group(2) or "")
            title = clean_heading_text(content)
            if title:
                headings.append(_Heading(offset, min(end, len(text)), len(atx.group(1)), title))
            prev_blank = False
            continue
        setext = _SETEXT.match(line)
        if setext and i > 0 and prev_blank is False:
            prev_offset, prev_line = lines[i - 1]
            before_blank = i == 1 or not lines[i - 2][1].strip()
            already_heading = headings and headings[-1].start == prev_offset
            if (
                before_blank
                and not already_heading
                and prev_line.strip()
                and not _NOT_PARAGRAPH.match(prev_line)
                and len(prev_line) - len(prev_line.lstrip(" ")) <= 3
            ):
                level = 1 if setext.group(1)[0] == "=" else 2
                title = clean_heading_text(prev_line)
                if title:
                    headings.append(_Heading(prev_offset, min(end, len(text)), level, title))
                    prev_blank = False
                    continue
        prev_blank = not line.strip()
    return headings


def parse_markdown(text: str) -> tuple[list[Section], str | None]:
    """Sections with heading paths, and the document title if one is evident.

    The text before the first heading (if not blank) is a section with an empty heading
    path. A heading with nothing under it but another heading is merged into the next
    section, so no section is only a heading line; sections are contiguous.
    """
    body_start, title = _front_matter(text)
    headings = _headings(text, body_start)
    if title is None and headings:
        h1 = [h for h in headings if h.level == 1]
        title = (h1 or headings)[0].text

    sections: list[Section] = []
    if not headings:
        if text[body_start:].strip():
            sections.append(Section(body_start, len(text)))
        return sections, title

    if text[body_start : headings[0].start].strip():
        sections.append(Section(body_start, headings[0].start))
    stack: list[_Heading] = []
    pending: int | None = None  # start of heading-only sections waiting to be merged
    for i, heading in enumerate(headings):
        while stack and stack[-1].level >= heading.level:
            stack.pop()
        stack.append(heading)
        end = headings[i + 1].start if i + 1 < len(headings) else len(text)
        start = heading.start if pending is None else pending
        if not text[heading.body : end].strip() and i + 1 < len(headings):
            pending = start
            continue
        pending = None
        sections.append(Section(start, end, Location(heading=tuple(h.text for h in stack))))
    return sections, title


def load_markdown(path: Path, root: Path) -> list[Document]:
    text = read_text(path)
    sections, title = parse_markdown(text)
    if not sections:
        raise LoadError("no text outside the front matter")
    doc_id = relative_id(path, root)
    return [
        Document(
            doc_id=doc_id,
            source=doc_id,
            title=title or path.stem,
            kind="markdown",
            text=text,
            sections=sections,
            metadata={
                "lines": text.count("\n") + (not text.endswith("\n")),
                "sections": len(sections),
            },
            line_numbers=True,
        )
    ]
