"""HTML (.html, .htm, .xhtml, and negotiated names like ``core.html.en.utf8``): the main
text, with sections from the page's own ``h1``-``h6``.

The page is parsed with lxml and walked once. Elements that never hold main text
(scripts, styles, navigation, page headers and footers, sidebars, breadcrumbs, language
bars, Sphinx's ``¶`` links) are dropped; when the page marks its main content (``main``,
``role="main"``, one ``article``, ``#content``, ...) only that is read. Each block
becomes a paragraph of plain text: inline markup (``code``, ``a``, ``em``) keeps its
text, ``pre`` keeps its lines verbatim (a ``# comment`` there is code, not a heading),
list items start with ``- ``, and table rows are cells joined by `` | ``. Nothing is
written as Markdown, so stored text has no escapes.

This replaced trafilatura's Markdown output, which turned ``#`` lines in ``pre`` into
headings, dropped inline ``code`` and escaped ``_`` and ``*`` (docs/benchmarks.md,
"HTML, reST and Markdown text").
"""

from __future__ import annotations

import html as html_lib
import re
from pathlib import Path

from ragcli.errors import LoadError
from ragcli.load.builder import Block, document
from ragcli.load.html_lines import LineCursor, block_ranges_line_map, keep_line_count
from ragcli.load.reading import (
    MAX_HTML_BYTES,
    SNIFF_BYTES,
    check_markup_size,
    decode_text,
    read_bytes,
    without_internal_subset,
)
from ragcli.types import Document

EXTENSIONS = (".html", ".htm", ".xhtml")
# Content-negotiation variants served by Apache and others: a language, a charset or
# both after the HTML extension ("core.html.en", "index.html.fr.utf8").
_LANGUAGE_OR_CHARSET = re.compile(
    r"^(?:[a-z]{2}(?:[-_][a-z]{2,4})?|utf-?8|utf-?16|iso-?8859-?\d+|latin-?1|cp\d+"
    r"|euc-[a-z]+|sjis|shift_jis|koi8-r|big5|gb2312)$"
)

_COMPRESSED = frozenset({"gz", "xz", "bz", "br", "lz", "zst"})

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.I)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.I | re.S)
_TAGS = re.compile(r"<[^>]+>")
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")

# Elements that never hold a page's main text.
_NEVER_CONTENT = (
    "script",
    "style",
    "noscript",
    "template",
    "nav",
    "footer",
    "aside",
    "form",
    "button",
    "iframe",
    "svg",
    "head",
    "select",
    "textarea",
)
# Class or id words that mark page furniture in documentation sites (Sphinx, Apache's
# manual, MkDocs, Javadoc) and most hand-made pages.
_FURNITURE = re.compile(
    r"^(?:nav|navbar|navigation|menu|sidebar|sphinxsidebar|related|breadcrumbs?"
    r"|footer|page-header|quickview|toplang|bottomlang|headerlink|permalink|skip-?link"
    r"|skipnav|cookie-?banner|share|social)$",
    re.I,
)
# Where a page says its main content is, most specific first.
_MAIN = (
    "//main",
    "//*[@role='main']",
    "//*[@id='page-content']",
    "//*[@id='content']",
    "//*[@id='main-content']",
    "//*[@id='main']",
)
# A permalink sign left at a heading's end ("Usage ¶", "Usage #"); "C#" keeps its "#".
_PERMALINK = re.compile(r"(?:\s*¶|\s+#)$")
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
# Elements that start and end a paragraph of their own.
_BLOCKS = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "main",
        "body",
        "ul",
        "ol",
        "dl",
        "li",
        "dt",
        "dd",
        "blockquote",
        "figure",
        "figcaption",
        "caption",
        "center",
        "address",
        "hr",
        "br",
        "details",
        "summary",
        "header",
    }
)


def is_html_name(name: str) -> bool:
    """``x.html``, and negotiated variants like ``x.html.en`` or ``x.html.en.utf8``."""
    parts = name.lower().split(".")
    for count in (1, 2):  # a language, a charset, or both after the extension
        if len(parts) > count + 1 and f".{parts[-count - 1]}" in EXTENSIONS:
            extras = parts[-count:]
            return not set(extras) & _COMPRESSED and all(map(_LANGUAGE_OR_CHARSET.match, extras))
    return f".{parts[-1]}" in EXTENSIONS and len(parts) > 1


def html_title(markup: str) -> str | None:
    found = _TITLE.search(markup)
    if not found:
        return None
    title = " ".join(html_lib.unescape(_TAGS.sub("", found.group(1))).split())
    return title or None


def _is_furniture(element) -> bool:
    words = f"{element.get('class') or ''} {element.get('id') or ''}".split()
    return any(_FURNITURE.match(word) for word in words)


def _parse(markup: str):
    """An lxml tree without the elements that are never main content, or None."""
    import lxml.html

    parser = lxml.html.HTMLParser(huge_tree=False)
    try:
        tree = lxml.html.document_fromstring(
            keep_line_count(
                markup, without_internal_subset(_XML_DECLARATION.sub("", markup, count=1))
            ),
            parser=parser,
        )
    except Exception:
        return None
    if any("Excessive depth" in error.message for error in parser.error_log):
        # libxml2 stops at 256 levels and drops the rest: say so rather than lose text
        raise LoadError("too deeply nested to parse (over 255 levels of elements)")
    doomed = [
        element
        for element in tree.iter()
        if isinstance(element.tag, str)
        and (element.tag in _NEVER_CONTENT or _is_furniture(element) or _page_header(element))
    ]
    for element in doomed:
        if element.getparent() is not None:
            element.drop_tree()
    return tree


def _page_header(element) -> bool:
    """A page's ``header`` is boilerplate; an article's holds its title."""
    return element.tag == "header" and not any(
        ancestor.tag in ("article", "main") for ancestor in element.iterancestors()
    )


def _main(tree):
    from lxml import etree

    try:
        return _main_element(tree)
    except etree.XPathError as err:  # libxml2's, for a tree it cannot search
        raise LoadError(f"HTML tree not searchable ({type(err).__name__}: {err})") from None


def _main_element(tree):
    for query in _MAIN:
        found = tree.xpath(query)
        if len(found) == 1 and found[0].text_content().strip():
            return found[0]
    articles = tree.xpath("//article")
    if len(articles) == 1 and articles[0].text_content().strip():
        return articles[0]
    return tree


class _Writer:
    """Collects paragraphs and headings in reading order."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []  # (heading level or 0, text)
        self.lines: list[tuple[int, int]] = []  # each block's first and last file line
        self.cursor = LineCursor()
        self.inline: list[str] = []
        self.prefix = ""

    def text(self, value: str | None) -> None:
        if value:
            self.inline.append(value)
            self.cursor.read(value)

    def flush(self) -> None:
        paragraph = " ".join("".join(self.inline).split())
        self.inline = []
        span = self.cursor.take()
        if paragraph:  # a list item's "- " waits for its first paragraph
            self.blocks.append((0, self.prefix + paragraph))
            self.lines.append(span)
            self.prefix = ""

    def block(self, level: int, text: str, element, verbatim: bool = False) -> None:
        self.flush()
        span = self.cursor.whole(element, text, verbatim)
        if text.strip():
            self.blocks.append((level, text))
            self.lines.append(span)


def _walk(element, out: _Writer) -> None:
    tag = element.tag if isinstance(element.tag, str) else None
    if tag is None:  # a comment or processing instruction
        return
    out.cursor.enter(element)
    if tag in _HEADINGS:
        heading = _PERMALINK.sub("", " ".join(element.text_content().split()))
        out.block(_HEADINGS[tag], heading, element)
    elif tag == "pre":
        out.block(0, element.text_content().strip("\n").rstrip(), element, verbatim=True)
    elif tag == "table":
        out.block(0, _table(element), element)
    elif tag in _BLOCKS:
        out.flush()
        if tag == "li":
            out.prefix = "- "
        out.text(element.text)
        for child in element:
            _walk(child, out)
            out.text(child.tail)
        out.flush()
        if tag == "li":
            out.prefix = ""
    else:
        out.text(element.text)
        for child in element:
            _walk(child, out)
            out.text(child.tail)


def _table(table) -> str:
    """One line per row, cells joined by `` | ``; nested tables flattened into cells."""
    rows = []
    for row in table.iter("tr"):
        cells = [" ".join(cell.text_content().split()) for cell in row if cell.tag in ("td", "th")]
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)


def html_blocks(markup: str) -> list[Block]:
    """The page's main text as (heading level, text) blocks; level 0 for body text."""
    return html_blocks_with_lines(markup)[0]


def html_blocks_with_lines(markup: str) -> tuple[list[Block], list[tuple[int, int]]]:
    """The blocks and, for each, its first and last line in ``markup`` (1-based)."""
    tree = _parse(markup)
    if tree is None:
        return [], []
    out = _Writer()
    _walk(_main(tree), out)
    out.flush()
    return out.blocks, out.lines


def load_html(path: Path, root: Path) -> list[Document]:
    data = read_bytes(path, MAX_HTML_BYTES)
    check_markup_size(data)
    declared = _META_CHARSET.search(data[:SNIFF_BYTES])
    markup = decode_text(data, declared.group(1).decode("ascii") if declared else None)
    blocks, lines = html_blocks_with_lines(markup)
    documents = document(
        path,
        root,
        blocks,
        kind="html",
        title=html_title(markup),
        empty="no main text found in the HTML",
    )
    documents[0].line_map = block_ranges_line_map([text for _, text in blocks], lines)
    return documents
