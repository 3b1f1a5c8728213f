"""`rag search`: hybrid retrieval from the command line, one query or a batch."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from ragcli.cli.app import app, handles_errors
from ragcli.cli.options import (
    AlphaOpt,
    DocOpt,
    FilterOpt,
    FusionOpt,
    IndexOpt,
    JsonOpt,
    KOpt,
    ModeOpt,
    NameOpt,
    PoolFactorOpt,
    RerankDepthOpt,
    RerankModelOpt,
    RerankOpt,
    StoreOpt,
    TypeOpt,
    open_index,
    search_filter,
)
from ragcli.errors import UsageError


@app.command()
@handles_errors
def search(
    query: Annotated[
        str | None, typer.Argument(help="The query; '-' reads it from stdin.", show_default=False)
    ] = None,
    k: KOpt = None,
    mode: ModeOpt = None,
    alpha: AlphaOpt = None,
    fusion: FusionOpt = None,
    pool_factor: PoolFactorOpt = None,
    rerank: RerankOpt = None,
    rerank_model: RerankModelOpt = None,
    rerank_depth: RerankDepthOpt = None,
    path_filter: FilterOpt = None,
    kind: TypeOpt = None,
    doc: DocOpt = None,
    batch: Annotated[
        Path | None,
        typer.Option("--batch", help="Queries from a file (JSONL or one per line); '-' = stdin."),
    ] = None,
    index: IndexOpt = None,
    name: NameOpt = None,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Search the index. Exit code 0 with results, 1 when nothing matched, 2 on bad usage."""
    from ragcli.cli import render

    if batch is None and query is None:
        raise UsageError("give a query, '-' to read it from stdin, or --batch FILE")
    if batch is not None and query is not None:
        raise UsageError("give either a query or --batch, not both")
    idx = open_index(index, name, store=store)
    options: dict[str, Any] = dict(
        k=k,
        mode=mode,
        alpha=alpha,
        fusion=fusion,
        pool_factor=pool_factor,
        rerank=rerank,
        rerank_model=rerank_model,
        rerank_depth=rerank_depth,
        filters=search_filter(path_filter, kind, doc),
    )
    if batch is not None:
        found_any = False
        for query_id, text in read_batch(batch):
            hits = idx.search(text, **options)
            found_any = found_any or bool(hits)
            record = result_record(idx, text, hits, options)
            if query_id is not None:
                record = {"id": query_id, **record}
            if json_out or not render.is_terminal():
                render.print_json(record)
            else:
                render.search_rich(text, hits)
        raise typer.Exit(0 if found_any else 1)

    if query == "-":
        query = sys.stdin.read().strip()
    hits = idx.search(query, **options)
    if json_out:
        render.print_json(result_record(idx, query, hits, options))
    elif render.is_terminal():
        render.search_rich(query, hits)
    else:
        render.search_plain(query, hits)
    if not hits:
        if not json_out:
            render.warn("no results" if idx.store.n_chunks else "the index is empty")
        raise typer.Exit(1)


def result_record(idx, query: str, hits: list, options: dict[str, Any]) -> dict[str, Any]:
    """The documented JSON shape of one query's results (docs/commands.md)."""
    s = idx.settings.with_overrides(**{k: v for k, v in options.items() if k != "filters"})
    return {
        "query": query,
        "k": s.k,
        "mode": s.mode,
        "alpha": s.alpha if s.mode == "hybrid" else None,
        "fusion": s.fusion if s.mode == "hybrid" else None,
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
