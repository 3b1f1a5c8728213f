"""Text cleaning shared by the loaders: Unicode normalisation, de-hyphenation, page
furniture (running headers, footers, page numbers), junk PDF titles, Markdown escapes.

Every function is pure (text in, text out) so each rule can be tested on its own.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

# A word broken at a line end: "sec-\nonds", with the spaces that follow the second part.
_LINE_END_HYPHEN = re.compile(r"(\w+)[-\u00ad]\n[ \t]*([a-z]\w*)(\S*)[ \t]*")
_SOFT_HYPHEN = "\u00ad"
# First parts of compounds that keep their hyphen when broken ("non-\nblocking").
_COMPOUND_PREFIXES = frozenset({"self", "non", "cross", "multi-"})
_HYPHENATED = re.compile(r"\b\w+-\w+\b")


def normalise_unicode(text: str) -> str:
    """NFKC (ligatures ``ﬁ`` ``ﬂ`` become ``fi`` ``fl``, full-width forms become ASCII)
    without NUL bytes or soft hyphens left inside words."""
    text = unicodedata.normalize("NFKC", text.replace("\x00", ""))
    return text.replace(_SOFT_HYPHEN + "\n", "\n").replace(_SOFT_HYPHEN, "")


def dehyphenate(text: str) -> str:
    """Join words broken across a line end ("sec-\\nonds" -> "seconds").

    The hyphen stays when it is a real one: the word before it is itself part of a
    compound ("state-of-the-\\nart"), its first part is a compound prefix ("non-"), or
    the text spells the compound with a hyphen elsewhere and never without. The line
    break moves after the joined word, so lines stay lines.
    """
    hyphenated = {word.lower() for word in _HYPHENATED.findall(text)}
    words = set(re.findall(r"\w+", text.lower()))

    def join(match: re.Match[str]) -> str:
        before, after = match.group(1), match.group(2)
        compound = match.start() > 0 and text[match.start() - 1] == "-"
        spelled = f"{before}-{after}".lower() in hyphenated
        keep = compound or before.lower() in _COMPOUND_PREFIXES or before.isdigit()
        keep = keep or (spelled and f"{before}{after}".lower() not in words)
        word = (f"{before}-{after}" if keep else f"{before}{after}") + match.group(3)
        at_line_end = match.end() == len(text) or text[match.end()] == "\n"
        return word if at_line_end else word + "\n"

    return _LINE_END_HYPHEN.sub(join, text)


_DIGITS = re.compile(r"\d+")
_PAGE_NUMBER = re.compile(
    r"^\s*(?:page\s+)?[-–—]?\s*(?:\d{1,4}|[ivxlcdm]{1,6})\s*[-–—]?"
    r"(?:\s*(?:of|/)\s*\d{1,4})?\s*$",
    re.I,
)
# How many lines at each end of a page are checked for furniture.
_EDGE_LINES = 3


def _furniture_key(line: str) -> str:
    """A line with its numbers blanked, so "Raft  5" and "Raft  6" compare equal."""
    return _DIGITS.sub("#", " ".join(line.split()).lower())


def _edge_lines(lines: list[str]) -> list[int]:
    """Indexes of the first and last few non-blank lines of a page."""
    filled = [i for i, line in enumerate(lines) if line.strip()]
    return sorted(set(filled[:_EDGE_LINES] + filled[-_EDGE_LINES:]))


def remove_page_furniture(pages: list[str]) -> list[str]:
    """Pages without running headers, footers and bare page numbers.

    A line at the top or bottom of a page is furniture when it is a bare page number,
    or when the same line (numbers aside) sits at the edge of at least half the pages
    (and of at least 3).
    """
    split = [page.split("\n") for page in pages]
    counts: Counter[str] = Counter()
    for lines in split:
        counts.update({_furniture_key(lines[i]) for i in _edge_lines(lines)})
    threshold = max(3, (len(pages) + 1) // 2)
    repeated = {key for key, n in counts.items() if n >= threshold and key.strip("# ")}
    cleaned = []
    for lines in split:
        drop = {
            i
            for i in _edge_lines(lines)
            if _PAGE_NUMBER.match(lines[i]) or _furniture_key(lines[i]) in repeated
        }
        cleaned.append("\n".join(line for i, line in enumerate(lines) if i not in drop).strip())
    return cleaned


_JUNK_TITLE = re.compile(
    r"""^(?:
        untitled(?:\s+document)?|none|title|document\d*|slide\s*\d*|presentation\d*
        |(?:proceedings|paper|article|acm|ieee|conference)\b.*\btemplate\b.*
        |.*\btemplate\b.*-\s*word
        |microsoft\s+(?:word|powerpoint)\s+-.*
        |.*\.(?:dvi|docx?|tex|pdf|ps|eps|rtf|odt|indd|qxd|pptx?)
        |[\w.-]*\d{3,}[\w.-]*
    )$""",
    re.I | re.X,
)


def is_junk_title(title: str | None) -> bool:
    """True for missing or tool-made PDF titles ("paper.dvi", "Microsoft Word - x.doc",
    "Proceedings Template - WORD", "untitled", an id like "p123-smith")."""
    if not title:
        return True
    flat = " ".join(title.split())
    return len(flat) < 3 or bool(_JUNK_TITLE.match(flat))


# A backslash before Markdown punctuation, as Markdown writers escape it.
_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|<>~])")


def unescape_markdown(text: str) -> str:
    r"""``lua\_rawgeti (lua\_State \*L`` -> ``lua_rawgeti (lua_State *L``."""
    return _MD_ESCAPE.sub(r"\1", text)


_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
# ``**`` and ``*`` emphasis only: underscores stay, as in "__init__" and "snake_case".
_MD_STRONG = re.compile(r"(?<![\w*])(\*\*)(?=\S)(.+?)(?<=\S)\*\*(?![\w*])")
_MD_EM = re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])")
_MD_CODE = re.compile(r"`+([^`]*)`+")
_ATTRIBUTE_LIST = re.compile(r"\s*\{:?\s*(?:[#.][\w:.-]+|[\w-]+=\S+)(?:\s+[^}]*)?\}\s*$")


def clean_heading_text(text: str) -> str:
    """Heading text without links, emphasis, code ticks, escapes or a trailing
    ``{ #anchor }`` attribute list; ``__dunder__`` names keep their underscores."""
    text = _ATTRIBUTE_LIST.sub("", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_CODE.sub(r"\1", text)
    text = _MD_STRONG.sub(r"\2", text)
    text = _MD_EM.sub(r"\1", text)
    return " ".join(unescape_markdown(text).split())
