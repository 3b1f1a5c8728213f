"""Where an HTML page's text blocks stand in its file: line ranges for ``rag get``.

lxml gives each element the line its start tag is on (``sourceline``). ``LineCursor``
follows the walk over the tree: entering an element puts it on that line, and each
piece of text read moves it down by the newlines the text holds, so a paragraph's first
and last lines are those of its first and last visible characters. A block read whole
(``pre``, a table, a heading) runs from its element's line to ``last_line(element)``.
"""

from __future__ import annotations


class LineCursor:
    """The current line in the file while the page is walked, and the line range of the
    paragraph being collected (``None`` until it has visible text)."""

    def __init__(self) -> None:
        self.line = 1
        self.first: int | None = None
        self.last = 1

    def enter(self, element) -> None:
        if element.sourceline is not None:
            self.line = element.sourceline

    def read(self, text: str) -> None:
        """``text`` was added to the paragraph: note its visible lines, move past it."""
        stripped = text.lstrip()
        if stripped:
            start = self.line + text[: len(text) - len(stripped)].count("\n")
            self.first = start if self.first is None else self.first
            self.last = start + stripped.rstrip().count("\n")
        self.line += text.count("\n")

    def take(self) -> tuple[int, int]:
        """The collected paragraph's (first, last) line; starts the next paragraph."""
        first = self.line if self.first is None else self.first
        span = (first, max(first, self.last))
        self.first = None
        return span

    def whole(self, element, text: str, verbatim: bool = False) -> tuple[int, int]:
        """The lines of a block read whole from ``element`` (its text ``text``, line for
        line when ``verbatim``, as ``pre``); the cursor moves past it."""
        first = element.sourceline or self.line
        raw = element.text_content()
        first += raw[: len(raw) - len(raw.lstrip())].count("\n")
        last = max(first, last_line(element))
        if verbatim:
            last = max(last, first + text.strip("\n").count("\n"))
        self.line = max(self.line, first + raw.rstrip().count("\n"))
        self.first = None
        return first, last


def keep_line_count(original: str, cleaned: str) -> str:
    """``cleaned`` (``original`` with its XML declaration or DOCTYPE internal subset cut
    near the start) with the newlines it lost put back in front, so the elements after
    the cut keep their line numbers."""
    lost = original.count("\n") - cleaned.count("\n")
    return "\n" * lost + cleaned if lost > 0 else cleaned


def last_line(element) -> int:
    """The last line any text inside ``element`` is on (its own start line at least)."""
    last = element.sourceline or 1
    for inner in element.iter():
        if inner.sourceline is not None and isinstance(inner.tag, str):
            text = (inner.text or "").rstrip()
            last = max(last, inner.sourceline + text.count("\n"))
    return last


def block_ranges_line_map(
    texts: list[str], ranges: list[tuple[int, int]]
) -> list[tuple[int, int, int]]:
    """(offset in the document text, first line, last line) of each block, for blocks
    joined by a blank line as ``blocks.assemble`` joins them."""
    out, offset = [], 0
    for text, (first, last) in zip(texts, ranges, strict=True):
        out.append((offset, first, last))
        offset += len(text) + 2
    return out
