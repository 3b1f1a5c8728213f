"""Language-model backends that turn a ``Prompt`` into a streamed, cited answer.

Backends (``--llm``):

* ``claude``: Anthropic Messages API via the ``anthropic`` SDK. Needs
  ``ANTHROPIC_API_KEY``; base URL from ``Settings.base_url`` or ``ANTHROPIC_BASE_URL``.
  Default model ``claude.DEFAULT_MODEL``.
* ``ollama``: Ollama's native ``/api/chat`` (NDJSON stream). Host from
  ``Settings.base_url`` or ``OLLAMA_HOST`` (default ``http://127.0.0.1:11434``). Model
  from ``Settings.llm_model``, else the first model the server lists, else ``llama3.2``.
* ``openai``: any OpenAI-compatible ``/v1/chat/completions`` server (vLLM, llama.cpp,
  LM Studio, ...). Needs ``base_url`` and a model; key from ``OPENAI_API_KEY`` or a
  placeholder for local servers.
* ``extractive``: no model; quotes the best supporting sentences with their ``[n]``.

Which one answers when none is named: ``ragcli.generate.select`` (explicit setting, else
Claude if ``ANTHROPIC_API_KEY`` is set, else a local Ollama, else extractive).

Modules: ``errors`` (``LLMError`` and its subclasses, ``scrub``), ``base`` (``Answer``,
``AnswerStream``, ``Backend``), ``select`` (the alias table, ``make_backend``),
``cache`` (the answer cache, ``answer_stream``), and one module per backend, each
building its own wire body (``Backend.request_body``).

Usage (what a CLI command does)::

    backend = make_backend(settings)
    prompt = build_prompt(question, hits, settings.max_context_tokens)
    stream = answer_stream(backend, prompt, cache=LLMCache(index / "cache" / "llm"))
    for delta in stream:
        print(delta, end="", flush=True)
    answer = stream.answer  # text, usage, timings; check_citations(answer.text, ...)

Failures raise ``LLMError`` subclasses of ``RagError`` with one-line messages from which
API keys have been removed.
"""

from __future__ import annotations

from ragcli.generate.base import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, Answer, AnswerStream, Backend
from ragcli.generate.cache import LLMCache, answer_stream
from ragcli.generate.errors import (
    CONTEXT_TOO_LONG,
    AuthenticationError,
    ContextTooLongError,
    LLMConnectionError,
    LLMError,
    LLMRequestError,
    LLMTimeoutError,
    MissingAPIKeyError,
    RateLimitError,
    ServerError,
    scrub,
    status_error,
)
from ragcli.generate.ollama import normalize_ollama_host, ollama_host, probe_ollama
from ragcli.generate.select import (
    LLMS,
    Choice,
    backend_class,
    canonical_name,
    choose_backend,
    make_backend,
    request_body,
    settings_body,
)

__all__ = [
    "CONTEXT_TOO_LONG",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "Answer",
    "AnswerStream",
    "AuthenticationError",
    "Backend",
    "LLMS",
    "Choice",
    "ContextTooLongError",
    "LLMCache",
    "LLMConnectionError",
    "LLMError",
    "LLMRequestError",
    "LLMTimeoutError",
    "MissingAPIKeyError",
    "RateLimitError",
    "ServerError",
    "answer_stream",
    "backend_class",
    "canonical_name",
    "choose_backend",
    "make_backend",
    "normalize_ollama_host",
    "ollama_host",
    "probe_ollama",
    "request_body",
    "scrub",
    "settings_body",
    "status_error",
]
