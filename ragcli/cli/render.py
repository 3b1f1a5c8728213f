"""Output helpers shared by the CLI commands: JSON, plain text, or rich on a terminal.

rich is imported only when something is drawn on a terminal, so piped and --json runs
never pay for it.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO

from ragcli import errors
from ragcli.text import snippet as best_snippet


def is_terminal(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stdout
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False


def use_color(stream: TextIO | None = None) -> bool:
    return is_terminal(stream) and "NO_COLOR" not in os.environ


def console(stderr: bool = False):  # -> rich.console.Console
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(file=stream, no_color=not use_color(stream), highlight=False, soft_wrap=False)


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=_default)


def print_json(obj: Any, indent: bool = False) -> None:
    text = json.dumps(obj, ensure_ascii=False, indent=2 if indent else None, default=_default)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _default(obj: Any) -> Any:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    return str(obj)


def error(message: str) -> None:
    """One line on stderr, prefixed so scripts can grep it."""
    sys.stderr.write(f"rag: error: {errors.message_line(message)}\n")
    sys.stderr.flush()


warn = errors.warn


# ingest ---------------------------------------------------------------------------
class _NoProgress:
    def __enter__(self):
        return None

    def __exit__(self, *exc: object) -> None:
        return None


PREPARE_NOTE = (
    "Preparing the embedding model for this machine: once, about 30 s "
    "(an ONNX export into the cache)"
)
STAGE_LABELS = {
    "prepare": "Preparing the model",
    "load": "Loading files",
    "chunk": "Splitting documents",
    "embed": "Embedding chunks",
    "write": "Writing the index",
}
IDLE_SECONDS = 5.0  # a bar not moved for this long (or 3 of its usual steps) has no ETA


def _idle(fields: dict[str, Any], now: float) -> bool:
    """Whether a bar has stopped moving (another stage works): no ETA is shown for it."""
    last, first, moves = fields.get("moved"), fields.get("first_moved"), fields.get("moves", 0)
    if last is None:
        return True
    step = (last - first) / (moves - 1) if first is not None and moves > 1 else 0.0
    return now - last > max(IDLE_SECONDS, 3 * step)


def _progress_columns(width: int):
    """Description, bar, count ("n/m", or "n" while the total is not known), elapsed and
    ETA, both labelled; the ETA is only shown while the bar moves and its total is known."""
    import time

    from rich.progress import BarColumn, ProgressColumn, SpinnerColumn, TextColumn
    from rich.table import Column
    from rich.text import Text

    def one_line() -> Column:
        return Column(no_wrap=True, overflow="ellipsis")

    def clock(seconds: float) -> str:
        seconds = int(seconds)
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"

    class Count(ProgressColumn):
        def render(self, task):
            if not task.fields.get("counted"):
                return Text("")
            if task.total is None:
                return Text(f"{int(task.completed)}")
            return Text(f"{int(task.completed)}/{int(task.total)}")

    class Times(ProgressColumn):
        def render(self, task):
            if task.finished:  # the time it took, no longer counting
                return Text(f"done in {clock(task.finished_time or task.elapsed or 0)}")
            elapsed = f"elapsed {clock(task.elapsed or 0)}"
            idle = _idle(task.fields, time.monotonic())
            remaining = task.time_remaining
            if task.total is None or idle or remaining is None:
                return Text(f"{elapsed}  ETA -")
            return Text(f"{elapsed}  ETA {clock(remaining)}")

    return (
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}", table_column=one_line()),
        BarColumn(bar_width=_bar_width(width)),
        Count(table_column=one_line()),
        Times(table_column=one_line()),
    )


def _bar_width(width: int) -> int:
    """The bar's share of a ``width``-column terminal: up to 30 columns, at least 5, so
    that a line never wraps (a wrapped ETA reads as a second bar); on a terminal too
    narrow even for that the description is cut with an ellipsis instead."""
    label = max(len(text) for text in STAGE_LABELS.values())
    others = 2 + label + 1 + len("99999/99999") + 1 + len("elapsed 0:00:00  ETA 0:00:00") + 2
    return max(5, min(30, width - others))


class _RichProgress:
    """A rich progress bar on stderr; the callback is ``progress(stage, done, total)``."""

    def __enter__(self):
        import time

        from rich.progress import Progress

        screen = console(stderr=True)
        self._bar = Progress(
            *_progress_columns(screen.width),
            console=screen,
            transient=True,
            speed_estimate_period=15,
        )
        self._bar.__enter__()
        self._tasks: dict[str, Any] = {}

        moves: dict[str, tuple[float, int]] = {}

        def update(stage: str, done: int, total: int | None) -> None:
            label = STAGE_LABELS.get(stage, stage)
            now = time.monotonic()
            if stage not in self._tasks:
                if stage == "prepare":  # said once, above the bars, in full
                    self._bar.console.print(PREPARE_NOTE, highlight=False)
                self._tasks[stage] = self._bar.add_task(
                    label, total=total, counted=stage != "prepare"
                )
            first, count = moves.get(stage, (now, 0))
            moves[stage] = (first, count + 1)
            self._bar.update(
                self._tasks[stage], completed=done, total=total,
                moved=now, first_moved=first, moves=count + 1,
            )  # fmt: skip

        return update

    def __exit__(self, *exc: object) -> None:
        self._bar.__exit__(*exc)


def ingest_progress():
    """A progress callback context: a bar when stderr is a terminal, else nothing."""
    return _RichProgress() if is_terminal(sys.stderr) else _NoProgress()


def ingest_summary(report: Any) -> None:
    data = report.to_dict()
    counts = data["counts"]
    out = sys.stdout
    out.write(
        f"{counts['added']} added, {counts['updated']} updated, {counts['removed']} removed, "
        f"{counts['unchanged']} unchanged, {counts['skipped']} skipped; "
        f"index has {data['documents']} documents, {data['chunks']} chunks "
        f"({_seconds(data)})\n"
    )
    if data["skipped"] and _nothing_changed(counts):
        # The same files as last time: one line, not the list again.
        n = len(data["skipped"])
        sys.stderr.write(
            f"rag: {n} {'file' if n == 1 else 'files'} skipped, as before "
            "(rag status --files lists them with the reason)\n"
        )
        return
    not_indexed: dict[str, int] = {}
    empty = [skip for skip in data["skipped"] if skip["reason"].startswith(_EMPTY)]
    for skip in data["skipped"]:
        reason = skip["reason"]
        if reason.startswith(_UNSUPPORTED):
            kind = reason[len(_UNSUPPORTED) :].strip() or "?"
            not_indexed[kind] = not_indexed.get(kind, 0) + 1
        elif not (reason.startswith(_EMPTY) and len(empty) > _EMPTY_LISTED):
            path, reason = errors.printable(skip["path"]), errors.message_line(reason)
            sys.stderr.write(f"rag: skipped {path}: {reason}\n")
    if len(empty) > _EMPTY_LISTED:  # a package's empty __init__.py files: one line
        sys.stderr.write(
            f"rag: skipped {len(empty)} empty files, e.g. {errors.printable(empty[0]['path'])} "
            "(rag status --files lists them)\n"
        )
    if not_indexed:
        total = sum(not_indexed.values())
        kinds = ", ".join(
            f"{n} {kind}" for kind, n in sorted(not_indexed.items(), key=lambda kv: (-kv[1], kv[0]))
        )
        noun = "file" if total == 1 else "files"
        sys.stderr.write(f"rag: {total} {noun} not indexed: {errors.printable(kinds)}\n")


_UNSUPPORTED = "unsupported type"
_EMPTY = "empty file"
_EMPTY_LISTED = 3  # more empty files than this are counted in one line, not listed
PREPARED_SECONDS = 2.0  # model time above this was a first run's preparation, said apart


def _seconds(data: dict[str, Any]) -> str:
    """The wait, said to be the whole of it, and how much of it preparing the model took
    when that was the long part (a first run's ONNX export)."""
    said = f"{data['seconds']:.1f} s in all"
    model = (data.get("timings") or {}).get("model", 0.0)
    if model >= PREPARED_SECONDS:
        said += f", {model:.0f} s of it preparing the embedding model"
    return said


def _nothing_changed(counts: dict[str, int]) -> bool:
    return counts["unchanged"] > 0 and not (
        counts["added"] or counts["updated"] or counts["removed"]
    )


def file_list(files: dict[str, Any]) -> None:
    """`rag status --files`: one line per indexed file, then per skipped file."""
    lines = []
    for entry in files.get("indexed", []):
        kinds = ",".join(entry["kinds"])
        many = f", {entry['documents']} documents" if entry["documents"] > 1 else ""
        lines.append(f"indexed  {entry['path']}  ({kinds}{many})")
    skipped = files.get("skipped")
    for entry in skipped or []:
        lines.append(f"skipped  {entry['path']}  {errors.message_line(entry['reason'])}")
    if skipped is None:
        lines.append("skipped  (not recorded for this index: run rag ingest again)")
    sys.stdout.write("".join(errors.printable(line) + "\n" for line in lines))


def status_summary(info: dict[str, Any]) -> None:
    counts = info.get("counts") or {}
    kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(info.get("kinds", {}).items()))
    where = info["index"]
    if info.get("generation") is not None:
        where += f" (generation {info['generation']})"
    lines = [
        f"index       {where}",
        f"files       {counts.get('files', 0)}  documents {counts.get('documents', 0)}"
        f"  chunks {counts.get('chunks', 0)}",
        f"kinds       {kinds or '-'}",
        f"model       {info.get('embed_model')} ({info.get('dimension')} dims)",
        *([f"embedding   {_embedding(info['embedding'])}"] if info.get("embedding") else []),
        f"chunking    {_chunking(info.get('chunking'))}",
        *([f"bm25        {_bm25(info['bm25'])}"] if isinstance(info.get("bm25"), dict) else []),
        f"search      {_pairs(info.get('search'))}",
        *([f"rerank      {_rerank(info['rerank'])}"] if info.get("rerank") else []),
        *([f"size        {_human_bytes(info['total_bytes'])}"] if "total_bytes" in info else []),
        f"updated     {info.get('updated_at')}",
        f"roots       {', '.join(info.get('roots', [])) or '-'}",
        *([f"fresh       {_fresh(info['freshness'])}"] if info.get("freshness") else []),
        *[
            f"server      {server['url']} (MCP {server['mcp']}, pid {server['pid']})"
            for server in info.get("servers", [])
        ],
    ]
    sys.stdout.write("\n".join(errors.printable(line) for line in lines) + "\n")


def _embedding(embedding: dict[str, Any]) -> str:
    """``int8-fused, device cpu (no GPU found), query prompt 'query: '``."""
    parts = [str(embedding.get("variant"))]
    if "server" in embedding:
        parts.append(f"server {embedding['server']}")
    device = embedding.get("device")
    if isinstance(device, dict):
        onnx, torch = device.get("onnx"), device.get("torch")
        parts.append(f"device {onnx}" if onnx == torch else f"device onnx {onnx}, torch {torch}")
    for key in ("query_prompt", "document_prompt", "dimensions"):
        if key in embedding:
            parts.append(f"{key.replace('_', ' ')} {embedding[key]!r}")
    return ", ".join(parts)


def _fresh(record: dict[str, Any]) -> str:
    from ragcli.freshness import summary

    if not record.get("checked"):
        return f"not checked ({record.get('reason')})"
    stale = summary(record)
    if stale is None:
        return "yes: no file changed, appeared or vanished in the roots"
    examples = ", ".join(record.get("examples") or [])
    return f"no: {stale} ({examples}); run `rag ingest` to catch up"


def _chunking(chunking: Any) -> str:
    if not isinstance(chunking, dict):
        return str(chunking or "-")
    return f"{chunking.get('size')} tokens, {chunking.get('overlap')} overlap"


def _bm25(bm25: dict[str, Any]) -> str:
    stemmer, stopwords = bm25.get("stemmer") or "no", bm25.get("stopwords") or "no"
    extras = [
        label
        for key, label in (("names", "code names whole"), ("headings", "heading paths"))
        if bm25.get(key)
    ]
    return (
        f"{bm25.get('method')} k1 {bm25.get('k1')} b {bm25.get('b')}, {stemmer} stemmer, "
        f"{stopwords} stopwords" + "".join(f", {extra}" for extra in extras)
    )


def _pairs(values: Any) -> str:
    if not isinstance(values, dict):
        return "-"
    return "  ".join(f"{key.replace('_', '-')} {value}" for key, value in values.items())


def _rerank(entry: dict[str, Any]) -> str:
    return f"{entry['use']}  {entry['model']} ({entry['where']})"


def _human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


# search ---------------------------------------------------------------------------
def search_plain(query: str, hits: list[Any]) -> None:
    """Plain text for pipes: one block per hit, no colour."""
    lines = []
    for hit in hits:
        where = hit.chunk.location.describe()
        lines.append(
            errors.printable(f"{hit.rank}. {hit.chunk.source}{' (' + where + ')' if where else ''}")
            + f"  score={hit.score:.4f}"
        )
        lines.append(f"   {errors.printable(best_snippet(hit.chunk.text, query).text)}")
    sys.stdout.write("\n".join(lines) + ("\n" if lines else ""))


def search_rich(query: str, hits: list[Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    from ragcli.text import tokenize

    terms = set(tokenize(query))
    title = f"{len(hits)} results for {errors.printable(query)!r}"
    table = Table(show_lines=True, title=title, title_justify="left")
    table.add_column("#", justify="right", style="bold")
    table.add_column("source", overflow="fold", max_width=40)
    table.add_column("score", justify="right")
    table.add_column("text")
    for hit in hits:
        text = Text(errors.printable(best_snippet(hit.chunk.text, query, 400).text))
        for word_start, word in _words(text.plain):
            if tokenize(word) and tokenize(word)[0] in terms:
                text.stylize("bold yellow", word_start, word_start + len(word))
        where = errors.printable(hit.chunk.location.describe())
        source = Text(errors.printable(hit.chunk.source), style="cyan")
        if where:
            source.append(f"\n{where}", style="dim")
        parts = [f"{hit.score:.3f}"]
        for label, value in (("d", hit.dense), ("s", hit.sparse), ("r", hit.rerank)):
            if value is not None:
                parts.append(f"{label} {value:.2f}")
        table.add_row(str(hit.rank), source, "\n".join(parts), text)
    console().print(table)


def _words(text: str):
    import re

    for match in re.finditer(r"\w+", text):
        yield match.start(), match.group()
