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
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from ragcli.load.builder import HeadingPath, file_document
from ragcli.load.clean import clean_heading_text
from ragcli.load.includes import expand_markdown
from ragcli.load.reading import MAX_PLAIN_TEXT_BYTES, read_text
from ragcli.types import Document, Location, Section

EXTENSIONS = (".md", ".markdown", ".mdown", ".mkd")

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
_ATX_CLOSING = re.compile(r"(?:^|[ \t]+)#+[ \t]*$")
_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_NOT_PARAGRAPH = re.compile(r"^\s*(?:[-*+>|]|\d+[.)]\s|#|<|`{3}|~{3})")
_FRONT_MATTER_END = re.compile(r"^(?:---|\.\.\.)[ \t]*$")
_FRONT_MATTER_TITLE = re.compile(r"""^title:\s*(["']?)(.+?)\1\s*$""")
_NON_SPACE = re.compile(r"\S")  # exactly what str.strip() keeps


@dataclass(frozen=True)
class _Heading:
    start: int  # offset of the heading's first line
    body: int  # offset just after the heading line(s)
    level: int
    text: str


def _lines(text: str, start: int = 0) -> Iterator[tuple[int, str]]:
    """(offset, line without newline) for each line from ``start``, one at a time (a
    list of every line would be another copy of a large file)."""
    offset = start
    find = text.find
    while True:  # not splitlines(): only "\n" ends a line here
        end = find("\n", offset)
        if end == -1:
            yield offset, text[offset:]
            return
        yield offset, text[offset:end]
        offset = end + 1


def _with_previous(
    lines: Iterator[tuple[int, str]],
) -> Iterator[tuple[tuple[int, str], tuple[int, str] | None, bool]]:
    """Each line with the line before it (None for the first), and whether the line
    two back is blank or absent."""
    previous = None
    two_back_blank = True
    for line in lines:
        yield line, previous, two_back_blank
        two_back_blank = previous is None or not previous[1].strip()
        previous = line


def _has_text(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is not blank (without copying it)."""
    return _NON_SPACE.search(text, start, end) is not None


def _front_matter(text: str) -> tuple[int, str | None]:
    """End offset of a leading YAML front matter block (0 if none) and its title."""
    if not text.startswith("---\n"):
        return 0, None
    title = None
    for offset, line in islice(_lines(text, 4), 500):
        if _FRONT_MATTER_END.match(line):
            return offset + len(line) + 1, title
        found = _FRONT_MATTER_TITLE.match(line)
        if found and title is None:
            title = found.group(2).strip() or None
    return 0, None


def _headings(text: str, start: int) -> list[_Heading]:
    headings: list[_Heading] = []
    fence: tuple[str, int] | None = None  # (fence char, fence length) while inside one
    prev_blank = True
    for (offset, line), previous, two_back_blank in _with_previous(_lines(text, start)):
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
        if setext and previous is not None and prev_blank is False:
            prev_offset, prev_line = previous
            already_heading = headings and headings[-1].start == prev_offset
            if (
                two_back_blank
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
        if _has_text(text, body_start, len(text)):
            sections.append(Section(body_start, len(text)))
        return sections, title

    if _has_text(text, body_start, headings[0].start):
        sections.append(Section(body_start, headings[0].start))
    path = HeadingPath()
    pending: int | None = None  # start of heading-only sections waiting to be merged
    for i, heading in enumerate(headings):
        where = Location(heading=path.enter(heading.level, heading.text))
        end = headings[i + 1].start if i + 1 < len(headings) else len(text)
        start = heading.start if pending is None else pending
        if not _has_text(text, heading.body, end) and i + 1 < len(headings):
            pending = start
            continue
        pending = None
        sections.append(Section(start, end, where))
    return sections, title


def load_markdown(path: Path, root: Path) -> list[Document]:
    source = read_text(path, MAX_PLAIN_TEXT_BYTES)
    # Included code (MkDocs snippets, FastAPI's {* path *}) joins the page's text; the
    # line map then gives chunks the file's lines (an include maps to its own line).
    text, line_map = expand_markdown(source, path, root)
    sections, title = parse_markdown(text)
    return [
        file_document(
            path,
            root,
            kind="markdown",
            title=title or path.stem,
            text=text,
            sections=sections,
            empty="no text outside the front matter",
            metadata={
                "lines": source.count("\n") + (not source.endswith("\n")),
                "sections": len(sections),
                **({"includes": True} if line_map else {}),
            },
            line_numbers=line_map is None,
            line_map=line_map,
        )
    ]
