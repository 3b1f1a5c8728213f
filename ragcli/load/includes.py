"""Code a page includes from another file, carried in the page's own text.

A Markdown page with an MkDocs snippet (``--8<-- "path"``, ``--8<-- "path:3:10"``) or
FastAPI's ``{* path ln[3:10] hl[3] *}``, and a reST page with ``.. literalinclude::``,
show code that lives in another file; indexed as written, the page has a placeholder and
its code ranks apart from it. Here the included text replaces the placeholder, under
these bounds:

- the file must be a regular file inside one of the folders being ingested (the roots
  of the current ``rag ingest``; outside an ingest, the root the page is loaded against),
  never the page itself; symlinks are resolved before the check;
- at most ``MAX_INCLUDE_BYTES`` per included file and ``MAX_INCLUDES`` per page (the rest
  keep their placeholder);
- included text is never expanded again, so includes cannot loop.

A path is tried relative to the page's folder, then (MkDocs resolves from its
configuration's folder, which a copied tree may not keep) without its leading ``../``
relative to the page's folder and each folder above it up to the root.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

MAX_INCLUDE_BYTES = 256 * 1024
MAX_INCLUDES = 200

_ROOTS: ContextVar[tuple[Path, ...] | None] = ContextVar("include_roots", default=None)
_LEADING_UP = re.compile(r"^(?:\.\.?/)+")


@contextmanager
def include_roots(roots: Sequence[Path]) -> Iterator[None]:
    """Within this block, included files must lie inside ``roots`` (the ingest's roots)."""
    resolved = tuple(_folder(Path(root)) for root in roots)
    token = _ROOTS.set(resolved)
    try:
        yield
    finally:
        _ROOTS.reset(token)


def _folder(path: Path) -> Path:
    path = path.expanduser().resolve()
    return path if path.is_dir() else path.parent


def allowed_roots(root: Path) -> tuple[Path, ...]:
    return _ROOTS.get() or (_folder(Path(root)),)


def resolve_include(page: Path, target: str, root: Path) -> Path | None:
    """The file ``target`` names from ``page``, or None when it is missing, outside the
    roots, the page itself, not a regular file, or larger than ``MAX_INCLUDE_BYTES``."""
    target = target.strip()
    if not target or "\x00" in target:
        return None
    roots = allowed_roots(root)
    page_real = page.resolve()
    for candidate in _candidates(page_real, target, roots):
        try:
            real = candidate.resolve(strict=True)
        except (OSError, RuntimeError):
            continue
        if real == page_real or not any(real.is_relative_to(r) for r in roots):
            continue
        try:
            if real.is_file() and real.stat().st_size <= MAX_INCLUDE_BYTES:
                return real
        except OSError:
            continue
    return None


def _candidates(page: Path, target: str, roots: tuple[Path, ...]) -> Iterator[Path]:
    if not target.startswith("/"):
        yield page.parent / target
    stripped = _LEADING_UP.sub("", target.lstrip("/"))
    folder = page.parent
    while True:
        yield folder / stripped
        if folder in roots or folder.parent == folder:
            return
        folder = folder.parent


def read_include(path: Path) -> str | None:
    """The included file's text (UTF-8, else None: binary or undecodable)."""
    try:
        data = path.read_bytes()[:MAX_INCLUDE_BYTES]
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return None if "\x00" in text else text


def select_lines(text: str, spec: str) -> str:
    """Lines of ``text`` chosen by ``spec``: "3:10" / "3-10" ranges, "5", or several
    separated by commas; an empty or unreadable spec keeps everything."""
    lines = text.splitlines()
    chosen: list[str] = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        found = re.fullmatch(r"(\d*)\s*[-:]\s*(\d*)|(\d+)", part)
        if not found:
            return text
        if found.group(3):
            first = last = int(found.group(3))
        else:
            first = int(found.group(1) or 1)
            last = int(found.group(2) or len(lines))
        chosen.extend(lines[max(first, 1) - 1 : last])
    return "\n".join(chosen) if chosen else text


LANGUAGE_OF_SUFFIX = {".py": "python", ".js": "javascript", ".ts": "typescript"}


# --------------------------------------------------------------------------------------
# Markdown

_FASTAPI = re.compile(r"^(?P<indent>[ \t]*)\{\*\s*(?P<path>\S+)(?P<options>[^*]*)\*\}[ \t]*$")
_SNIPPET = re.compile(
    r"""^(?P<indent>[ \t]*)-{1,}8<-{1,}[ \t]+(?P<q>["'])(?P<path>[^"']+)(?P=q)[ \t]*$"""
)
_LN = re.compile(r"\bln\[([^\]]*)\]")
_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})")


def expand_markdown(
    text: str, page: Path, root: Path
) -> tuple[str, list[tuple[int, int, int]] | None]:
    """``text`` with its includes replaced by the included code, and the line map of the
    result ((offset, first file line, last file line) per piece), or ``(text, None)``
    when nothing was included."""
    pieces: list[str] = []
    line_map: list[tuple[int, int, int]] = []
    offset = included = 0
    fence: str | None = None
    for number, line in enumerate(text.split("\n"), 1):
        opened = _FENCE.match(line)
        if opened:
            marker = opened.group(1)
            if fence is None:
                fence = marker
            elif marker.startswith(fence[0]) and len(marker) >= len(fence):
                fence = None
        piece = None
        if included < MAX_INCLUDES and not opened:
            piece = _expanded_line(line, page, root, inside_fence=fence is not None)
        if piece is not None:
            included += 1
        else:
            piece = line
        if pieces:
            offset += 1  # the "\n" joining the pieces
        line_map.append((offset, number, number))
        pieces.append(piece)
        offset += len(piece)
    if not included:
        return text, None
    return "\n".join(pieces), line_map


def _expanded_line(line: str, page: Path, root: Path, inside_fence: bool) -> str | None:
    found = _FASTAPI.match(line) or _SNIPPET.match(line)
    if found is None:
        return None
    target, spec = found.group("path"), ""
    if found.re is _FASTAPI:
        lines = _LN.search(found.group("options"))
        spec = lines.group(1) if lines else ""
    else:
        target, _, spec = target.partition(":")
    path = resolve_include(page, target, root)
    content = read_include(path) if path is not None else None
    if content is None:
        return None
    content = select_lines(content, spec).rstrip("\n")
    if inside_fence:
        return content
    language = LANGUAGE_OF_SUFFIX.get(path.suffix, path.suffix.lstrip("."))
    indent = found.group("indent")
    body = "\n".join(indent + x if x else x for x in content.split("\n"))
    return f"{indent}```{language}\n{body}\n{indent}```"
