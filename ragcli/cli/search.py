"""`rag search`: hybrid retrieval from the command line, one query or a batch."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from ragcli.cli import render
from ragcli.cli.app import app, handles_errors
from ragcli.cli.options import SEARCH, TARGET, Flags, JsonOpt, uses
from ragcli.errors import UsageError

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
    """Search the index. Exit code 0 with results, 1 when nothing matched, 2 on bad usage."""
    if batch is None and query is None:
        raise UsageError("give a query, '-' to read it from stdin, or --batch FILE")
    if batch is not None and query is not None:
        raise UsageError("give either a query or --batch, not both")
    if files and (json_out or batch is not None):
        raise UsageError("--files prints paths only: not with --json or --batch")
    idx = target.open_index()
    params = idx.settings.with_overrides(**search.overrides()).search_params(search.search_filter())
    if batch is not None:
        found_any = search_batch(idx, batch, params, json_out)
        raise typer.Exit(0 if found_any else 1)
    if query == "-":
        query = sys.stdin.read().strip()
    hits = idx.search(query, params=params)
    if files:
        from ragcli.documents import hit_files

        sys.stdout.write("".join(f"{path}\n" for path in hit_files(hits)))
    else:
        show_results(query, hits, params, json_out)
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
        record = result_record(text, hits, params)
        if query_id is not None:
            record = {"id": query_id, **record}
        if json_out or not render.is_terminal():
            render.print_json(record)
        else:
            render.search_rich(text, hits)
    return found_any


def show_results(query: str, hits: list, params, json_out: bool) -> None:
    if json_out:
        render.print_json(result_record(query, hits, params))
    elif render.is_terminal():
        render.search_rich(query, hits)
    else:
        render.search_plain(query, hits)


def result_record(query: str, hits: list, params) -> dict[str, Any]:
    """The documented JSON shape of one query's results (docs/commands.md)."""
    return {
        "query": query,
        **params.describe(),
        "reranked": any(hit.rerank is not None for hit in hits),
        "results": [hit.to_dict() for hit in hits],
    }


def read_batch(path: Path) -> Iterator[tuple[str | None, str]]:
    """(id, query) pairs from JSONL ({"query"|"question"|"text", "id"}) or plain lines."""
    stream = sys.stdin if str(path) == "-" else None
    try:
        handle = stream or path.open(encoding="utf-8")
    except OSError as err:
        raise UsageError(f"{path}: cannot read batch file: {err.strerror}") from None
    with handle:
        for number, line in enumerate(handle, 1):
            line = line.strip()
            if not line:
                continue
            if line.startswith("{"):
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise UsageError(f"{path}: line {number}: invalid JSON ({err.msg})") from None
                text = record.get("query") or record.get("question") or record.get("text")
                if not isinstance(text, str) or not text.strip():
                    raise UsageError(f"{path}: line {number}: no 'query' text")
                query_id = record.get("id", record.get("_id"))
                yield (None if query_id is None else str(query_id)), text
            else:
                yield None, line
