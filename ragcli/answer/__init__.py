"""Grounded answers from an index: retrieve, build the prompt, call the model, check citations.

    from ragcli import Index
    from ragcli.answer import ask

    result = ask(Index.locate(), "what changed in the v2 API?")
    print(result.text)
    for source in result.cited_sources():
        print(source.n, source.describe())

Modules: ``ask`` (one answer: ``ask``, ``answer_from_hits``, ``AskResult``), ``chat``
(``ChatSession``: follow-up rewriting and the chat prompt's slash commands),
``history`` (turns in a prompt and in ``<index>/cache/chat/history.jsonl``) and
``citations`` (the ``[n]`` markers).
"""

from __future__ import annotations

from ragcli.answer.ask import (
    CONFIGURE_HINT,
    AskResult,
    answer_from_hits,
    ask,
    cache_for,
    configure_hint,
    llm_cache,
    make_prompt,
    no_hits_error,
    prepare_prompt,
    resolve_template,
    retrieve,
    run_prompt,
)
from ragcli.answer.chat import (
    MAX_QUERY_CHARS,
    REWRITE_MAX_TOKENS,
    REWRITE_SYSTEM,
    SHORT_FOLLOW_UP,
    ChatReply,
    ChatSession,
    heuristic_rewrite,
    key_terms,
    line_action,
    needs_context,
    rewrite_prompt,
    standalone_query,
)
from ragcli.answer.citations import (
    CitationReport,
    check_citations,
    find_citations,
    strip_citations,
)
from ragcli.answer.history import (
    HISTORY_TURNS,
    PAST_ANSWER_CHARS,
    Turn,
    append_history,
    format_history,
    history_path,
    load_history,
)

__all__ = [
    "CONFIGURE_HINT",
    "HISTORY_TURNS",
    "MAX_QUERY_CHARS",
    "PAST_ANSWER_CHARS",
    "REWRITE_MAX_TOKENS",
    "REWRITE_SYSTEM",
    "SHORT_FOLLOW_UP",
    "AskResult",
    "ChatReply",
    "ChatSession",
    "CitationReport",
    "Turn",
    "answer_from_hits",
    "append_history",
    "ask",
    "cache_for",
    "check_citations",
    "configure_hint",
    "find_citations",
    "format_history",
    "heuristic_rewrite",
    "history_path",
    "key_terms",
    "line_action",
    "llm_cache",
    "load_history",
    "make_prompt",
    "needs_context",
    "no_hits_error",
    "prepare_prompt",
    "resolve_template",
    "retrieve",
    "rewrite_prompt",
    "run_prompt",
    "standalone_query",
    "strip_citations",
]
