"""What a model reads: the text content of MCP tool results, short and bounded.

The full records go to ``structuredContent``; the text is a numbered list of hits (source,
location, the passage that matched), a document with a one-line header, or a few lines of
status, always within a byte budget. Nothing here repeats the JSON.
"""

from __future__ import annotations

from typing import Any

from ragcli.text import snippet

DEFAULT_SEARCH_BYTES = 6000  # ten hits with their 300-character passages fit
MIN_SEARCH_BYTES = 500
MAX_SEARCH_BYTES = 200_000
SNIPPET_CHARS = 300
MIN_SNIPPET_CHARS = 80
LIST_ITEMS = 20  # names listed at most in one line of status or skipped specs


def fit(text: str, budget: int) -> str:
    """``text`` cut to ``budget`` UTF-8 bytes (at a character boundary) with a marker."""
    data = text.encode("utf-8")
    if len(data) <= budget:
        return text
    marker = "\n[cut at the byte budget]"
    keep = max(0, budget - len(marker.encode()))
    return data[:keep].decode("utf-8", "ignore") + marker


def freshness_line(freshness: dict[str, Any] | None) -> str | None:
    """One line when the indexed folders moved on since the generation that answered."""
    from ragcli.freshness import summary

    stale = summary(freshness)
    if stale is None:
        return None
    examples = (freshness or {}).get("examples") or []
    shown = f" (e.g. {', '.join(examples[:3])})" if examples else ""
    return (
        f"Index is behind its folders: {stale}{shown}; "
        "results do not reflect them until re-ingested."
    )


def location_text(hit: dict[str, Any]) -> str:
    """``lines 40-58 · Setup > Install`` or ``p. 3`` (empty when nothing is known)."""
    from ragcli.types import Location

    location = Location.from_dict(hit.get("location") or {})
    return location.describe().replace(", ", " · ")


def get_spec(hit: dict[str, Any]) -> str:
    """The ``get`` spec that reads the hit's own lines or page, else its chunk id."""
    where = hit.get("location") or {}
    start, end = where.get("line_start"), where.get("line_end")
    if start is not None:
        return f"{hit['source']}:{start}:{(end or start) - start + 1}"
    for unit in ("page", "slide"):
        if where.get(unit) is not None:
            return f"{hit['source']}:{where[unit]}:1"
    return str(hit["chunk_id"])


def search_text(record: dict[str, Any], max_bytes: int | None = None) -> str:
    """A search record as a numbered list of hits within ``max_bytes`` (default 6000).

    Passages are narrowed (to no less than 80 characters) before hits are dropped; the
    hits left out are counted at the end.
    """
    budget = max_bytes or DEFAULT_SEARCH_BYTES
    subs = [sub["query"] for sub in record.get("searches") or [] if sub["type"] != "hyde"]
    query = " ".join([record["query"], *subs]).strip()
    lines = [_search_header(record)]
    note = record.get("rerank_note")
    if note:
        lines.append(f"Not reranked: {note}")
    stale = freshness_line(record.get("freshness"))
    if stale:
        lines.append(stale)
    if "files" in record:
        body = [f"{n}. {source}" for n, source in enumerate(record["files"], 1)]
        return _within(lines, body, budget, "files")
    hits = record.get("results") or []
    if not hits:
        lines.append("No hits. Try other words, a question instead of names, or mode=sparse.")
        return fit("\n".join(lines), budget)
    head = len("\n".join(lines).encode()) + 64
    per_hit = (budget - head) // len(hits)
    width = max(MIN_SNIPPET_CHARS, min(SNIPPET_CHARS, per_hit - 120))
    body = [_hit_text(hit, query, width) for hit in hits]
    return _within(lines, body, budget, "hits")


def _search_header(record: dict[str, Any]) -> str:
    count = len(record.get("results") or record.get("files") or [])
    how = [record.get("mode") or ""]
    if record.get("reranked"):
        how.append("reranked")
    shown = ", ".join(part for part in how if part)
    asked = [f'"{record["query"]}"'] if record["query"] else []
    asked += [f'{sub["type"]} "{_short(sub["query"])}"' for sub in record.get("searches") or []]
    return (
        f"{count} result{'s' if count != 1 else ''} for {' + '.join(asked)}"
        + (f" ({shown})" if shown else "")
        + '. Read more with get(spec="SOURCE:LINE:COUNT"); full records are in structuredContent.'
    )


def _short(text: str, width: int = 80) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _hit_text(hit: dict[str, Any], query: str, width: int) -> str:
    where = location_text(hit)
    title = hit.get("title") or ""
    head = f"[{hit['rank']}] {hit['source']}"
    if where:
        head += f" · {where}"
    elif title and title != hit["source"]:
        head += f" · {title}"
    head += f" · score {hit['score']:.3g} · get {get_spec(hit)}"
    given = hit.get("snippet") or {}
    passage = given.get("text") if width >= SNIPPET_CHARS and given else None
    if passage is None:
        passage = snippet(hit.get("text") or "", query, width).text
    return f"{head}\n    {passage}"


def _within(lines: list[str], body: list[str], budget: int, noun: str) -> str:
    """``lines`` then as many of ``body`` as fit in ``budget`` bytes, the rest counted."""
    used = len("\n".join(lines).encode())
    shown = 0
    for item in body:
        size = len(item.encode()) + 1
        if used + size + 80 > budget and shown:
            break
        lines.append(item)
        used += size
        shown += 1
    if shown < len(body):
        lines.append(
            f"... {len(body) - shown} more {noun} not shown (byte budget {budget}; "
            "raise max_bytes, lower k, or read structuredContent)."
        )
    return fit("\n".join(lines), budget)


def document_text(record: dict[str, Any]) -> str:
    """One document (``get``): a header naming what the text is, then the text."""
    unit = record.get("unit", "line")
    start, end, total = record.get("start"), record.get("end"), record.get("total")
    head = f"{record['source']} ({record.get('kind', '')}) {unit}s {start}-{end} of {total}"
    if record.get("truncated"):
        spec = f"{record['source']}:{(end or 0) + 1}"
        head += f"; cut at max_bytes, continue with get(spec={spec!r})"
    elif end is not None and total is not None and end < total:
        head += f"; more with get(spec={record['source'] + ':' + str(end + 1)!r})"
    return f"{head}\n\n{record['text']}"


def multi_get_text(record: dict[str, Any]) -> str:
    parts = [document_text(doc) for doc in record.get("documents", [])]
    skipped = record.get("skipped") or []
    if skipped:
        listed = skipped[:5]
        total = record.get("skipped_total", len(skipped))
        counted = sum(item.get("count", 1) for item in listed)
        shown = "; ".join(f"{item['spec']}: {item['reason']}" for item in listed)
        more = f" (and {total - counted} more)" if total > counted else ""
        parts.append(f"Skipped {total}: {shown}{more}")
    return "\n\n".join(parts)


def status_text(record: dict[str, Any]) -> str:
    counts = record.get("counts") or {}
    kinds = record.get("kinds") or {}
    kinds_shown = ", ".join(f"{kind} {n}" for kind, n in list(kinds.items())[:LIST_ITEMS])
    roots = record.get("roots") or []
    lines = [
        f"Index {record['index']}: generation {record.get('generation')}, "
        f"{counts.get('documents', 0)} documents, {counts.get('chunks', 0)} chunks, "
        f"updated {record.get('updated_at')}.",
        f"Kinds: {kinds_shown or 'none'}.",
        f"Folders: {', '.join(roots[:LIST_ITEMS]) or 'none'}"
        + (f" (and {len(roots) - LIST_ITEMS} more)" if len(roots) > LIST_ITEMS else "")
        + ".",
        f"Embedding model: {record.get('embed_model')}; rerank: "
        f"{(record.get('rerank') or {}).get('use', 'unknown')}.",
    ]
    stale = freshness_line(record.get("freshness"))
    fresh = record.get("freshness") or {}
    if stale:
        lines.append(stale)
    elif fresh.get("checked"):
        lines.append("Up to date with its folders (sizes and modification times checked).")
    return "\n".join(lines)


def ask_text(record: dict[str, Any]) -> str:
    sources = record.get("sources") or []
    listed = "\n".join(
        f"[{source.get('n', n)}] {source.get('source', '')}"
        + (f" · {where}" if (where := location_text(source)) else "")
        for n, source in enumerate(sources[:LIST_ITEMS], 1)
    )
    return f"{record.get('answer', '')}\n\n{listed}".strip()
