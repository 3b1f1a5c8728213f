"""The text of an (X)HTML fragment as paragraphs and headings, for EPUB chapters and
HTML mail bodies: every visible paragraph is kept (these are not web pages, there is
no navigation to drop), ``h1``-``h6`` become headings."""

from __future__ import annotations

import re

_NEVER_TEXT = ("script", "style", "head", "title", "noscript", "template", "svg")
_BLOCKS = (
    "p", "div", "section", "article", "li", "ul", "ol", "table", "tr", "pre",
    "blockquote", "dd", "dt", "figcaption", "caption", "aside", "header", "footer",
)  # fmt: skip
_HEADING_MARK = "\ue000h"  # a private-use character: not in real text


def blocks(markup: str | bytes) -> list[tuple[int, str]]:
    """(heading level, text) pairs in document order; level 0 for a paragraph."""
    import lxml.html

    from ragcli.load.reading import check_markup_size, without_internal_subset

    check_markup_size(markup)
    markup = without_internal_subset(markup)
    try:
        tree = lxml.html.document_fromstring(markup, parser=lxml.html.HTMLParser(huge_tree=False))
    except Exception:  # lxml's ParserError for markup without any element
        return []
    for element in list(tree.iter(*_NEVER_TEXT)):
        if element.getparent() is not None:
            element.drop_tree()
    for element in tree.iter("br"):
        element.tail = "\n" + (element.tail or "")
    for element in tree.iter("td", "th"):
        element.tail = " | " + (element.tail or "")
    for level in range(1, 7):
        for element in tree.iter(f"h{level}"):
            element.text = f"\n\n{_HEADING_MARK}{level} " + (element.text or "")
            element.tail = "\n\n" + (element.tail or "")
    for element in tree.iter(*_BLOCKS):
        element.tail = "\n\n" + (element.tail or "")
    out = []
    for paragraph in re.split(r"\n\s*\n", tree.text_content()):
        lines = [" ".join(line.split()) for line in paragraph.split("\n")]
        text = "\n".join(line for line in lines if line).strip(" |")
        if text.startswith(_HEADING_MARK):
            level, _, title = text[len(_HEADING_MARK) :].partition(" ")
            if title.strip():
                out.append((int(level), " ".join(title.split())))
        elif text:
            out.append((0, text))
    return out
