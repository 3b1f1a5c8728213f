"""Options several commands share, as bundles, and opening the index they name.

A bundle is a group of options declared once (``SEARCH``, ``GENERATION``, ``TARGET``);
``@uses(SEARCH, TARGET)`` adds its options to a command's signature and hands the
command one ``Flags`` value per bundle, so no command repeats another's option list:

    @app.command()
    @handles_errors
    @uses(SEARCH, TARGET)
    def search(query: QueryArg = None, *, search: Flags, target: Flags) -> None: ...
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import wraps
from typing import Annotated, Any

import typer

from ragcli.types import SEARCH_FIELDS

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


@dataclass(frozen=True)
class Bundle:
    """Options declared once: the parameter name each command receives, and its options
    as (parameter name, annotated type, default)."""

    name: str
    options: tuple[tuple[str, Any, Any], ...]

    def without(self, *names: str) -> Bundle:
        return Bundle(self.name, tuple(o for o in self.options if o[0] not in names))


class Flags(dict):
    """The values of one bundle's options as the user gave them (None when not given)."""

    def overrides(self) -> dict[str, Any]:
        """The values that are settings (``Settings.with_overrides`` keywords): the search
        options under their own names, ``--model`` as ``llm_model``; filters and the
        index's location are not settings."""
        from ragcli.config import Settings

        renamed = {"model": "llm_model"}
        skip = {"index", "name", "store"}
        known = {f.name for f in fields(Settings)} - skip
        given = {renamed.get(k, k): v for k, v in self.items() if renamed.get(k, k) in known}
        searches = self.subqueries()
        return given | {"searches": searches} if searches else given

    def subqueries(self) -> tuple:
        """The --lex, --vec and --hyde values as sub-queries (kind by kind, each in the
        order given)."""
        from ragcli.types import SUBQUERY_TYPES, as_subqueries

        return as_subqueries(
            (kind, text) for kind in SUBQUERY_TYPES for text in self.get(kind) or []
        )

    def search_filter(self):
        return search_filter(self.get("path_filter"), self.get("kind"), self.get("doc"))

    def open_index(self, create: bool = False):
        return open_index(self["index"], self["name"], create=create, store=self["store"])


def uses(*bundles: Bundle) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command the options of ``bundles``, each passed as one keyword-only
    ``Flags`` argument named after its bundle."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        own = [
            p
            for p in inspect.signature(command, eval_str=True).parameters.values()
            if p.name not in {b.name for b in bundles}
        ]
        added = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=kind, default=value)
            for bundle in bundles
            for name, kind, value in bundle.options
        ]

        @wraps(command)
        def run(*args: Any, **kwargs: Any) -> Any:
            for bundle in bundles:
                kwargs[bundle.name] = Flags({n: kwargs.pop(n) for n, _, _ in bundle.options})
            return command(*args, **kwargs)

        parameters = own + added
        run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in parameters}
        del run.__wrapped__  # typer reads the signature above, not the command's own
        return run

    return decorate


def default_of(setting: str) -> str:
    """A setting's built-in default as --help shows it (config files and RAG_* variables
    may change it; `rag status` shows the values in effect)."""
    from ragcli.config import Settings

    return str(getattr(Settings, setting))


EmbedModelOpt = Annotated[
    str | None,
    typer.Option(
        "--embed-model",
        help="Embedding model (new index or --rebuild): Hugging Face name or folder.",
        show_default=default_of("embed_model"),
    ),
]
# `--model` named the embedding model in ingest and eval before --embed-model; it still
# works there (hidden) so scripts do not break, while --model means the language model in
# ask, chat and generate.
OldEmbedModelOpt = Annotated[
    str | None, typer.Option("--model", hidden=True, help="Deprecated: --embed-model.")
]


def embed_model_flag(embed_model: str | None, old: str | None) -> str | None:
    """The embedding model given by ``--embed-model``, or by the deprecated ``--model``
    (with a one-line note on stderr)."""
    from ragcli.errors import UsageError, warn

    if old is None:
        return embed_model
    if embed_model is not None and embed_model != old:
        raise UsageError("give the embedding model once, with --embed-model")
    warn("--model is deprecated here; use --embed-model (the embedding model)")
    return old


def search_cli_options(name: str) -> list[tuple[str, Any, None]]:
    """The SEARCH bundle's entries of a declared search option: one, or for the
    sub-queries (``searches``) one repeatable ``--lex``/``--vec``/``--hyde`` each."""
    from ragcli.types import SEARCH_OPTIONS, SUBQUERY_TYPES

    if name != "searches":
        return [(name, search_option(name), None)]
    flags = SEARCH_OPTIONS[name].flags
    return [
        (kind, Annotated[list[str] | None, typer.Option(flag, help=SUBQUERY_TYPES[kind])], None)
        for kind, flag in zip(SUBQUERY_TYPES, flags, strict=True)
    ]


def search_option(name: str) -> Any:
    """The typer option of a declared search option (``ragcli.types.SearchOptions``): its
    flags, help and default as --help shows it; None when the user does not give it."""
    from ragcli.types import SEARCH_OPTIONS

    option = SEARCH_OPTIONS[name]
    shown: str | bool = option.default_text if option.default_text is not None else False
    flag = typer.Option(*option.flags, help=option.help, show_default=shown)
    return Annotated[option.kind | None, flag]


# The search filters (a SearchFilter, not settings), in the SEARCH bundle after the options.
FilterOpt = Annotated[
    list[str] | None,
    typer.Option("--filter", help="Only sources matching this glob (repeatable)."),
]
TypeOpt = Annotated[
    list[str] | None,
    typer.Option("--type", help="Only this document type (pdf, markdown, html, ...) or extension."),
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
    float | None,
    typer.Option(
        "--temperature", help="Sampling temperature.", show_default=default_of("temperature")
    ),
]
MaxTokensOpt = Annotated[
    int | None,
    typer.Option(
        "--max-tokens", help="Longest answer, in tokens.", show_default=default_of("max_tokens")
    ),
]
MaxContextOpt = Annotated[
    int | None,
    typer.Option(
        "--max-context-tokens",
        help="Token budget for the sources in the prompt.",
        show_default=default_of("max_context_tokens"),
    ),
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

    for kind in kinds or []:
        check_type(kind)
    return SearchFilter(list(paths or []), list(kinds or []), list(docs or []))


def _examples(extensions: list[str]) -> list[str]:
    common = ["md", "txt", "pdf", "html", "py", "rst"]
    return [e for e in common if e in extensions] or extensions[:6]


def check_type(kind: str) -> None:
    """A ``UsageError`` listing the valid values unless ``kind`` is a document kind or a
    file extension the loaders know (``--type md`` as well as ``--type markdown``)."""
    from ragcli.errors import UsageError
    from ragcli.load import KINDS, LOADERS
    from ragcli.load.ocr import EXTENSIONS as IMAGE_EXTENSIONS

    kinds = sorted(KINDS)
    extensions = sorted(extension.lstrip(".") for extension in {*LOADERS, *IMAGE_EXTENSIONS})
    if kind.lower().lstrip(".") in {*kinds, *extensions}:
        return
    raise UsageError(
        f"--type {kind!r}: unknown document type; choose from {', '.join(kinds)}, "
        f"or an extension of a file type rag reads ({', '.join(_examples(extensions))}, ...)"
    )


TARGET = Bundle(
    "target", (("index", IndexOpt, None), ("name", NameOpt, None), ("store", StoreOpt, None))
)
SEARCH = Bundle(
    "search",
    (
        *(entry for name in SEARCH_FIELDS for entry in search_cli_options(name)),
        ("path_filter", FilterOpt, None),
        ("kind", TypeOpt, None),
        ("doc", DocOpt, None),
    ),
)
GENERATION = Bundle(
    "generation",
    (
        ("llm", LlmOpt, None),
        ("model", LlmModelOpt, None),
        ("base_url", BaseUrlOpt, None),
        ("temperature", TemperatureOpt, None),
        ("max_tokens", MaxTokensOpt, None),
        ("max_context_tokens", MaxContextOpt, None),
        ("prompt_template", TemplateOpt, None),
        ("no_cache", NoCacheOpt, False),
        ("timeout", TimeoutOpt, None),
    ),
)
