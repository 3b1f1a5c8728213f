"""`rag search`: hybrid retrieval from the command line, one query or a batch."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, BinaryIO

import typer

from ragcli.cli import render
from ragcli.cli.app import app, handles_errors
from ragcli.cli.options import SEARCH, TARGET, Flags, JsonOpt, uses
from ragcli.errors import BadJsonLine, UsageError, json_object, require_utf8
from ragcli.types import result_record

QueryArg = Annotated[
    str | None, typer.Argument(help="The query; '-' reads it from stdin.", show_default=False)
]
BatchOpt = Annotated[
    Path | None,
    typer.Option("--batch", help="Queries from a file (JSONL or one per line); '-' = stdin."),
]

FilesOpt = Annotated[
    bool,
    typer.Option("--files", help="Print only the matching files, one path per line, best first."),
]


@app.command()
@handles_errors
@uses(SEARCH, TARGET)
def search(
    query: QueryArg = None,
    batch: BatchOpt = None,
    json_out: JsonOpt = False,
    files: FilesOpt = False,
    *,
    search: Flags,
    target: Flags,
) -> None:
    """Search the index. Exit code 0 with results, 1 when nothing matched, 2 on bad usage.

    --lex, --vec and --hyde add sub-queries (each repeatable), fused with the query into
    one ranking; with them the query may be left out."""
    expanded = bool(search.subqueries())
    if batch is None and query is None and not expanded:
        raise UsageError(
            "give a query, '-' to read it from stdin, --lex/--vec/--hyde, or --batch FILE"
        )
    if batch is not None and query is not None:
        raise UsageError("give either a query or --batch, not both")
    if batch is not None and expanded:
        raise UsageError("--lex, --vec and --hyde belong to one query: not with --batch")
    if files and (json_out or batch is not None):
        raise UsageError("--files prints paths only: not with --json or --batch")
    idx = target.open_index()
    if idx.exists():
        idx.start_freshness_check()  # on the other core while the query is encoded
    params = idx.settings.with_overrides(**search.overrides()).search_params(search.search_filter())
    if batch is not None:
        found_any = search_batch(idx, batch, params, json_out)
        raise typer.Exit(0 if found_any else 1)
    query = read_query(query) if query is not None else ""
    hits = idx.search(query, params=params)
    if files:
        from ragcli.documents import hit_files

        sys.stdout.write("".join(f"{path}\n" for path in hit_files(hits)))
    else:
        show_results(query, hits, params, json_out, idx)
    if not hits:
        if not json_out and not files:
            render.warn("no results" if idx.store.n_chunks else "the index is empty")
        raise typer.Exit(1)


def search_batch(idx, batch: Path, params, json_out: bool) -> bool:
    """Run every query of ``batch``, one result record each; whether any found a hit."""
    found_any = False
    for query_id, text in read_batch(batch):
        hits = idx.search(text, params=params)
        found_any = found_any or bool(hits)
        record = result_record(text, hits, params, idx.freshness())
        if query_id is not None:
            record = {"id": query_id, **record}
        if json_out or not render.is_terminal():
            render.print_json(record)
        else:
            render.search_rich(text, hits)
    return found_any


def show_results(query: str, hits: list, params, json_out: bool, idx) -> None:
    freshness = idx.freshness()
    if json_out:
        render.print_json(result_record(query, hits, params, freshness))
        return
    shown = params.snippet_words(query)
    if render.is_terminal():
        render.search_rich(shown, hits)
    else:
        render.search_plain(shown, hits)
    from ragcli.freshness import summary

    stale = summary(freshness)
    if stale:
        from ragcli.errors import warn

        warn(f"the index is behind its folders ({stale}): run `rag ingest` to catch up")


def read_query(query: str) -> str:
    """The query argument, or stdin for '-', as valid UTF-8 text."""
    from ragcli.cli.ask import read_stdin_text

    if query == "-":
        return read_stdin_text("query").strip()
    return require_utf8(query, "the query")


MAX_BATCH_LINE_BYTES = 100_000  # one query; a longer line is not a query
MAX_BATCH_BYTES = 200_000_000  # the whole batch, so `--batch /dev/zero` ends


def _batch_lines(path: Path, handle: BinaryIO) -> Iterator[tuple[int, str]]:
    """(line number, text) of a batch, bounded in line length and in total size."""
    total = 0
    number = 0
    while raw := handle.readline(MAX_BATCH_LINE_BYTES + 1):
        number += 1
        total += len(raw)
        if len(raw) > MAX_BATCH_LINE_BYTES:
            raise UsageError(f"{path}: line {number}: longer than {MAX_BATCH_LINE_BYTES:,} bytes")
        if total > MAX_BATCH_BYTES:
            raise UsageError(f"{path}: batch file is larger than {MAX_BATCH_BYTES:,} bytes")
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise UsageError(
                f"{path}: line {number}: not valid UTF-8 (at byte {err.start})"
            ) from None


def _open_batch(path: Path) -> BinaryIO:
    if str(path) == "-":
        stream = getattr(sys.stdin, "buffer", None)
        return stream if stream is not None else io.BytesIO(sys.stdin.read().encode())
    try:
        return path.open("rb")
    except OSError as err:
        raise UsageError(f"{path}: cannot read batch file: {err.strerror}") from None


def read_batch(path: Path) -> Iterator[tuple[str | None, str]]:
    """(id, query) pairs from JSONL ({"query"|"question"|"text", "id"}) or plain lines."""
    with _open_batch(path) as handle:
        for number, line in _batch_lines(path, handle):
            line = line.strip()
            if not line:
                continue
            if line.startswith("{"):
                try:
                    record = json_object(line)
                except BadJsonLine as err:
                    raise UsageError(f"{path}: line {number}: {err}") from None
                text = record.get("query") or record.get("question") or record.get("text")
                if not isinstance(text, str) or not text.strip():
                    raise UsageError(f"{path}: line {number}: no 'query' text")
                require_utf8(text, f"{path}: line {number}: the query")
                query_id = record.get("id", record.get("_id"))
                yield (None if query_id is None else str(query_id)), text
            else:
                yield None, line
