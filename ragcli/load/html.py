"""HTML (.html, .htm): the main text only, with heading sections.

``trafilatura`` extracts the main content as Markdown (no scripts, styles, navigation,
headers or footers), which is then split by headings like a Markdown file. Pages where
trafilatura finds nothing (tiny pages) fall back to a plain lxml text extraction that
drops the same boilerplate elements. Both libraries are imported lazily.
"""

from __future__ import annotations

import html as html_lib
import logging
import re
from pathlib import Path

from ragcli.errors import LoadError
from ragcli.load._common import SNIFF_BYTES, decode_text, read_bytes, relative_id
from ragcli.load.markdown import parse_markdown
from ragcli.types import Document, Section

EXTENSIONS = (".html", ".htm", ".xhtml")

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
)
_BLOCKS = (
    "p",
    "div",
    "section",
    "article",
    "main",
    "li",
    "ul",
    "ol",
    "table",
    "tr",
    "pre",
    "blockquote",
    "br",
    "dd",
    "dt",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
)


def html_title(markup: str) -> str | None:
    found = _TITLE.search(markup)
    if not found:
        return None
    title = " ".join(html_lib.unescape(_TAGS.sub("", found.group(1))).split())
    return title or None


def _parse(markup: str):
    """An lxml tree without the elements that are never main content, or None."""
    import lxml.html

    parser = lxml.html.HTMLParser()
    try:
        tree = lxml.html.document_fromstring(
            _XML_DECLARATION.sub("", markup, count=1), parser=parser
        )
    except Exception:
        return None
    if any("Excessive depth" in error.message for error in parser.error_log):
        # libxml2 stops at 256 levels and drops the rest: say so rather than lose text
        raise LoadError("too deeply nested to parse (over 255 levels of elements)")
    for element in list(tree.iter(*_NEVER_CONTENT)):
        if element.getparent() is not None:
            element.drop_tree()
    for element in list(tree.iter("header")):
        # A page header is boilerplate; an article's header holds its title.
        if element.getparent() is not None and not any(
            ancestor.tag in ("article", "main") for ancestor in element.iterancestors()
        ):
            element.drop_tree()
    return tree


def _trafilatura_markdown(markup: str) -> str | None:
    import trafilatura

    # trafilatura leaves navigation in on tiny pages (its baseline extractor keeps
    # everything), so the never-content elements go first.
    tree = _parse(markup)
    if tree is None:
        return None
    logger = logging.getLogger("trafilatura")
    saved = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        return trafilatura.extract(
            tree,
            output_format="markdown",
            include_comments=False,
            include_tables=True,
            include_images=False,
            include_links=False,
        )
    except Exception:
        return None
    finally:
        logger.setLevel(saved)


def _fallback_markdown(markup: str) -> str:
    """Visible text outside boilerplate elements, headings written as ``#`` lines."""
    tree = _parse(markup)
    if tree is None:
        return ""
    for element in list(tree.iter("head")):
        element.drop_tree()
    for level in range(1, 7):
        for element in tree.iter(f"h{level}"):
            element.text = "\n\n" + "#" * level + " " + (element.text or "")
    for element in tree.iter(*_BLOCKS):
        element.tail = "\n\n" + (element.tail or "")
    text = tree.text_content()
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def load_html(path: Path, root: Path) -> list[Document]:
    data = read_bytes(path)
    declared = _META_CHARSET.search(data[:SNIFF_BYTES])
    markup = decode_text(data, declared.group(1).decode("ascii") if declared else None)

    extractor = "trafilatura"
    text = (_trafilatura_markdown(markup) or "").strip()
    if not text:
        extractor = "fallback"
        text = _fallback_markdown(markup)
    if not text:
        raise LoadError("no main text found in the HTML")

    sections, heading_title = parse_markdown(text)
    if not sections:
        sections = [Section(0, len(text))]
    doc_id = relative_id(path, root)
    return [
        Document(
            doc_id=doc_id,
            source=doc_id,
            title=html_title(markup) or heading_title or path.stem,
            kind="html",
            text=text,
            sections=sections,
            metadata={"extractor": extractor, "sections": len(sections)},
        )
    ]
