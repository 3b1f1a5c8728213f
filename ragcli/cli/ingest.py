"""`rag ingest` and `rag status`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ragcli.cli.app import app, handles_errors
from ragcli.cli.options import (
    TARGET,
    EmbedModelOpt,
    Flags,
    JsonOpt,
    OldEmbedModelOpt,
    default_of,
    embed_model_flag,
    uses,
)

PathsArg = Annotated[list[Path], typer.Argument(help="Files or folders to ingest.")]
IncludeOpt = Annotated[
    list[str] | None, typer.Option("--include", help="Only files matching this glob.")
]
ExcludeOpt = Annotated[
    list[str] | None, typer.Option("--exclude", help="Skip files matching this glob.")
]
RebuildOpt = Annotated[
    bool, typer.Option("--rebuild", help="Rebuild from scratch (e.g. after a model change).")
]
FollowLinksOpt = Annotated[
    bool,
    typer.Option(
        "--follow-links", help="Also follow symlinks that lead outside the given folders."
    ),
]
ChunkSizeOpt = Annotated[
    int | None,
    typer.Option(
        "--chunk-size", help="Chunk size in model tokens.", show_default=default_of("chunk_size")
    ),
]
ChunkOverlapOpt = Annotated[
    int | None,
    typer.Option(
        "--chunk-overlap",
        help="Overlap between chunks in tokens.",
        show_default=default_of("chunk_overlap"),
    ),
]
EmbedBackendOpt = Annotated[
    str | None,
    typer.Option(
        "--embed-backend",
        help="Embed with auto (default: onnx-int8-fused for a new index, an existing "
        "index's own backend), torch, onnx (same vectors as torch), onnx-int8 or "
        "onnx-int8-fused (quantised, faster), or a server: ollama or openai (any "
        "OpenAI-compatible /v1/embeddings; key from RAG_EMBED_API_KEY or OPENAI_API_KEY); "
        "env RAG_EMBED_BACKEND.",
        show_default=False,
    ),
]
EmbedWorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--embed-workers",
        help="Processes embedding with an int8 backend, one thread each: 0 = one per CPU, "
        "1 = in this process; env RAG_EMBED_WORKERS.",
        show_default=default_of("embed_workers"),
    ),
]
EngineOpt = Annotated[
    str | None,
    typer.Option(
        "--engine",
        help="Where to embed: local or ray (a Ray Data pipeline; env RAG_ENGINE).",
        show_default=default_of("engine"),
    ),
]
RayAddressOpt = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        help="Ray cluster for --engine ray, e.g. auto or ray://HOST:10001 "
        "(default: $RAY_ADDRESS, else a local Ray).",
        show_default=False,
    ),
]


EmbedBaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--embed-base-url",
        help="Server of --embed-backend ollama/openai (default: OLLAMA_HOST or "
        "http://127.0.0.1:11434; OPENAI_BASE_URL or https://api.openai.com/v1); "
        "env RAG_EMBED_BASE_URL.",
        show_default=False,
    ),
]
QueryPromptOpt = Annotated[
    str | None,
    typer.Option(
        "--query-prompt",
        help="Put before each query (new index; default: the model's own, from its "
        "sentence-transformers config; '' = none); env RAG_QUERY_PROMPT.",
        show_default=False,
    ),
]
DocumentPromptOpt = Annotated[
    str | None,
    typer.Option(
        "--document-prompt",
        help="Put before each chunk (new index; default: the model's own; '' = none); "
        "env RAG_DOCUMENT_PROMPT.",
        show_default=False,
    ),
]
DimensionsOpt = Annotated[
    int | None,
    typer.Option(
        "--dimensions",
        help="Cut vectors to this size, renormalised (Matryoshka models; new index); "
        "env RAG_DIMENSIONS.",
        show_default=False,
    ),
]
DeviceOpt = Annotated[
    str | None,
    typer.Option(
        "--device",
        help="auto, cpu or cuda: where torch and ONNX Runtime embed; env RAG_DEVICE.",
        show_default=default_of("device"),
    ),
]


OcrOpt = Annotated[
    bool,
    typer.Option(
        "--ocr",
        help="Read scanned PDF pages and images of text with OCR (needs the ocr extra).",
    ),
]


@app.command()
@handles_errors
@uses(TARGET)
def ingest(
    paths: PathsArg,
    include: IncludeOpt = None,
    exclude: ExcludeOpt = None,
    rebuild: RebuildOpt = False,
    follow_links: FollowLinksOpt = False,
    embed_model: EmbedModelOpt = None,
    model: OldEmbedModelOpt = None,
    chunk_size: ChunkSizeOpt = None,
    chunk_overlap: ChunkOverlapOpt = None,
    embed_backend: EmbedBackendOpt = None,
    embed_workers: EmbedWorkersOpt = None,
    engine: EngineOpt = None,
    ray_address: RayAddressOpt = None,
    embed_base_url: EmbedBaseUrlOpt = None,
    query_prompt: QueryPromptOpt = None,
    document_prompt: DocumentPromptOpt = None,
    dimensions: DimensionsOpt = None,
    device: DeviceOpt = None,
    ocr: OcrOpt = False,
    json_out: JsonOpt = False,
    *,
    target: Flags,
) -> None:
    """Add files to the index; re-running only processes what changed."""
    from ragcli.cli import render

    idx = target.open_index(create=True)
    idx.settings = idx.settings.with_overrides(
        embed_model=embed_model_flag(embed_model, model),
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        embed_backend=embed_backend,
        embed_workers=embed_workers,
        engine=engine,
        ray_address=ray_address,
        embed_base_url=embed_base_url,
        query_prompt=query_prompt,
        document_prompt=document_prompt,
        dimensions=dimensions,
        device=device,
        ocr=ocr or None,
    )
    with render.ingest_progress() as progress:
        report = idx.ingest(
            paths,
            include=include,
            exclude=exclude,
            rebuild=rebuild,
            progress=progress,
            follow_links=follow_links,
        )
    if json_out:
        render.print_json(report.to_dict())
    else:
        render.ingest_summary(report)
    if report.chunks == 0 and not (report.added or report.updated or report.unchanged):
        raise typer.Exit(1)


CheckOpt = Annotated[
    bool,
    typer.Option(
        "--check",
        help="Verify every index file (checksums, SQLite, FAISS, BM25) and the previous "
        "generation; exit 1 naming each damaged file.",
    ),
]


FilesOpt = Annotated[
    bool,
    typer.Option(
        "--files",
        help="List every indexed file (kind, documents) and every file the last ingest "
        "skipped, with the reason.",
    ),
]


@app.command()
@handles_errors
@uses(TARGET)
def status(
    json_out: JsonOpt = False,
    check: CheckOpt = False,
    files: FilesOpt = False,
    *,
    target: Flags,
) -> None:
    """What is in the index: files, chunks, model, sizes, last ingest."""
    from ragcli.cli import render
    from ragcli.serve.daemon import status_with_servers

    idx = target.open_index()
    verdict = idx.check() if check else None
    if verdict is not None and not verdict["ok"]:
        if json_out:
            render.print_json({"index": idx.location, "check": verdict})
        for line in verdict["problems"]:
            render.error(line)
        raise typer.Exit(1)
    info = status_with_servers(idx)
    if verdict is not None:
        info["check"] = verdict
    if files:
        info["files"] = idx.file_list()
    if json_out:
        render.print_json(info)
        return
    render.status_summary(info)
    if files:
        render.file_list(info["files"])
    if verdict is not None:
        typer.echo(f"check       ok: {_checked(verdict)}")


def _checked(verdict: dict) -> str:
    previous = verdict.get("previous")
    if previous is None:
        fallback = "no previous generation"
    elif verdict["previous_ok"]:
        fallback = f"previous {previous} intact"
    else:
        fallback = f"previous {previous} damaged: {'; '.join(verdict['problems'])}"
    return f"{verdict['generation']} verified ({verdict['files']} files); {fallback}"
