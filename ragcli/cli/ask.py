"""`rag generate`, `rag ask` and `rag chat`: grounded, cited answers from the index.

The pipeline lives in ``ragcli.answer``; these commands parse flags, call it and render.
"""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any

import typer

from ragcli.cli.app import app, handles_errors
from ragcli.cli.options import GENERATION, SEARCH, TARGET, Flags, JsonOpt, uses
from ragcli.errors import RagError, UsageError, printable, require_utf8
from ragcli.types import SUBQUERY_TYPES

QuestionArg = Annotated[
    str | None,
    typer.Argument(help="The question; '-' reads it from stdin.", show_default=False),
]
FORMATS = ("text", "json", "anthropic", "claude", "openai", "ollama", "body")


MAX_QUESTION_BYTES = 1_000_000  # a question read from stdin; more is surely not one


def read_stdin_text(what: str, limit: int = MAX_QUESTION_BYTES) -> str:
    """All of stdin as UTF-8 text, at most ``limit`` bytes, else a ``UsageError``."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:  # a text stream without bytes underneath (tests, embedding)
        text = sys.stdin.read(limit + 1)
        data = text.encode("utf-8", "surrogateescape")
    else:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise UsageError(f"the {what} on stdin is longer than {limit:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UsageError(f"the {what} on stdin is not valid UTF-8 (at byte {err.start})") from None


def read_question(question: str | None) -> str:
    if question is None:
        raise UsageError("give a question, or '-' to read it from stdin")
    if question == "-":
        question = read_stdin_text("question")
    question = require_utf8(question, "the question").strip()
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


def settings_for(idx: Any, *bundles: Flags):
    """The index's settings with the flags the user gave; the index keeps them too."""
    overrides: dict[str, Any] = {}
    for flags in bundles:
        overrides.update(flags.overrides())
    idx.settings = idx.settings.with_overrides(**overrides)
    return idx.settings


def backend_kwargs(timeout: float | None) -> dict[str, Any]:
    if timeout is None:
        return {}
    if timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    return {"timeout": timeout}


FormatOpt = Annotated[
    str,
    typer.Option(
        "--format",
        "-f",
        help="text (the prompt), json (prompt and sources), or the request body for "
        "anthropic|openai|ollama ('body' = for --llm).",
    ),
]
NewOpt = Annotated[
    bool, typer.Option("--new", help="Start a fresh conversation (forget earlier turns).")
]
JsonLinesOpt = Annotated[
    bool, typer.Option("--json", help="One JSON object per answer (JSON Lines).")
]
# rag generate sends nothing, so it has no connection or cache options.
PROMPT_ONLY = GENERATION.without("base_url", "no_cache", "timeout")


@app.command()
@handles_errors
@uses(SEARCH, PROMPT_ONLY, TARGET)
def generate(
    question: QuestionArg = None,
    fmt: FormatOpt = "text",
    *,
    search: Flags,
    generation: Flags,
    target: Flags,
) -> None:
    """Print the augmented prompt (or a backend's request body) without calling a model."""
    from ragcli import answer
    from ragcli.cli import render
    from ragcli.generate import settings_body

    fmt = checked_format(fmt)
    question = read_question(question)
    idx = target.open_index()
    settings = settings_for(idx, search, generation)
    if fmt == "body":
        fmt = body_backend(settings)
    prompt = answer.prepare_prompt(idx, question, settings, search.search_filter())
    if fmt == "text":
        sys.stdout.write(printable(prompt.to_text(), keep_newlines=True))
    elif fmt == "json":
        render.print_json(prompt.to_dict())
    else:
        render.print_json(settings_body(prompt, settings, fmt), indent=True)


@app.command()
@handles_errors
@uses(SEARCH, GENERATION, TARGET)
def ask(
    question: QuestionArg = None,
    json_out: JsonOpt = False,
    *,
    search: Flags,
    generation: Flags,
    target: Flags,
) -> None:
    """Answer a question from the index, citing sources as [1][2]."""
    from ragcli import answer
    from ragcli.cli import render_answer as show
    from ragcli.generate import make_backend

    question = read_question(question)
    idx = target.open_index()
    settings = settings_for(idx, search, generation)
    backend = make_backend(settings, **backend_kwargs(generation["timeout"]))
    printer = show.AnswerPrinter()
    cache = answer.llm_cache(idx, no_cache=generation["no_cache"])
    try:
        result = answer.ask(
            idx,
            question,
            settings,
            backend=backend,
            cache=cache,
            filters=search.search_filter(),
            on_delta=None if json_out else printer,
        )
    except RagError:
        printer.end_line()
        raise
    show.show_result(result, printer, json_out)
    if result.hint:
        show.note(result.hint)
    if cache.write_error:
        show.warn(cache.write_error)


# Sub-queries belong to one question, not to every turn of a conversation.
CHAT_SEARCH = SEARCH.without(*SUBQUERY_TYPES)


@app.command()
@handles_errors
@uses(CHAT_SEARCH, GENERATION, TARGET)
def chat(
    new: NewOpt = False,
    json_out: JsonLinesOpt = False,
    *,
    search: Flags,
    generation: Flags,
    target: Flags,
) -> None:
    """Talk with the index: follow-up questions use the conversation.

    One question per line; /sources lists the last answer's sources, /new starts over,
    /exit (or end of input) quits. Works with a pipe: each line is a turn.
    """
    from ragcli import answer
    from ragcli.generate import make_backend

    idx = target.open_index()
    settings = settings_for(idx, search, generation)
    backend = make_backend(settings, **backend_kwargs(generation["timeout"]))
    session = answer.ChatSession(
        idx,
        settings,
        backend=backend,
        cache=answer.llm_cache(idx, no_cache=generation["no_cache"]),
        filters=search.search_filter(),
        new=new,
    )
    failed = run_chat(session, json_out)
    raise typer.Exit(1 if failed else 0)


def run_chat(session: Any, json_out: bool) -> bool:
    """Read lines until end of input or /exit, showing what each did; True if a turn failed."""
    from ragcli import answer
    from ragcli.cli import render
    from ragcli.cli import render_answer as show

    hint = answer.configure_hint(session.backend)
    if hint:
        show.note(hint)
    read = show.chat_prompt()
    if render.is_terminal(sys.stdin) and render.is_terminal(sys.stdout):
        show.note(session.greeting())
    failed = False
    answered = 0
    warned: set[str] = set()
    while (line := read()) is not None:
        action = answer.line_action(line)
        if action == "exit":
            break
        if action == "answer":
            if answered and not json_out:
                sys.stdout.write("\n")
            answered += 1
        printer = show.AnswerPrinter()
        started = time.perf_counter()
        reply = session.handle(line, on_delta=None if json_out else printer)
        if reply.action == "answer":
            # the whole turn, the follow-up rewrite (a model call of its own) included
            reply.result.timings["elapsed_s"] = round(time.perf_counter() - started, 4)
        failed = show.show_chat_reply(reply, printer, json_out) or failed
        for problem in session.write_errors():
            if problem not in warned:
                show.warn(problem)
                warned.add(problem)
    return failed
