"""Options several commands share, and opening the index they name."""

from __future__ import annotations

from typing import Annotated

import typer

IndexOpt = Annotated[
    str | None,
    typer.Option(
        "--index",
        "-i",
        help="Index folder to use (default: .rag/<name> found by walking up; env RAG_INDEX).",
        show_default=False,
    ),
]
NameOpt = Annotated[
    str | None,
    typer.Option(
        "--name",
        "-n",
        help="Named index inside .rag/ (default: 'default'; env RAG_INDEX_NAME).",
        show_default=False,
    ),
]
StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Where the index lives: milvus://HOST:PORT, milvus://HOST:PORT/DB or milvus-lite:PATH "
        "(default: the local .rag/ folder; env RAG_STORE).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


def open_index(index: str | None, name: str | None, create: bool = False, store: str | None = None):
    from ragcli.index import Index

    return Index.locate(index=index, name=name, create=create, store=store)


# Retrieval options shared by `rag ask`, `rag generate` and `rag chat` (the same flags as
# `rag search`), and the generation options they add.
KOpt = Annotated[int | None, typer.Option("-k", "--top-k", help="Number of results.")]
ModeOpt = Annotated[str | None, typer.Option("--mode", help="hybrid (default), dense or sparse.")]
AlphaOpt = Annotated[
    float | None,
    typer.Option("--alpha", help="Dense weight in hybrid: 1 = dense only, 0 = BM25 only."),
]
FusionOpt = Annotated[str | None, typer.Option("--fusion", help="minmax (default) or rrf.")]
PoolFactorOpt = Annotated[
    int | None, typer.Option("--pool-factor", help="Candidates per side = pool factor * k.")
]
RerankOpt = Annotated[
    bool | None,
    typer.Option("--rerank/--no-rerank", help="Rerank with a cross-encoder.", show_default=False),
]
RerankModelOpt = Annotated[
    str | None, typer.Option("--rerank-model", help="Cross-encoder name or folder.")
]
RerankDepthOpt = Annotated[
    int | None, typer.Option("--rerank-depth", help="Fused candidates to rerank.")
]
FilterOpt = Annotated[
    list[str] | None,
    typer.Option("--filter", help="Only sources matching this glob (repeatable)."),
]
TypeOpt = Annotated[
    list[str] | None,
    typer.Option("--type", help="Only this document type: pdf, markdown, code, ..."),
]
DocOpt = Annotated[list[str] | None, typer.Option("--doc", help="Only this document id.")]

# Generation options.
LlmOpt = Annotated[
    str | None,
    typer.Option(
        "--llm",
        help="claude, ollama, openai or extractive (default: auto; env RAG_LLM).",
        show_default=False,
    ),
]
LlmModelOpt = Annotated[
    str | None,
    typer.Option("--model", "--llm-model", help="Language model name.", show_default=False),
]
BaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--base-url", help="LLM server URL (Ollama host, OpenAI-compatible /v1 root, ...)."
    ),
]
TemperatureOpt = Annotated[
    float | None, typer.Option("--temperature", help="Sampling temperature.")
]
MaxTokensOpt = Annotated[
    int | None, typer.Option("--max-tokens", help="Longest answer, in tokens.")
]
MaxContextOpt = Annotated[
    int | None,
    typer.Option("--max-context-tokens", help="Token budget for the sources in the prompt."),
]
TemplateOpt = Annotated[
    str | None,
    typer.Option("--prompt-template", help="User prompt template file with {question}/{sources}."),
]
NoCacheOpt = Annotated[
    bool, typer.Option("--no-cache", help="Do not read or write the answer cache.")
]
TimeoutOpt = Annotated[
    float | None, typer.Option("--timeout", help="Seconds to wait for the language model.")
]


def search_filter(paths: list[str] | None, kinds: list[str] | None, docs: list[str] | None):
    from ragcli.types import SearchFilter

    return SearchFilter(list(paths or []), list(kinds or []), list(docs or []))
