"""Plain text (.txt, .text, .rst, .log): one section over the whole text, with line numbers."""

from __future__ import annotations

import re
from pathlib import Path

from ragcli.load.builder import file_document
from ragcli.load.reading import MAX_PLAIN_TEXT_BYTES, read_text
from ragcli.types import Document, Section

EXTENSIONS = (".txt", ".text", ".rst", ".log")

# reStructuredText title: a text line underlined (and optionally overlined) by one
# repeated punctuation character at least as long as the text.
_RST_ADORNMENT = re.compile(r"""^([=\-`:'"~^_*+#<>])\1{2,}\s*$""")


def rst_title(text: str) -> str | None:
    lines = text.split("\n", 200)[:200]
    for i in range(len(lines) - 1):
        line, under = lines[i].strip(), lines[i + 1]
        if (
            line
            and not _RST_ADORNMENT.match(line)
            and _RST_ADORNMENT.match(under)
            and len(under.strip()) >= len(line)
        ):
            return line
    return None


def load_text(path: Path, root: Path) -> list[Document]:
    text = read_text(path, MAX_PLAIN_TEXT_BYTES)
    title = (rst_title(text) if path.suffix.lower() == ".rst" else None) or path.stem
    return [
        file_document(
            path,
            root,
            kind="text",
            title=title,
            text=text,
            sections=[Section(0, len(text))],
            empty="empty file",
            metadata={"lines": text.count("\n") + (not text.endswith("\n"))},
            line_numbers=True,
        )
    ]
