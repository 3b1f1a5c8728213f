"""A chunk's text as the passages an offline answer may quote.

``passages(text)`` reads a chunk (Markdown source, reStructuredText rendered by the
loader, plain text, code) as blocks: headings, prose paragraphs, lists, code blocks and
tables. What a reader can be given as an answer becomes a ``Passage``:

- each sentence of a prose paragraph, markup stripped (links to their text, no HTML
  tags, no emphasis marks, no ``{ #anchor }``), quoted with the sentences after it that
  continue it ("Or use X later.", "Instead, ..."); in a short paragraph (at most
  ``MAX_PARAGRAPH_SENTENCES`` sentences and ``MAX_PARAGRAPH_CHARS``) it carries the code
  block after the paragraph, or a one-sentence lead-in and its code block, as its
  ``example``;
- a sentence that ends in a colon together with the list or code block that follows it,
  whole (the lead-in alone says nothing; when nothing follows it in the chunk it is
  dropped);
- each list item, and each code block whole (lines and indentation kept);
- a table row only when its first cell names something the question asks about (rows of
  other entries are not answers).

Never quoted: headings (Markdown ``#`` lines, one-line paragraphs without closing
punctuation), cross-reference stubs ("For more details, see X.", "See also Y."), and
blocks that are only HTML tags. A heading's words stay with the passages under it as
``context`` (a reST configuration key or function name above its description), so a
question naming the key finds its description.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
_FENCE_INFO = re.compile(r"^\s*(`{3,}|~{3,})\s*\S")
_INCLUDE = re.compile(r"^\s*(\{\*.*\*\}|-{2}8<-{2}.*)\s*$")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+\S")
_SETEXT_RULE = re.compile(r"^\s*(=+|-+|~+|\^+|\*+)\s*$")
_ITEM = re.compile(r"^(\s*)(?:[-*+\u2022]|\d{1,3}[.)])\s+(?=\S)")
_TABLE = re.compile(r"^\s*\|.*\|\s*$|^\s*\+[-=+]+\+\s*$|^\s*=+(\s+=+)+\s*$")
_TABLE_RULE = re.compile(r"^[\s|:+=-]+$")
_HTML_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_REF_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_ANCHOR = re.compile(r"\s*\{\s*#[^}]*\}")
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EMPHASIS = re.compile(r"(?<![\w*])\*(?=\S)([^*]+?)(?<=\S)\*(?![\w*])")
# A sentence ends at . ! ? before a capital, but not after an initial ("Nicholas E.
# Golovin") or a common abbreviation ("e.g.", "Dr.").
_SENTENCE_END = re.compile(
    r"(?<=[.!?\u3002\uff01\uff1f])(?<!\b[A-Z]\.)(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\bDr\.)"
    r"(?<!\bMr\.)(?<!\bMs\.)(?<!\bSt\.)(?<!\bvs\.)(?<!\bMrs\.)(?<!\betc\.)"
    r"\s+(?=[\"'(\[`*_]?[A-Z0-9\u0080-\uffff])"
)
_CROSS_REFERENCE = re.compile(
    r"^(?:for (?:more|further|full|additional|all the)? ?(?:details|information|info|"
    r"examples?|reference)|(?:please )?see(?: also)?|refer to|read more|learn more|"
    r"check (?:out )?|more (?:details|information|info) (?:in|at|on))\b",
    re.IGNORECASE,
)
# The first word of a sentence that finishes the one before it.
_CONTINUATION = re.compile(
    r"^(?:or|but|instead|alternatively|otherwise|however|also|then|so|thus|therefore)\b",
    re.IGNORECASE,
)
_LABEL_VALUE = re.compile(r"^[A-Z][\w ]{0,30}:\s+\S")
_CODE_LINE = re.compile(
    r"^\s*(?:>>>|\.\.\.\s|\$ |#!|def |class |async def |import |from \S+ import |@\w|"
    r"return\b|raise\b|yield\b|await |if .*:$|elif |else:|for .*:$|while .*:$|try:|"
    r"except\b|with .*:$|[\w.\[\]'\"]+\s*[-+*/]?=\s*\S|[\w.]+\(.*\)\s*[:;]?$|[{}\[\]()]+,?$|"
    r"<[a-z!/]|\{%|\}\}|pip |python\d? |uv |fastapi |flask |gunicorn |uvicorn |docker |"
    r"export |cd |curl |npm |\w+ = )"
)
_IDENTIFIER = re.compile(r"^\s*`?[\w.:-]+`?\s*$")
_PROSE_END = re.compile(r"[.!?:;]\s*$")
_WORD = re.compile(r"[A-Za-z]{2,}")
MIN_WORDS = 4
MAX_CODE_LINES = 40  # a longer code block is cut to its first lines when quoted
MAX_PARAGRAPH_SENTENCES = 3  # the code block after a paragraph this short is the
MAX_PARAGRAPH_CHARS = 400  # example of its sentences


@dataclass(frozen=True)
class Passage:
    """A quotable piece of a chunk. ``kind``: "sentence", "lead" (a lead-in with the list
    or code block after it), "item", "code" or "row". ``text`` is what is shown (may
    span lines for "lead" and "code"); ``context`` the heading above it."""

    kind: str
    text: str
    context: str = ""
    paragraph: str = ""  # a sentence with the sentences that continue it ("Or use X.")
    example: str = ""  # the code block right after a sentence's short paragraph

    @property
    def shown(self) -> str:
        """What is quoted: a sentence with its continuations, else the passage."""
        return self.paragraph or self.text


@dataclass
class _Block:
    kind: str  # "heading", "prose", "list", "code", "table"
    lines: list[str]


def passages(text: str, heading: str = "") -> list[Passage]:
    """The quotable passages of ``text`` in order (see the module docstring);
    ``heading`` is the context of the passages before the chunk's first heading."""
    blocks = _merge_code(_blocks(text))
    out: list[Passage] = []
    context = heading
    for i, block in enumerate(blocks):
        after = blocks[i + 1] if i + 1 < len(blocks) else None
        if block.kind == "heading":
            context = clean_inline(" ".join(line.strip(" #") for line in block.lines))
        elif block.kind == "prose":
            out.extend(_prose_passages(block, after, context, _example(blocks[i + 1 : i + 3])))
        elif block.kind == "list":
            out.extend(Passage("item", item, context) for item in _items(block.lines))
        elif block.kind == "code":
            out.append(Passage("code", _code_text(block.lines), context))
        elif block.kind == "table":
            out.extend(Passage("row", row, context) for row in _rows(block.lines))
    return out


# --------------------------------------------------------------------------------------
# blocks


def _blocks(text: str) -> list[_Block]:
    """Blank-line separated blocks, fenced code kept whole, list items grouped."""
    text = _HTML_COMMENT.sub("", text)
    blocks: list[_Block] = []
    lines = text.split("\n")
    i = 0
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            blocks.append(_Block(_paragraph_kind(paragraph), list(paragraph)))
            paragraph.clear()

    fences = [k for k, line in enumerate(lines) if _FENCE.match(line)]
    if len(fences) % 2 and not _FENCE_INFO.match(lines[fences[0]]):
        # The chunk starts inside a fenced block: what comes before its bare closing
        # fence is code, and that fence opens nothing.
        blocks.append(_Block("code", lines[: fences[0]]))
        i = fences[0] + 1
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            flush()
            marker, body = fence.group(1), []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(marker):
                body.append(lines[i])
                i += 1
            i += 1
            blocks.append(_Block("code", body))
            continue
        if not line.strip():
            flush()
        elif _INCLUDE.match(line):
            flush()  # an include directive the loader did not expand: not text to quote
        elif _MD_HEADING.match(line) and _stands_alone(lines, i):
            flush()
            blocks.append(_Block("heading", [line.strip().lstrip("#")]))
        elif _SETEXT_RULE.match(line) and len(paragraph) == 1:
            blocks.append(_Block("heading", list(paragraph)))
            paragraph.clear()
        elif _ITEM.match(line) and not (paragraph and _paragraph_kind(paragraph) == "code"):
            flush()
            if blocks and blocks[-1].kind == "list" and _last_was_list(lines, i):
                blocks[-1].lines.append(line)
            else:
                blocks.append(_Block("list", [line]))
        elif blocks and blocks[-1].kind == "list" and not paragraph and line[:1].isspace():
            blocks[-1].lines.append(line)  # an item's continuation (or a nested item)
        elif blocks and blocks[-1].kind == "list" and not paragraph and _continues(lines, i):
            blocks[-1].lines.append(line)
        else:
            paragraph.append(line)
        i += 1
    flush()
    return blocks


def _stands_alone(lines: list[str], i: int) -> bool:
    """A ``#`` line with a blank line (or nothing) after it is a Markdown heading; one
    with text right under it is a comment in code (rendered reST keeps no fences)."""
    return i + 1 >= len(lines) or not lines[i + 1].strip()


def _last_was_list(lines: list[str], i: int) -> bool:
    """Whether the list item at ``i`` continues the list above (blank lines between)."""
    j = i - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    return j >= 0 and (bool(_ITEM.match(lines[j])) or lines[j][:1].isspace())


def _continues(lines: list[str], i: int) -> bool:
    """A lazy continuation line of a list item (no blank line before it)."""
    return i > 0 and bool(lines[i - 1].strip())


def _paragraph_kind(lines: list[str]) -> str:
    if all(_TABLE.match(line) for line in lines):
        return "table"
    if len(lines) == 1 and _IDENTIFIER.match(lines[0]):
        return "heading"  # a configuration key or name above its description
    if _looks_like_code(lines):
        return "code"
    if len(lines) == 1 and _is_heading_line(lines[0]):
        return "heading"
    return "prose"


def _is_heading_line(line: str) -> bool:
    stripped = clean_inline(line)
    if not stripped or _PROSE_END.search(stripped) or _LABEL_VALUE.match(stripped):
        return False
    return len(stripped.split()) <= 12


def _looks_like_code(lines: list[str]) -> bool:
    texts = [line for line in lines if line.strip()]
    if not texts:
        return False
    if any(line.lstrip().startswith(">>>") for line in texts):
        return True
    code = sum(1 for line in texts if _CODE_LINE.match(line) or _is_code_shaped(line))
    return code / len(texts) >= 0.5 and not _reads_as_prose(" ".join(texts))


def _is_code_shaped(line: str) -> bool:
    stripped = line.strip()
    if line[:1].isspace() and not _ITEM.match(line):
        return True  # an indented line that is not a list item: inside a code block
    symbols = sum(stripped.count(c) for c in "(){}[]=<>;_\"'")
    return symbols >= 3 and symbols / max(len(stripped), 1) > 0.08


def _reads_as_prose(text: str) -> bool:
    """Sentences with several words and an end: prose that mentions code."""
    words = text.split()
    return len(words) >= 8 and text.rstrip().endswith((".", "!", "?")) and "(" not in words[0]


def _merge_code(blocks: list[_Block]) -> list[_Block]:
    """Consecutive code blocks are one (rendered reST code keeps its blank lines apart)."""
    merged: list[_Block] = []
    for block in blocks:
        if block.kind == "code" and merged and merged[-1].kind == "code" and block.lines:
            merged[-1].lines.extend([""] + block.lines)
        else:
            merged.append(block)
    return merged


# --------------------------------------------------------------------------------------
# passages


def _example(following: list[_Block]) -> str:
    """The code block right after a paragraph, or the one-sentence lead-in ("This example
    uses X:") and the code block after that; "" when neither follows."""
    if following and following[0].kind == "code":
        return _code_text(following[0].lines)
    if len(following) == 2 and following[0].kind == "prose" and following[1].kind == "code":
        lead = clean_inline(" ".join(line.strip() for line in following[0].lines))
        if lead.endswith(":") and len(split_sentences(lead)) == 1:
            return lead + "\n" + _code_text(following[1].lines)
    return ""


def _prose_passages(
    block: _Block, after: _Block | None, context: str, example: str = ""
) -> list[Passage]:
    text = clean_inline(" ".join(line.strip() for line in block.lines).lstrip("> "))
    if not text or not _WORD.search(text):
        return []
    sentences = split_sentences(text)
    example = example if _is_short(sentences) else ""
    out = []
    for k, sentence in enumerate(sentences):
        last = k == len(sentences) - 1
        if sentence.rstrip().endswith(":") and not _LABEL_VALUE.match(sentence):
            if last and after is not None and after.kind in ("list", "code"):
                out.append(Passage("lead", _lead_text(sentence, after), context))
            continue  # a lead-in without what it leads to
        if _is_cross_reference(sentence):
            continue
        if len(sentence.split()) < MIN_WORDS and not _LABEL_VALUE.match(sentence):
            continue
        shown = _with_continuations(sentences, k)
        out.append(Passage("sentence", sentence, context, shown, example))
    return out


def _is_short(sentences: list[str]) -> bool:
    """A paragraph short enough that the code block after it is its example."""
    text = " ".join(sentences)
    return len(sentences) <= MAX_PARAGRAPH_SENTENCES and len(text) <= MAX_PARAGRAPH_CHARS


def _with_continuations(sentences: list[str], k: int) -> str:
    """Sentence ``k`` and the sentences after it that continue it ("Or use X later.",
    "Instead, ..."), or "" when none does."""
    end = k + 1
    while end < len(sentences) and _CONTINUATION.match(sentences[end]):
        if sentences[end].rstrip().endswith(":") or _is_cross_reference(sentences[end]):
            break
        end += 1
    return " ".join(sentences[k:end]) if end > k + 1 else ""


def _lead_text(sentence: str, after: _Block) -> str:
    if after.kind == "code":
        return sentence + "\n" + _code_text(after.lines)
    return sentence + "\n" + "\n".join(f"  - {item}" for item in _items(after.lines))


def _is_cross_reference(sentence: str) -> bool:
    return bool(_CROSS_REFERENCE.match(sentence)) and len(sentence.split()) <= 16


def _items(lines: list[str]) -> list[str]:
    """The top-level items of a list block, each one line, marker and markup stripped."""
    items: list[list[str]] = []
    indent = None
    for line in lines:
        match = _ITEM.match(line)
        if match and (indent is None or len(match.group(1)) <= indent):
            indent = len(match.group(1)) if indent is None else indent
            items.append([line[match.end() :]])
        elif items:
            items[-1].append(_ITEM.sub("", line).strip())
    cleaned = (clean_inline(" ".join(part.strip() for part in item)) for item in items)
    return [item for item in cleaned if item and _WORD.search(item)]


def _code_text(lines: list[str]) -> str:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    indent = min((len(x) - len(x.lstrip()) for x in lines if x.strip()), default=0)
    body = [line[indent:].rstrip() for line in lines]
    if len(body) > MAX_CODE_LINES:
        body = body[:MAX_CODE_LINES] + ["..."]
    return "\n".join(body)


def _rows(lines: list[str]) -> list[str]:
    rows = []
    if len(lines) > 1 and _TABLE_RULE.match(lines[1]):
        lines = lines[2:]  # a Markdown table's header row names columns, not an entry
    for line in lines:
        if _TABLE_RULE.match(line):
            continue
        cells = [clean_inline(cell) for cell in line.strip().strip("|").split("|")]
        cells = [cell for cell in cells if cell]
        if len(cells) >= 2:
            rows.append(" | ".join(cells))
    return rows


def split_sentences(text: str) -> list[str]:
    """Sentences of one paragraph (whitespace already collapsed)."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def clean_inline(text: str) -> str:
    """Markdown/HTML inline markup removed: links and images to their text, tags,
    emphasis and ``{ #anchor }`` dropped, whitespace collapsed. Code ticks stay."""
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _REF_LINK.sub(r"\1", text)
    text = _ANCHOR.sub("", text)
    text = _HTML_TAG.sub("", text)
    text = _STRONG.sub(r"\2", text)
    text = _EMPHASIS.sub(r"\1", text)
    return " ".join(text.split())
