"""`rag generate`, `rag ask` and `rag chat`: grounded, cited answers from the index.

The pipeline lives in ``ragcli.answer``; these commands parse flags, call it and render.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from ragcli.cli.app import app, handles_errors
from ragcli.cli.options import (
    AlphaOpt,
    BaseUrlOpt,
    DocOpt,
    FilterOpt,
    FusionOpt,
    IndexOpt,
    JsonOpt,
    KOpt,
    LlmModelOpt,
    LlmOpt,
    MaxContextOpt,
    MaxTokensOpt,
    ModeOpt,
    NameOpt,
    NoCacheOpt,
    PoolFactorOpt,
    RerankDepthOpt,
    RerankModelOpt,
    RerankOpt,
    StoreOpt,
    TemperatureOpt,
    TemplateOpt,
    TimeoutOpt,
    TypeOpt,
    open_index,
    search_filter,
)
from ragcli.errors import RagError, UsageError

QuestionArg = Annotated[
    str | None,
    typer.Argument(help="The question; '-' reads it from stdin.", show_default=False),
]
FORMATS = ("text", "json", "anthropic", "claude", "openai", "ollama", "body")


def read_question(question: str | None) -> str:
    if question is None:
        raise UsageError("give a question, or '-' to read it from stdin")
    if question == "-":
        question = sys.stdin.read()
    question = question.strip()
    if not question:
        raise UsageError("empty question")
    return question


def checked_format(fmt: str) -> str:
    fmt = fmt.strip().lower()
    if fmt not in FORMATS:
        raise UsageError(f"unknown --format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return fmt


def body_backend(settings: Any) -> str:
    """The backend whose body ``--format body`` prints: the one named by --llm."""
    from ragcli.generate import canonical_name

    if not settings.llm or settings.llm.lower() == "auto":
        raise UsageError("--format body needs --llm claude|openai|ollama")
    name = canonical_name(settings.llm)
    if name == "extractive":
        raise UsageError("the extractive backend sends no request; use --format text")
    return name


def settings_for(idx: Any, **overrides: Any):
    settings = idx.settings.with_overrides(**overrides)
    idx.settings = settings
    return settings


def backend_kwargs(timeout: float | None) -> dict[str, Any]:
    if timeout is None:
        return {}
    if timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    return {"timeout": timeout}


@app.command()
@handles_errors
def generate(
    question: QuestionArg = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="text (the prompt), json (prompt and sources), or the request body for "
            "anthropic|openai|ollama ('body' = for --llm).",
        ),
    ] = "text",
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
    llm: LlmOpt = None,
    model: LlmModelOpt = None,
    temperature: TemperatureOpt = None,
    max_tokens: MaxTokensOpt = None,
    max_context_tokens: MaxContextOpt = None,
    prompt_template: TemplateOpt = None,
    index: IndexOpt = None,
    name: NameOpt = None,
    store: StoreOpt = None,
) -> None:
    """Print the augmented prompt (or a backend's request body) without calling a model."""
    from ragcli import answer, render
    from ragcli.generate import settings_body

    fmt = checked_format(fmt)
    question = read_question(question)
    idx = open_index(index, name, store=store)
    settings = settings_for(
        idx,
        k=k,
        mode=mode,
        alpha=alpha,
        fusion=fusion,
        pool_factor=pool_factor,
        rerank=rerank,
        rerank_model=rerank_model,
        rerank_depth=rerank_depth,
        llm=llm,
        llm_model=model,
        temperature=temperature,
        max_tokens=max_tokens,
        max_context_tokens=max_context_tokens,
        prompt_template=prompt_template,
    )
    if fmt == "body":
        fmt = body_backend(settings)
    prompt = answer.prepare_prompt(idx, question, settings, search_filter(path_filter, kind, doc))
    if fmt == "text":
        sys.stdout.write(prompt.to_text())
    elif fmt == "json":
        render.print_json(prompt.to_dict())
    else:
        render.print_json(settings_body(prompt, settings, fmt), indent=True)


@app.command()
@handles_errors
def ask(
    question: QuestionArg = None,
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
    llm: LlmOpt = None,
    model: LlmModelOpt = None,
    base_url: BaseUrlOpt = None,
    temperature: TemperatureOpt = None,
    max_tokens: MaxTokensOpt = None,
    max_context_tokens: MaxContextOpt = None,
    prompt_template: TemplateOpt = None,
    no_cache: NoCacheOpt = False,
    timeout: TimeoutOpt = None,
    index: IndexOpt = None,
    name: NameOpt = None,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Answer a question from the index, citing sources as [1][2]."""
    from ragcli import answer
    from ragcli.cli import render_answer as show
    from ragcli.generate import make_backend

    question = read_question(question)
    idx = open_index(index, name, store=store)
    settings = settings_for(
        idx,
        k=k,
        mode=mode,
        alpha=alpha,
        fusion=fusion,
        pool_factor=pool_factor,
        rerank=rerank,
        rerank_model=rerank_model,
        rerank_depth=rerank_depth,
        llm=llm,
        llm_model=model,
        base_url=base_url,
        temperature=temperature,
        max_tokens=max_tokens,
        max_context_tokens=max_context_tokens,
        prompt_template=prompt_template,
    )
    backend = make_backend(settings, **backend_kwargs(timeout))
    printer = show.AnswerPrinter()
    try:
        result = answer.ask(
            idx,
            question,
            settings,
            backend=backend,
            cache=answer.llm_cache(idx, no_cache=no_cache),
            filters=search_filter(path_filter, kind, doc),
            on_delta=None if json_out else printer,
        )
    except RagError:
        printer.end_line()
        raise
    show.show_result(result, printer, json_out)
    if result.hint:
        show.note(result.hint)


@app.command()
@handles_errors
def chat(
    new: Annotated[
        bool, typer.Option("--new", help="Start a fresh conversation (forget earlier turns).")
    ] = False,
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
    llm: LlmOpt = None,
    model: LlmModelOpt = None,
    base_url: BaseUrlOpt = None,
    temperature: TemperatureOpt = None,
    max_tokens: MaxTokensOpt = None,
    max_context_tokens: MaxContextOpt = None,
    prompt_template: TemplateOpt = None,
    no_cache: NoCacheOpt = False,
    timeout: TimeoutOpt = None,
    index: IndexOpt = None,
    name: NameOpt = None,
    store: StoreOpt = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="One JSON object per answer (JSON Lines).")
    ] = False,
) -> None:
    """Talk with the index: follow-up questions use the conversation.

    One question per line; /sources lists the last answer's sources, /new starts over,
    /exit (or end of input) quits. Works with a pipe: each line is a turn.
    """
    from ragcli import answer
    from ragcli.generate import make_backend

    idx = open_index(index, name, store=store)
    settings = settings_for(
        idx,
        k=k,
        mode=mode,
        alpha=alpha,
        fusion=fusion,
        pool_factor=pool_factor,
        rerank=rerank,
        rerank_model=rerank_model,
        rerank_depth=rerank_depth,
        llm=llm,
        llm_model=model,
        base_url=base_url,
        temperature=temperature,
        max_tokens=max_tokens,
        max_context_tokens=max_context_tokens,
        prompt_template=prompt_template,
    )
    backend = make_backend(settings, **backend_kwargs(timeout))
    session = answer.ChatSession(
        idx,
        settings,
        backend=backend,
        cache=answer.llm_cache(idx, no_cache=no_cache),
        filters=search_filter(path_filter, kind, doc),
        new=new,
    )
    failed = run_chat(session, json_out)
    raise typer.Exit(1 if failed else 0)


def run_chat(session: Any, json_out: bool) -> bool:
    """Read lines until end of input or /exit, showing what each did; True if a turn failed."""
    from ragcli import answer, render
    from ragcli.cli import render_answer as show

    hint = answer.configure_hint(session.backend)
    if hint:
        show.note(hint)
    read = show.chat_prompt()
    if render.is_terminal(sys.stdin) and render.is_terminal(sys.stdout):
        show.note(session.greeting())
    failed = False
    answered = 0
    while (line := read()) is not None:
        action = answer.line_action(line)
        if action == "exit":
            break
        if action == "answer":
            if answered and not json_out:
                sys.stdout.write("\n")
            answered += 1
        printer = show.AnswerPrinter()
        reply = session.handle(line, on_delta=None if json_out else printer)
        failed = show.show_chat_reply(reply, printer, json_out) or failed
    return failed
