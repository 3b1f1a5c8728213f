"""One grounded answer: retrieve, build the prompt, call the model, check citations.

``ask`` runs the whole pipeline once: ``Index.search`` with the settings' retrieval
options, ``build_prompt`` within ``max_context_tokens``, the language-model backend
(``make_backend``: explicit ``llm`` setting, else Claude if ``ANTHROPIC_API_KEY`` is set,
else a local Ollama, else the extractive fallback), served from the answer cache in
``<index>/cache/llm/`` when the same prompt was answered before, and ``check_citations``
on the text. ``on_delta`` receives the text as it streams. ``answer_from_hits`` is the
generation half, for hits already retrieved.

``ask`` abstains when no hit is relevant: when the best hit's raw cosine with the
question is below the bar (``settings.min_score``, else ``ANSWER_MIN_SCORE``), no prompt
is sent and the answer is the one line ``NO_ANSWER`` with ``no_answer`` set. Sparse mode
has no cosine and never abstains (docs/retrieval.md, "Relevance").
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragcli.answer.citations import CitationReport, check_citations
from ragcli.answer.history import HISTORY_TURNS, Turn, format_history
from ragcli.answer.source import SearchSource
from ragcli.config import Settings
from ragcli.errors import RagError, UsageError
from ragcli.generate import Answer, Backend, answer_stream, make_backend
from ragcli.generate.cache import LLMCache
from ragcli.generate.extractive import HINT
from ragcli.prompt import Prompt, Source, build_prompt, load_template
from ragcli.types import Hit

ANSWER_MIN_SCORE = 0.25  # raw cosine of the best hit (docs/retrieval.md, "Relevance")
NO_ANSWER = "The index has no answer to this question"

CONFIGURE_HINT = (
    "no language model found ({reason}), so these are the best matching passages; for a "
    "written answer set ANTHROPIC_API_KEY, start Ollama, or use --llm openai --base-url URL "
    "--model NAME"
)


def llm_cache(index: SearchSource, no_cache: bool = False) -> LLMCache:
    """The answer cache of an index: ``<index>/cache/llm/``."""
    return LLMCache(Path(index.path) / "cache" / "llm", no_cache=no_cache)


def configure_hint(backend: Backend) -> str | None:
    """One line on how to configure a model, when auto-selection fell back to extractive."""
    if backend.name != "extractive":
        return None
    if backend.selection_reason in ("named explicitly", "chosen by the llm setting"):
        return None
    return CONFIGURE_HINT.format(reason=backend.selection_reason or "none configured")


def resolve_template(settings: Settings, base_dir: Path | None = None) -> str | None:
    """The user template text from ``settings.prompt_template`` (a path), or None."""
    if not settings.prompt_template:
        return None
    path = Path(settings.prompt_template).expanduser()
    if not path.is_absolute() and not path.exists() and base_dir is not None:
        path = Path(base_dir) / path
    return load_template(path)


@dataclass
class AskResult:
    question: str
    query: str  # what was searched (the standalone form in a conversation)
    hits: list[Hit]
    prompt: Prompt
    answer: Answer
    citations: CitationReport
    selection_reason: str = ""
    hint: str | None = None  # how to configure a model, after an automatic extractive answer
    timings: dict[str, float | None] = field(default_factory=dict)
    history: list[Turn] = field(default_factory=list)  # turns that went into the prompt
    no_answer: bool = False  # no hit reached the relevance bar, so no model was asked
    relevance: dict[str, float | None] = field(default_factory=dict)  # best cosine, bar

    @property
    def text(self) -> str:
        return self.answer.text

    @property
    def sources(self) -> list[Source]:
        return self.prompt.sources

    def cited_sources(self) -> list[Source]:
        """The sources the answer cites, in order of first citation."""
        by_number = {source.n: source for source in self.prompt.sources}
        return [by_number[n] for n in self.citations.cited if n in by_number]

    def _source_dicts(self) -> list[dict[str, Any]]:
        by_chunk = {hit.chunk.chunk_id: hit for hit in self.hits}
        cited = set(self.citations.cited)
        sources = []
        for source in self.prompt.sources:
            hit = by_chunk.get(source.chunk_id)
            sources.append(
                {
                    **source.to_dict(),
                    "cited": source.n in cited,
                    "rank": hit.rank if hit else None,
                    "score": hit.score if hit else None,
                }
            )
        return sources

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "query": self.query,
            "answer": self.answer.text,
            "backend": self.answer.backend,
            "model": self.answer.model,
            "selection_reason": self.selection_reason,
            "cached": self.answer.cached,
            "stop_reason": self.answer.stop_reason,
            "citations": self.citations.to_dict(),
            "sources": self._source_dicts(),
            "usage": {
                "input_tokens": self.answer.input_tokens,
                "output_tokens": self.answer.output_tokens,
            },
            "timings": self.timings,
            "context_tokens": self.prompt.context_tokens,
            "history_turns": len(self.history),
            "hint": self.hint,
            "no_answer": self.no_answer,
            "relevance": self.relevance,
        }


def retrieve(index: SearchSource, query: str, settings: Settings, filters: Any = None) -> list[Hit]:
    """``index.search`` with every retrieval option taken from ``settings``."""
    return index.search(query, params=settings.search_params(filters))


def make_prompt(
    question: str,
    hits: list[Hit],
    settings: Settings,
    history: list[Turn] | None = None,
    template: str | None = None,
) -> Prompt:
    """``build_prompt`` plus, in a conversation, the recent turns ahead of the sources."""
    prompt = build_prompt(question, hits, settings.max_context_tokens, template=template)
    turns = (history or [])[-HISTORY_TURNS:]
    if turns:
        prompt = dataclasses.replace(prompt, user=format_history(turns) + "\n\n" + prompt.user)
    return prompt


def no_hits_error(index: SearchSource) -> RagError:
    try:
        empty = index.store.n_chunks == 0
    except Exception:  # noqa: BLE001 - only for the wording of the message
        empty = False
    if empty:
        return RagError("the index is empty (run `rag ingest PATH` first)")
    return RagError("no sources matched the question (check --filter/--type/--doc)")


def prepare_prompt(
    index: SearchSource, question: str, settings: Settings, filters: Any = None
) -> Prompt:
    """The prompt ``ask`` would send for ``question``, without calling a model
    (``rag generate``). Raises ``RagError`` when no source matches."""
    template = resolve_template(settings, getattr(index, "base_dir", None))
    hits = retrieve(index, question, settings, filters)
    if not hits:
        raise no_hits_error(index)
    return make_prompt(question, hits, settings, template=template)


def _split_hint(text: str) -> str:
    """The extractive answer without its built-in configuration hint (printed apart)."""
    return text[: -len(HINT)].rstrip() if text.endswith(HINT) else text


def run_prompt(
    backend: Backend,
    prompt: Prompt,
    cache: LLMCache | None = None,
    on_delta: Callable[[str], None] | None = None,
) -> Answer:
    """Stream ``prompt`` through ``backend`` (via the cache) and return the answer."""
    stream = answer_stream(backend, prompt, cache=cache)
    if backend.name == "extractive":
        answer = stream.finish()
        answer.text = _split_hint(answer.text)
        if on_delta is not None and answer.text:
            on_delta(answer.text)
        return answer
    for delta in stream:
        if on_delta is not None:
            on_delta(delta)
    assert stream.answer is not None
    return stream.answer


def cache_for(index: SearchSource, cache: LLMCache | bool | None) -> LLMCache | None:
    """``True``: the index's answer cache; ``False``/``None``: none; else ``cache``."""
    if cache is True:
        return llm_cache(index)
    if cache is False or cache is None:
        return None
    return cache


def ask(
    index: SearchSource,
    question: str,
    settings: Settings | None = None,
    *,
    backend: Backend | None = None,
    cache: LLMCache | bool | None = True,
    filters: Any = None,
    history: list[Turn] | None = None,
    query: str | None = None,
    on_delta: Callable[[str], None] | None = None,
    template: str | None = None,
    env: Mapping[str, str] | None = None,
) -> AskResult:
    """Answer ``question`` from ``index`` with citations (see the module docstring).

    ``settings`` defaults to the index's; ``backend`` to ``make_backend(settings)``;
    ``cache=True`` uses ``<index>/cache/llm/``, ``False`` none. ``query`` is what to
    search (default: the question); ``history`` the earlier turns to show the model.
    Raises ``RagError`` subclasses (no sources, missing key, refused, timeout, ...).
    """
    settings = settings or index.settings
    question = question.strip()
    if not question:
        raise UsageError("empty question")
    query = (query or question).strip()
    if backend is None:
        backend = make_backend(settings, env=env)
    if template is None:
        template = resolve_template(settings, getattr(index, "base_dir", None))

    start = time.perf_counter()
    hits = retrieve(index, query, settings, filters)
    retrieved = time.perf_counter() - start
    if abstains(index, hits, settings):
        result = abstention(question, query, hits, settings, backend, on_delta)
        result.timings["retrieve_s"] = result.timings["total_s"] = round(retrieved, 4)
        return result
    result = answer_from_hits(
        index,
        question,
        hits,
        settings,
        backend=backend,
        cache=cache,
        history=history,
        query=query,
        on_delta=on_delta,
        template=template,
    )
    result.timings["retrieve_s"] = round(retrieved, 4)
    result.timings["total_s"] = round(retrieved + (result.timings["generate_s"] or 0.0), 4)
    return result


def answer_bar(settings: Settings) -> float:
    """The cosine the best hit must reach for ``ask`` to answer."""
    return ANSWER_MIN_SCORE if settings.min_score is None else settings.min_score


def best_cosine(hits: list[Hit]) -> float | None:
    cosines = [hit.dense for hit in hits if hit.dense is not None]
    return max(cosines) if cosines else None


def abstains(index: SearchSource, hits: list[Hit], settings: Settings) -> bool:
    """Whether ``ask`` should say the index has no answer. No hits at all is an error
    (empty index, filters matching nothing) unless ``--min-score`` removed them."""
    if settings.mode == "sparse":
        return False
    if not hits:
        if settings.min_score is None or index.store.n_chunks == 0:
            raise no_hits_error(index)
        return True
    best = best_cosine(hits)
    return best is None or best < answer_bar(settings)


def abstention(
    question: str,
    query: str,
    hits: list[Hit],
    settings: Settings,
    backend: Backend,
    on_delta: Callable[[str], None] | None = None,
) -> AskResult:
    """The ``AskResult`` of a question nothing in the index is relevant to."""
    best, bar = best_cosine(hits), answer_bar(settings)
    detail = "no passage passed --min-score" if best is None else f"best cosine {best:.2f}"
    text = f"{NO_ANSWER} ({detail}, below {bar:g})."
    if on_delta is not None:
        on_delta(text)
    return AskResult(
        question=question,
        query=query,
        hits=hits,
        prompt=Prompt(question=query, system="", user="", sources=[]),
        answer=Answer(text, backend.name, backend.model, stop_reason="no_answer"),
        citations=check_citations(text, 0),
        selection_reason=backend.selection_reason,
        timings={"retrieve_s": 0.0, "first_token_s": None, "generate_s": 0.0, "total_s": 0.0},
        no_answer=True,
        relevance={"best_cosine": best, "min_score": bar},
    )


def _with_search_model(backend: Backend, index: SearchSource, settings: Settings) -> Backend:
    """The extractive backend ranks passages with the embedding model the search loaded
    (not in sparse mode, which loads none)."""
    if backend.name != "extractive" or settings.mode == "sparse":
        return backend
    with_encoder = getattr(backend, "with_encoder", None)
    if with_encoder is None or getattr(index, "query_encoder", None) is None:
        return backend
    return with_encoder(lambda: index.query_encoder)


def answer_from_hits(
    index: SearchSource,
    question: str,
    hits: list[Hit],
    settings: Settings,
    *,
    backend: Backend,
    cache: LLMCache | bool | None = True,
    history: list[Turn] | None = None,
    query: str | None = None,
    on_delta: Callable[[str], None] | None = None,
    template: str | None = None,
) -> AskResult:
    """The generation half of ``ask``: prompt, model (via the cache) and citations for
    hits already retrieved (``rag eval`` retrieves in batches, then answers each)."""
    query = (query or question).strip()
    if not hits:
        raise no_hits_error(index)
    start = time.perf_counter()
    # The extractive backend scores sentences against the prompt's question, so it gets
    # the standalone query; a model gets the user's words and the conversation.
    asked = query if backend.name == "extractive" else question
    backend = _with_search_model(backend, index, settings)
    prompt = make_prompt(asked, hits, settings, history, template)
    answer = run_prompt(backend, prompt, cache_for(index, cache), on_delta)
    generated = time.perf_counter() - start
    best = best_cosine(hits)
    return AskResult(
        question=question,
        query=query,
        hits=hits,
        prompt=prompt,
        answer=answer,
        citations=check_citations(answer.text, len(prompt.sources)),
        selection_reason=backend.selection_reason,
        hint=configure_hint(backend),
        timings={
            "retrieve_s": 0.0,
            "first_token_s": answer.first_token_s,
            "generate_s": round(generated, 4),
            "total_s": round(generated, 4),
        },
        history=list((history or [])[-HISTORY_TURNS:]),
        relevance={"best_cosine": best, "min_score": answer_bar(settings)},
    )
