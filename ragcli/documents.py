"""The documents stage: whole documents, line ranges and PDF pages out of an index.

``get`` and ``multi_get`` are what `rag get`, the MCP ``get``/``multi_get`` tools and the
JSON API's ``GET /get`` call. A spec names indexed documents only:

* ``docs/guide.md`` (the source as search results show it, a path to the file, or a
  unique path suffix), with ``:LINE`` or ``:LINE:COUNT`` for a line range (for a PDF
  ``:PAGE:COUNT`` is a page range, for a PPTX or ODP ``:SLIDE:COUNT`` a slide range);
* ``#DOC_ID`` (a document id, e.g. a JSONL record), with the same optional range;
* a chunk id (digits), for the chunk's own lines, page, slide or text;
* for ``multi_get``, a gitignore-style glob (``papers/**/*.pdf``) or a list of specs.

Nothing outside the index is ever read: a spec is matched against the index's own list of
documents, never opened as a path. The text served is the indexed text. For text,
Markdown and code the file itself is read when its content still has the SHA-256 the
index recorded (exact lines and whitespace; for reST too, whose hits carry the file's
line ranges though the indexed text is the rendered page); otherwise (the file changed, went away,
or was swapped for a symlink elsewhere) the text is rebuilt from the indexed chunks,
and ``origin`` says which. Every result is bounded by ``max_bytes``.
"""

from __future__ import annotations

import hashlib
import os
import re
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragcli.errors import RagError, UsageError

DEFAULT_MAX_BYTES = 100_000  # one `get`
DEFAULT_MULTI_MAX_BYTES = 20_000  # each document of a `multi_get`
HARD_MAX_BYTES = 2_000_000  # no request gets more, whatever it asks for
MAX_DOCUMENTS = 100  # documents one multi_get returns at most
MAX_SKIPPED = 20  # skipped specs listed at most; the rest are counted (``skipped_total``)
# Kinds whose hits carry the file's own line ranges, so a range is served from the file.
LINE_KINDS = frozenset({"text", "markdown", "code", "rst", "html"})
SLIDE_KINDS = frozenset({"pptx", "odp"})  # served by slide, as a PDF is by page
_RANGE = re.compile(r"^(?P<target>.+?):(?P<start>\d+)(?::(?P<count>\d+))?$")
_GLOB_CHARS = frozenset("*?[")


class NotInIndex(RagError):
    """A spec that names no indexed document or chunk (exit code 1: nothing found)."""


@dataclass
class DocumentText:
    """One document, or a range of it, as served."""

    doc_id: str
    source: str
    kind: str
    title: str
    text: str
    unit: str  # "line", "page" or "slide": what ``start``/``end``/``total`` count
    start: int  # 1-based, inclusive
    end: int  # inclusive; start - 1 when the range is empty
    total: int
    origin: str  # "file" (the file, unchanged since ingest) or "index" (rebuilt from chunks)
    truncated: bool = False
    chunk_id: int | None = None
    pages: list[tuple[int, str]] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id,
            "source": self.source,
            "kind": self.kind,
            "title": self.title,
            "unit": self.unit,
            "start": self.start,
            "end": self.end,
            "total": self.total,
            "origin": self.origin,
            "truncated": self.truncated,
            "chunk_id": self.chunk_id,
            "bytes": len(self.text.encode("utf-8")),
            "text": self.text,
        }

    def numbered(self) -> str:
        """The text with a line number (or a page header) in front of each line."""
        if self.unit in ("page", "slide"):
            return "\n\n".join(f"--- {self.unit} {n} ---\n{text}" for n, text in self.pages)
        lines = self.text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        width = len(str(self.start + len(lines)))
        return "\n".join(f"{n:>{width}}  {line}" for n, line in enumerate(lines, self.start))


# resolving specs ------------------------------------------------------------------------
_DOCUMENTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _documents(store) -> list:
    """The store's documents, listed once per opened store (a store is one generation)."""
    try:
        found = _DOCUMENTS.get(store)
    except TypeError:  # not weak-referenceable: list every time
        return store.documents()
    if found is None:
        found = store.documents()
        _DOCUMENTS[store] = found
    return found


def is_glob(spec: str) -> bool:
    return any(char in _GLOB_CHARS for char in spec)


def split_range(spec: str) -> tuple[str, int | None, int | None]:
    """``"a.md:120:40"`` -> ``("a.md", 120, 40)``; ``"a.md"`` -> ``("a.md", None, None)``."""
    match = _RANGE.match(spec)
    if not match:
        return spec, None, None
    count = match["count"]
    return match["target"], int(match["start"]), None if count is None else int(count)


def find_documents(store, target: str, cwd: Path | None = None) -> list:
    """The indexed documents ``target`` names (``#id``, source, file path or suffix)."""
    documents = _documents(store)
    if target.startswith("#"):
        return [doc for doc in documents if doc.doc_id == target[1:]]
    exact = [doc for doc in documents if doc.source == target]
    if exact:
        return exact
    absolute = os.path.normpath(os.path.join(cwd or os.getcwd(), os.path.expanduser(target)))
    by_file = [doc for doc in documents if doc.file == absolute]
    if by_file:
        return by_file
    while target.startswith("./"):
        target = target[2:]
    tail = "/" + target
    suffixed = [doc for doc in documents if ("/" + doc.source).endswith(tail)]
    if len({doc.file for doc in suffixed}) > 1:
        names = ", ".join(sorted(doc.source for doc in suffixed)[:5])
        raise UsageError(f"{target}: names several indexed files ({names}); give more of the path")
    return suffixed


def _resolve_one(store, spec: str, cwd: Path | None):
    """(document, start, count, chunk) for a single-document spec."""
    spec = spec.strip()
    if not spec:
        raise UsageError("empty document spec: give a path, #DOC_ID or a chunk id")
    if spec.isdigit() and not find_documents(store, spec, cwd):
        return _chunk_target(store, int(spec))
    target, start, count = spec, None, None
    documents = find_documents(store, spec, cwd)
    if not documents:
        target, start, count = split_range(spec)
        documents = find_documents(store, target, cwd) if target != spec else []
    if not documents:
        raise NotInIndex(f"{target}: not in the index (rag get serves indexed documents only)")
    if len(documents) > 1:
        raise UsageError(
            f"{target}: holds {len(documents)} documents; name one with #DOC_ID "
            f"(e.g. #{documents[0].doc_id}) or use multi_get"
        )
    return documents[0], start, count, None


def _chunk_target(store, chunk_id: int):
    chunk = store.chunks([chunk_id]).get(chunk_id)
    if chunk is None:
        raise NotInIndex(f"chunk {chunk_id}: not in the index")
    doc = next((d for d in _documents(store) if d.doc_id == chunk.doc_id), None)
    if doc is None:
        raise NotInIndex(f"chunk {chunk_id}: its document is not in the index")
    return doc, None, None, chunk


# the text of a document -----------------------------------------------------------------
def _file_record(store, path: str) -> tuple[str, int] | None:
    catalog = getattr(store, "catalog", None)
    if catalog is None:
        return None
    row = catalog.db.execute("SELECT sha256, size FROM files WHERE path = ?", (path,)).fetchone()
    return None if row is None else (row[0], int(row[1]))


def _unchanged_file_text(store, doc) -> str | None:
    """The file's text if its bytes still hash to what the index recorded, else None."""
    from ragcli.errors import LoadError
    from ragcli.load.reading import decode_text

    record = _file_record(store, doc.file)
    if record is None:
        return None
    sha256, size = record
    try:
        with open(doc.file, "rb") as handle:
            data = handle.read(size + 1)
    except OSError:
        return None
    if len(data) != size or hashlib.sha256(data).hexdigest() != sha256:
        return None
    try:
        return decode_text(data)
    except LoadError:
        return None


def _chunks_of(store, doc) -> list:
    from ragcli.types import SearchFilter

    restriction = store.restrict(SearchFilter(doc_ids=[doc.doc_id]))
    ids = [] if restriction is None or restriction.chunk_ids is None else restriction.chunk_ids
    chunks = list(store.chunks([int(i) for i in ids]).values())
    return sorted(chunks, key=lambda chunk: (chunk.start, chunk.end))


def rebuild_text(chunks: list) -> str:
    """A document's text from its (overlapping) chunks, in order. A gap between chunks is
    whitespace in the original: it becomes as many line breaks as the chunks' line
    numbers show (or a blank line between pages/sections)."""
    parts: list[str] = []
    cursor = None
    previous = None
    for chunk in chunks:
        if cursor is None or chunk.start >= cursor:
            if previous is not None:
                parts.append(_gap(previous, chunk))
            parts.append(chunk.text)
        else:
            parts.append(chunk.text[cursor - chunk.start :])
        if cursor is None or chunk.end > cursor:
            cursor, previous = chunk.end, chunk
    return "".join(parts)


def _gap(before, after) -> str:
    if after.start == before.end:
        return ""
    ends, starts = before.location.line_end, after.location.line_start
    if ends is not None and starts is not None:
        return "\n" * max(0, starts - ends) or " "
    return "\n\n"


# ranges -------------------------------------------------------------------------------
def _line_range(text: str, start: int | None, count: int | None) -> tuple[str, int, int, int]:
    lines = text.split("\n")
    if lines and lines[-1] == "" and len(lines) > 1:
        lines.pop()
    total = len(lines)
    first = max(1, start or 1)
    last = total if count is None else min(total, first + count - 1)
    chosen = lines[first - 1 : last]
    body = "\n".join(chosen) + ("\n" if chosen else "")
    return body, first, max(first - 1, last), total


def _limit(body: str, max_bytes: int) -> tuple[str, bool]:
    """``body`` cut to ``max_bytes`` of UTF-8 at a line break where there is one."""
    data = body.encode("utf-8")
    if len(data) <= max_bytes:
        return body, False
    cut = data[:max_bytes].decode("utf-8", errors="ignore")
    newline = cut.rfind("\n")
    return (cut[: newline + 1] if newline > 0 else cut), True


def _check_range(start: int | None, count: int | None) -> None:
    if start is not None and start < 1:
        raise UsageError(f"line/page numbers start at 1, not {start}")
    if count is not None and count < 1:
        raise UsageError(f"the count of lines/pages must be at least 1, not {count}")


def _bounded(max_bytes: int | None, default: int) -> int:
    if max_bytes is None:
        return default
    if max_bytes < 1:
        raise UsageError(f"max_bytes must be at least 1, not {max_bytes}")
    return min(max_bytes, HARD_MAX_BYTES)


def get(
    store,
    spec: str,
    *,
    start: int | None = None,
    count: int | None = None,
    max_bytes: int | None = None,
    cwd: Path | None = None,
) -> DocumentText:
    """One document (or a line/page range of it) named by ``spec`` (module docstring).

    ``start``/``count`` given here win over a range written in the spec."""
    _check_range(start, count)
    doc, spec_start, spec_count, chunk = _resolve_one(store, spec, cwd)
    start = start if start is not None else spec_start
    count = count if count is not None else spec_count
    _check_range(start, count)
    limit = _bounded(max_bytes, DEFAULT_MAX_BYTES)
    if chunk is not None and start is None:
        return _chunk_text(store, doc, chunk, limit)
    return _document_text(store, doc, start, count, limit)


def _document_text(store, doc, start, count, limit: int) -> DocumentText:
    if doc.kind == "pdf":
        return _pages_text(store, doc, start, count, limit)
    if doc.kind in SLIDE_KINDS:
        return _pages_text(store, doc, start, count, limit, unit="slide")
    text = _unchanged_file_text(store, doc) if doc.kind in LINE_KINDS else None
    origin = "file" if text is not None else "index"
    if text is None:
        text = rebuild_text(_chunks_of(store, doc))
    body, first, last, total = _line_range(text, start, count)
    body, truncated = _limit(body, limit)
    if truncated:
        last = first + body.count("\n") - 1
    return DocumentText(
        doc.doc_id, doc.source, doc.kind, doc.title, body, "line", first, last, total, origin,
        truncated,
    )  # fmt: skip


def _pages_text(store, doc, start, count, limit: int, unit: str = "page") -> DocumentText:
    by_page: dict[int, list] = {}
    for chunk in _chunks_of(store, doc):
        by_page.setdefault(getattr(chunk.location, unit) or 1, []).append(chunk)
    numbers = sorted(by_page)
    total = numbers[-1] if numbers else 0
    first = start or 1
    last = total if count is None else min(total, first + count - 1)
    pages, used, truncated = [], 0, False
    for number in (n for n in numbers if first <= n <= last):
        page_text, cut = _limit(rebuild_text(by_page[number]), limit - used)
        if page_text:
            pages.append((number, page_text))
        used += len(page_text.encode("utf-8"))
        if cut:
            truncated, last = True, number
            break
    text = "\n\n".join(page_text for _, page_text in pages)
    result = DocumentText(
        doc.doc_id, doc.source, doc.kind, doc.title, text, unit, first, max(first - 1, last),
        total, "index", truncated,
    )  # fmt: skip
    result.pages = pages
    return result


def _chunk_text(store, doc, chunk, limit: int) -> DocumentText:
    where = chunk.location
    if where.line_start is not None and doc.kind in LINE_KINDS:
        count = (where.line_end or where.line_start) - where.line_start + 1
        result = _document_text(store, doc, where.line_start, count, limit)
    elif where.page is not None or where.slide is not None:
        unit = "page" if where.page is not None else "slide"
        number = getattr(where, unit)
        result = _pages_text(store, doc, number, 1, limit, unit)
        body, truncated = _limit(chunk.text, limit)
        result.text, result.truncated, result.pages = body, truncated, [(number, body)]
    else:
        body, truncated = _limit(chunk.text, limit)
        result = DocumentText(
            doc.doc_id, doc.source, doc.kind, doc.title, body, "line", 1,
            body.count("\n") + 1, body.count("\n") + 1, "index", truncated,
        )  # fmt: skip
    result.chunk_id = chunk.chunk_id
    return result


# several documents --------------------------------------------------------------------
@dataclass
class MultiGet:
    documents: list[DocumentText]
    skipped: list[dict[str, Any]]  # {"spec": ..., "reason": ...[, "count": n]}
    skipped_total: int = 0  # specs and documents skipped, listed or not

    def to_dict(self) -> dict[str, Any]:
        return {
            "documents": [doc.to_dict() for doc in self.documents],
            "skipped": self.skipped,
            "skipped_total": self.skipped_total,
        }


def multi_get(
    store,
    specs: list[str] | str,
    *,
    max_bytes: int | None = None,
    max_documents: int | None = None,
    cwd: Path | None = None,
) -> MultiGet:
    """Every document a glob or a list of specs names, each cut to ``max_bytes``; at most
    ``max_documents`` (the rest are summarised in ``skipped`` as one entry with their
    count). A spec that names nothing is skipped with its reason, not an error, unless
    nothing at all was found; at most ``MAX_SKIPPED`` skipped entries are listed."""
    specs = [specs] if isinstance(specs, str) else list(specs)
    if not specs:
        raise UsageError("give at least one path, glob, #DOC_ID or chunk id")
    limit = _bounded(max_bytes, DEFAULT_MULTI_MAX_BYTES)
    most = min(max_documents or MAX_DOCUMENTS, MAX_DOCUMENTS)
    found: list[DocumentText] = []
    skipped: list[dict[str, Any]] = []
    over: list[str] = []  # sources beyond ``most``
    seen: set[tuple[str, Any]] = set()
    for spec in specs:
        try:
            targets = _expand(store, spec, cwd)
        except RagError as err:
            skipped.append({"spec": spec, "reason": str(err)})
            continue
        for doc, start, count, chunk in targets:
            key = (doc.doc_id, chunk.chunk_id if chunk else (start, count))
            if key in seen:
                continue
            seen.add(key)
            if len(found) >= most:
                over.append(doc.source)
                continue
            if chunk is not None:
                found.append(_chunk_text(store, doc, chunk, limit))
            else:
                found.append(_document_text(store, doc, start, count, limit))
    if not found:
        reasons = "; ".join(item["reason"] for item in skipped[:3])
        raise NotInIndex(reasons or "nothing in the index matched")
    total = len(skipped) + len(over)
    listed = skipped[: MAX_SKIPPED - 1 if over else MAX_SKIPPED]
    if over:
        more = f" and {len(over) - 1} more" if len(over) > 1 else ""
        reason = f"over {most} documents"
        listed.append({"spec": f"{over[0]}{more}", "reason": reason, "count": len(over)})
    return MultiGet(found, listed, total)


def _expand(store, spec: str, cwd: Path | None) -> list:
    spec = spec.strip()
    if not is_glob(spec):
        documents = [] if spec.isdigit() else find_documents(store, spec, cwd)
        if len(documents) > 1:  # a JSONL file: every record in it
            return [(doc, None, None, None) for doc in documents]
        return [_resolve_one(store, spec, cwd)]
    from ragcli.store.base import matching_documents
    from ragcli.types import SearchFilter

    wanted = set(matching_documents(_documents(store), SearchFilter(paths=[spec])))
    documents = sorted((d for d in _documents(store) if d.doc_id in wanted), key=_by_source)
    if not documents:
        raise NotInIndex(f"{spec}: no indexed document matches")
    return [(doc, None, None, None) for doc in documents]


def _by_source(doc) -> tuple[str, str]:
    return doc.source, doc.doc_id


def hit_files(hits) -> list[str]:
    """The sources of ``hits``, best first, each once (``rag search --files``)."""
    seen: dict[str, None] = {}
    for hit in hits:
        seen.setdefault(hit.chunk.source, None)
    return list(seen)


def file_list(store, skipped: list[dict[str, str]] | None) -> dict[str, Any]:
    """``{"indexed": [{"path", "kinds", "documents"}], "skipped": skipped}``: the indexed
    files of ``store``, each with its document kinds and count, sorted by path."""
    by_file: dict[str, dict[str, Any]] = {}
    for info in store.documents():
        entry = by_file.setdefault(info.source, {"path": info.source, "kinds": [], "documents": 0})
        entry["documents"] += 1
        if info.kind not in entry["kinds"]:
            entry["kinds"].append(info.kind)
    return {"indexed": sorted(by_file.values(), key=lambda e: e["path"]), "skipped": skipped}
