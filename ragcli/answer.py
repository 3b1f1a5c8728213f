"""Grounded answers from an index: retrieve, build the prompt, call the model, check citations.

    from ragcli import Index
    from ragcli.answer import ask

    result = ask(Index.locate(), "what changed in the v2 API?")
    print(result.text)
    for source in result.cited_sources():
        print(source.n, source.describe())

``ask`` runs the whole pipeline once: ``Index.search`` with the settings' retrieval
options, ``build_prompt`` within ``max_context_tokens``, the language-model backend
(``make_backend``: explicit ``llm`` setting, else Claude if ``ANTHROPIC_API_KEY`` is set,
else a local Ollama, else the extractive fallback), served from the answer cache in
``<index>/cache/llm/`` when the same prompt was answered before, and ``check_citations``
on the text. ``on_delta`` receives the text as it streams.

**Conversations** (``ChatSession``, used by ``rag chat``). A follow-up such as "where was
he born?" is rewritten into a standalone query before retrieval:

* with a language model, the model is asked to rewrite it from the recent turns
  (``REWRITE_SYSTEM``; a short prompt, cached like answers);
* with the extractive backend, a heuristic: when the follow-up is short (fewer than
  ``SHORT_FOLLOW_UP`` content words) or uses a pronoun, the previous query's key terms
  (its capitalised or numeric words, else all its content words) are appended.

The last ``HISTORY_TURNS`` turns go into the user message ahead of the sources, with
their citation markers removed (their numbers referred to other sources). Turns are
appended to ``<index>/cache/chat/history.jsonl``, one JSON object per line, each with a
``session`` id; a new ``ChatSession`` continues the latest session unless ``new=True``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragcli.cache import LLMCache
from ragcli.citations import CitationReport, check_citations
from ragcli.config import Settings
from ragcli.errors import RagError, UsageError
from ragcli.generate import Answer, Backend, answer_stream, backend_class, make_backend
from ragcli.generate.extractive import HINT
from ragcli.prompt import Prompt, Source, build_prompt, load_template, request_body
from ragcli.text import FUNCTION_WORDS
from ragcli.types import Hit

HISTORY_TURNS = 3
SHORT_FOLLOW_UP = 4  # content words; fewer than this and the previous subject is added
PAST_ANSWER_CHARS = 600  # each earlier answer is cut to this in the prompt
REWRITE_MAX_TOKENS = 100
MAX_QUERY_CHARS = 500

REWRITE_SYSTEM = (
    "You rewrite a follow-up question from a conversation into one standalone question "
    "that can be understood without the conversation. Replace pronouns and vague "
    "references with the names they refer to. Do not answer the question. Reply with the "
    "standalone question only, on one line."
)

CONFIGURE_HINT = (
    "no language model found ({reason}), so these are the best matching passages; for a "
    "written answer set ANTHROPIC_API_KEY, start Ollama, or use --llm openai --base-url URL "
    "--model NAME"
)

_PRONOUNS = frozenset(
    {"it", "its", "he", "him", "his", "she", "her", "hers", "they", "them", "their"}
    | {"theirs", "this", "that", "these", "those", "there", "former", "latter"}
)
_CITATION_MARK = re.compile(r"\s*\[\s*\d+(?:\s*[-\u2013,;]\s*\d+)*\s*\](?!\()")
_WORD = re.compile(r"[^\W_]+(?:['\u2019-][^\W_]+)*")


def llm_cache(index: Any, no_cache: bool = False) -> LLMCache:
    """The answer cache of an index: ``<index>/cache/llm/``."""
    return LLMCache(Path(index.path) / "cache" / "llm", no_cache=no_cache)


def history_path(index: Any) -> Path:
    return Path(index.path) / "cache" / "chat" / "history.jsonl"


def open_backend(
    settings: Settings,
    name: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> Backend:
    """``make_backend``: the named backend, the ``llm`` setting, or the automatic choice."""
    return make_backend(settings, name, env=env, **kwargs)


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


# --------------------------------------------------------------------------- results


@dataclass
class Turn:
    """One exchange of a conversation, as kept in the history file."""

    question: str
    answer: str
    query: str = ""  # the standalone query used for retrieval
    sources: list[dict[str, Any]] = field(default_factory=list)  # n, source, location
    time: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "query": self.query,
            "answer": self.answer,
            "sources": self.sources,
            "time": self.time,
        }


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

    def to_dict(self) -> dict[str, Any]:
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
            "sources": sources,
            "usage": {
                "input_tokens": self.answer.input_tokens,
                "output_tokens": self.answer.output_tokens,
            },
            "timings": self.timings,
            "context_tokens": self.prompt.context_tokens,
            "history_turns": len(self.history),
            "hint": self.hint,
        }


# --------------------------------------------------------------------------- pipeline


def retrieve(index: Any, query: str, settings: Settings, filters: Any = None) -> list[Hit]:
    """``index.search`` with every retrieval option taken from ``settings``."""
    return index.search(query, params=settings.search_params(filters))


def strip_citations(text: str) -> str:
    return _CITATION_MARK.sub("", text)


def format_history(turns: list[Turn]) -> str:
    lines = [
        "Conversation so far (for context only; answer the last question from the sources below):"
    ]
    for turn in turns:
        past = " ".join(strip_citations(turn.answer).split())
        if len(past) > PAST_ANSWER_CHARS:
            past = past[: PAST_ANSWER_CHARS - 1].rstrip() + "…"
        lines.append(f"User: {' '.join(turn.question.split())}")
        lines.append(f"Assistant: {past}")
    return "\n".join(lines)


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


def no_hits_error(index: Any) -> RagError:
    try:
        empty = index.store.n_chunks == 0
    except Exception:  # noqa: BLE001 - only for the wording of the message
        empty = False
    if empty:
        return RagError("the index is empty (run `rag ingest PATH` first)")
    return RagError("no sources matched the question (check --filter/--type/--doc)")


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


def _cache_for(index: Any, cache: LLMCache | bool | None) -> LLMCache | None:
    if cache is True:
        return llm_cache(index)
    if cache is False or cache is None:
        return None
    return cache


def ask(
    index: Any,
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
        backend = open_backend(settings, env=env)
    if template is None:
        template = resolve_template(settings, getattr(index, "base_dir", None))

    start = time.perf_counter()
    hits = retrieve(index, query, settings, filters)
    retrieved = time.perf_counter() - start
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


def answer_from_hits(
    index: Any,
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
    prompt = make_prompt(asked, hits, settings, history, template)
    answer = run_prompt(backend, prompt, _cache_for(index, cache), on_delta)
    generated = time.perf_counter() - start
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
    )


# --------------------------------------------------------------------------- generate


def body_model(settings: Settings, style: str) -> str:
    """The model a request body names: the setting, else the backend's default."""
    name = {"anthropic": "claude", "claude": "claude"}.get(style, style)
    model = settings.llm_model or backend_class(name).default_model
    if not model:
        raise UsageError(f"the {name} backend needs a model name (--model)")
    return model


def prompt_body(prompt: Prompt, settings: Settings, style: str) -> dict[str, Any]:
    """The exact JSON body the backend for ``style`` would send (no credentials)."""
    return request_body(
        prompt,
        style,
        body_model(settings, style),
        settings.temperature,
        settings.max_tokens,
        stream=True,
    )


# --------------------------------------------------------------------------- conversations


def _content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text) if w.lower() not in FUNCTION_WORDS]


def key_terms(query: str) -> list[str]:
    """The words that carry a query's subject: capitalised or numeric ones if any."""
    words = _WORD.findall(query)
    marked = [
        w
        for i, w in enumerate(words)
        if w.lower() not in FUNCTION_WORDS
        and (any(c.isdigit() for c in w) or (w[0].isupper() and (i > 0 or w.isupper())))
    ]
    chosen = marked or _content_words(query)
    return list(dict.fromkeys(chosen))


def needs_context(question: str) -> bool:
    words = [w.lower() for w in _WORD.findall(question)]
    if any(w in _PRONOUNS for w in words):
        return True
    return len(_content_words(question)) < SHORT_FOLLOW_UP


def heuristic_rewrite(question: str, history: list[Turn]) -> str:
    """The follow-up plus the previous query's key terms, when it needs them."""
    if not history or not needs_context(question):
        return question
    previous = history[-1].query or history[-1].question
    present = {w.lower() for w in _WORD.findall(question)}
    extra = [t for t in key_terms(previous) if t.lower() not in present]
    return f"{question} {' '.join(extra)}".strip() if extra else question


def rewrite_prompt(question: str, history: list[Turn]) -> Prompt:
    lines = ["Conversation:"]
    for turn in history[-HISTORY_TURNS:]:
        past = " ".join(strip_citations(turn.answer).split())
        if len(past) > 300:
            past = past[:299].rstrip() + "…"
        lines.append(f"User: {' '.join(turn.question.split())}")
        lines.append(f"Assistant: {past}")
    lines += ["", f"Follow-up question: {' '.join(question.split())}", "", "Standalone question:"]
    return Prompt(question=question, system=REWRITE_SYSTEM, user="\n".join(lines), sources=[])


def _clean_rewrite(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    line = re.sub(r"(?i)^(standalone question|question)\s*:\s*", "", lines[0])
    return line.strip().strip("\"'\u201c\u201d").strip()


def standalone_query(
    question: str,
    history: list[Turn],
    backend: Backend,
    cache: LLMCache | None = None,
) -> str:
    """The follow-up rewritten for retrieval (see the module docstring)."""
    if not history:
        return question
    if backend.name == "extractive":
        return heuristic_rewrite(question, history)
    rewriter = copy.copy(backend)
    rewriter.max_tokens = min(backend.max_tokens, REWRITE_MAX_TOKENS)
    answer = answer_stream(rewriter, rewrite_prompt(question, history), cache=cache).finish()
    rewritten = _clean_rewrite(answer.text)
    if not rewritten or len(rewritten) > MAX_QUERY_CHARS:
        return heuristic_rewrite(question, history)
    return rewritten


class ChatSession:
    """A conversation over one index; ``turn`` answers and records one question."""

    def __init__(
        self,
        index: Any,
        settings: Settings | None = None,
        *,
        backend: Backend | None = None,
        cache: LLMCache | bool | None = True,
        filters: Any = None,
        new: bool = False,
        history_file: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.index = index
        self.settings = settings or index.settings
        self.backend = backend or open_backend(self.settings, env=env)
        self.cache = _cache_for(index, cache)
        self.filters = filters
        self.template = resolve_template(self.settings, getattr(index, "base_dir", None))
        self.history_file = history_file or history_path(index)
        self.session = ""
        self.turns: list[Turn] = []
        self.last: AskResult | None = None
        if not new:
            self.session, self.turns = load_history(self.history_file)
        if not self.session:
            self.session = uuid.uuid4().hex[:12]

    def reset(self) -> None:
        """Start a new session: earlier turns are no longer shown to the model."""
        self.session = uuid.uuid4().hex[:12]
        self.turns = []
        self.last = None

    def turn(self, question: str, on_delta: Callable[[str], None] | None = None) -> AskResult:
        question = question.strip()
        recent = self.turns[-HISTORY_TURNS:]
        query = standalone_query(question, recent, self.backend, self.cache)
        result = ask(
            self.index,
            question,
            self.settings,
            backend=self.backend,
            cache=self.cache,
            filters=self.filters,
            history=recent,
            query=query,
            on_delta=on_delta,
            template=self.template,
        )
        turn = Turn(
            question=question,
            answer=result.text,
            query=query,
            sources=[
                {"n": s.n, "source": s.source, "location": s.location.describe()}
                for s in result.sources
            ],
            time=time.time(),
        )
        self.turns.append(turn)
        self.last = result
        append_history(self.history_file, self.session, turn, result)
        return result


def append_history(path: Path, session: str, turn: Turn, result: AskResult) -> None:
    record = {
        "session": session,
        **turn.to_dict(),
        "backend": result.answer.backend,
        "model": result.answer.model,
        "cited": result.citations.cited,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, ensure_ascii=False) + "\n"
    with path.open("a", encoding="utf-8") as handle:  # append-only
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def load_history(path: Path) -> tuple[str, list[Turn]]:
    """The latest session id in the history file and its turns (unreadable lines skipped)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return "", []
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("question"), str):
            records.append(record)
    if not records:
        return "", []
    session = str(records[-1].get("session") or "")
    turns = [
        Turn(
            question=r["question"],
            answer=str(r.get("answer") or ""),
            query=str(r.get("query") or ""),
            sources=list(r.get("sources") or []),
            time=float(r.get("time") or 0.0),
        )
        for r in records
        if str(r.get("session") or "") == session
    ]
    return session, turns
