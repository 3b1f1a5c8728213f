"""JSONL corpora (.jsonl): one document per line, BEIR ``corpus.jsonl`` layout.

Each line is an object with an id (``_id``, ``id`` or ``doc_id``), a body (``text``,
``contents`` or ``body``) and optionally a ``title``. ``Document.text`` is the body only;
the title goes to ``Document.title`` (``text.index_text`` puts it before every chunk).
A record with a title and no body is its title (bibliographic collections have many:
they must be found by their title). Blank lines are skipped; anything else that is not
a usable record raises ``LoadError("line N: ...")`` so an evaluation corpus is never
silently partial. Records with neither body nor title are kept, with no sections.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ragcli.errors import BadJsonLine, LoadError, json_object, warn
from ragcli.load.reading import SNIFF_BYTES, looks_binary, os_reason, relative_id
from ragcli.types import Document, Section

EXTENSIONS = (".jsonl",)

ID_KEYS = ("_id", "id", "doc_id", "docid")
TEXT_KEYS = ("text", "contents", "body")


def _field(record: dict, keys: tuple[str, ...]) -> tuple[str | None, object]:
    for key in keys:
        if key in record:
            return key, record[key]
    return None, None


def iter_jsonl(path: Path, root: Path) -> Iterator[Document]:
    """Documents one by one, streaming the file.

    An error can come after some documents were yielded: callers that must not end up
    with a partial corpus should collect everything first (as ``load_file`` does).
    """
    source = relative_id(path, root)
    seen: dict[str, int] = {}
    try:
        handle = path.open("rb")
    except OSError as err:
        raise LoadError(os_reason(err)) from None
    with handle:
        try:
            head = handle.read(SNIFF_BYTES)
            handle.seek(0)
        except OSError as err:
            raise LoadError(os_reason(err)) from None
        if not head:
            raise LoadError("empty file")
        if looks_binary(head):
            raise LoadError("binary data, not text")
        lineno = 0
        while True:
            try:
                raw = handle.readline()
            except OSError as err:
                raise LoadError(f"line {lineno + 1}: {os_reason(err)}") from None
            if not raw:
                break
            lineno += 1
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise LoadError(f"line {lineno}: not valid UTF-8") from None
            try:
                record = json_object(line)
            except BadJsonLine as err:
                raise LoadError(f"line {lineno}: {err}") from None
            except RecursionError:  # one hostile record; the others are kept
                warn(f"{source}: line {lineno}: record nested too deeply to parse, skipped")
                continue
            yield _document(record, lineno, source, seen)
    if not seen:
        raise LoadError("no records (only blank lines)")


def _document(record: dict, lineno: int, source: str, seen: dict[str, int]) -> Document:
    id_key, raw_id = _field(record, ID_KEYS)
    if id_key is None:
        raise LoadError(f"line {lineno}: no id field ({', '.join(ID_KEYS)})")
    if not isinstance(raw_id, str | int) or isinstance(raw_id, bool) or str(raw_id) == "":
        raise LoadError(f"line {lineno}: {id_key} must be a non-empty string or integer")
    doc_id = str(raw_id)
    if doc_id in seen:
        raise LoadError(f"line {lineno}: duplicate id {doc_id!r} (first on line {seen[doc_id]})")
    seen[doc_id] = lineno

    text_key, text = _field(record, TEXT_KEYS)
    if text_key is None:
        raise LoadError(f"line {lineno}: no text field ({', '.join(TEXT_KEYS)})")
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise LoadError(f"line {lineno}: {text_key} must be a string")
    title = record.get("title")
    if title is None:
        title = ""
    if not isinstance(title, str):
        raise LoadError(f"line {lineno}: title must be a string")

    title = title.strip()
    if not text.strip():
        text = title
    metadata: dict = {"line": lineno}
    extra = record.get("metadata")
    if isinstance(extra, dict) and extra:
        metadata["record"] = extra
    return Document(
        doc_id=doc_id,
        source=source,
        title=title,
        kind="jsonl",
        text=text,
        sections=[Section(0, len(text))] if text.strip() else [],
        metadata=metadata,
    )


def load_jsonl(path: Path, root: Path) -> list[Document]:
    return list(iter_jsonl(path, root))
