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
    from ragcli import answer
    from ragcli.cli import render
    from ragcli.generate import canonical_name

    fmt = fmt.strip().lower()
    if fmt not in FORMATS:
        raise UsageError(f"unknown --format {fmt!r}; choose one of {', '.join(FORMATS)}")
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
        if not settings.llm or settings.llm.lower() == "auto":
            raise UsageError("--format body needs --llm claude|openai|ollama")
        fmt = canonical_name(settings.llm)
        if fmt == "extractive":
            raise UsageError("the extractive backend sends no request; use --format text")
    template = answer.resolve_template(settings, idx.base_dir)
    hits = answer.retrieve(idx, question, settings, search_filter(path_filter, kind, doc))
    if not hits:
        raise answer.no_hits_error(idx)
    prompt = answer.make_prompt(question, hits, settings, template=template)
    if fmt == "text":
        sys.stdout.write(prompt.to_text())
    elif fmt == "json":
        render.print_json(prompt.to_dict())
    else:
        render.print_json(answer.prompt_body(prompt, settings, fmt), indent=True)


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
    from ragcli import render_answer as show
    from ragcli.cli import render

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
    backend = answer.open_backend(settings, **backend_kwargs(timeout))
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
    if json_out:
        render.print_json(result.to_dict())
    else:
        printer.end_line()
        show.print_sources(result)
        show.print_footer(result)
    show.report_citations(result)
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
    from ragcli import render_answer as show
    from ragcli.cli import render

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
    backend = answer.open_backend(settings, **backend_kwargs(timeout))
    session = answer.ChatSession(
        idx,
        settings,
        backend=backend,
        cache=answer.llm_cache(idx, no_cache=no_cache),
        filters=search_filter(path_filter, kind, doc),
        new=new,
    )
    hint = answer.configure_hint(backend)
    if hint:
        show.note(hint)
    read = show.chat_prompt()
    interactive = render.is_terminal(sys.stdin) and render.is_terminal(sys.stdout)
    if interactive:
        resumed = f", continuing {len(session.turns)} earlier turns" if session.turns else ""
        show.note(f"chatting with {backend.describe()}{resumed}; /sources, /new, /exit (or Ctrl-D)")
    failed = False
    turns = 0
    while True:
        line = read()
        if line is None:
            break
        text = line.strip()
        if not text:
            continue
        if text in ("/exit", "/quit", "/q"):
            break
        if text == "/sources":
            show.print_all_sources(session.last)
            continue
        if text == "/new":
            session.reset()
            show.note("new conversation")
            continue
        if text.startswith("/"):
            render.warn(f"unknown command {text.split()[0]!r}; try /sources, /new or /exit")
            continue
        if turns and not json_out:
            sys.stdout.write("\n")
        turns += 1
        printer = show.AnswerPrinter()
        try:
            result = session.turn(text, on_delta=None if json_out else printer)
        except RagError as err:
            printer.end_line()
            render.error(str(err))
            failed = True
            continue
        if json_out:
            render.print_json(result.to_dict())
        else:
            printer.end_line()
            show.print_sources(result)
            show.print_footer(result)
        show.report_citations(result)
    raise typer.Exit(1 if failed else 0)
