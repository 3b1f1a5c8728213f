"""Language-model backends that turn a ``Prompt`` into a streamed, cited answer.

Backends (``--llm``):

* ``claude``: Anthropic Messages API via the ``anthropic`` SDK. Needs
  ``ANTHROPIC_API_KEY``; base URL from ``Settings.base_url`` or ``ANTHROPIC_BASE_URL``.
  Default model ``claude-sonnet-4-5``.
* ``ollama``: Ollama's native ``/api/chat`` (NDJSON stream). Host from
  ``Settings.base_url`` or ``OLLAMA_HOST`` (default ``http://127.0.0.1:11434``). Model
  from ``Settings.llm_model``, else the first model the server lists, else ``llama3.2``.
* ``openai``: any OpenAI-compatible ``/v1/chat/completions`` server (vLLM, llama.cpp,
  LM Studio, ...). Needs ``base_url`` and a model; key from ``OPENAI_API_KEY`` or a
  placeholder for local servers.
* ``extractive``: no model; quotes the best supporting sentences with their ``[n]``.

Selection when no backend is named (``choose_backend``), first match wins:

1. ``Settings.llm`` if set and not ``auto`` (``RAG_LLM``, config file or ``--llm``);
2. ``claude`` if ``ANTHROPIC_API_KEY`` is set;
3. ``ollama`` if it answers ``GET /api/tags`` on its host within 0.3 s;
4. ``extractive``.

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

import importlib
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ragcli.config import Settings
from ragcli.errors import RagError, UsageError
from ragcli.prompt import Prompt, request_body

DEFAULT_TIMEOUT = 120.0  # seconds; local models can be slow to load
DEFAULT_MAX_RETRIES = 2
OLLAMA_DEFAULT_HOST = "http://127.0.0.1:11434"
OLLAMA_PROBE_TIMEOUT = 0.3


# --------------------------------------------------------------------------- errors


class LLMError(RagError):
    """A language-model call failed."""


class MissingAPIKeyError(LLMError):
    exit_code = 2


class LLMConnectionError(LLMError):
    pass


class LLMTimeoutError(LLMError):
    pass


class RateLimitError(LLMError):
    pass


class ServerError(LLMError):
    pass


class AuthenticationError(LLMError):
    pass


class ContextTooLongError(LLMError):
    pass


class LLMRequestError(LLMError):
    """The server refused the request (bad model name, bad parameter, ...)."""


_KEY_PATTERNS = [
    re.compile(r"sk-ant-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"sk-[A-Za-z0-9_\-]{16,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]{8,}"),
    re.compile(
        r"(?i)((?:api[_-]?key|x-api-key|authorization)[\"']?\s*[:=]\s*[\"']?(?:bearer\s+)?)"
        r"[^\s\"',}]+"
    ),
]
_SECRET_ENV = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "OPENAI_API_KEY", "OLLAMA_API_KEY")


def scrub(text: str, secrets: tuple[str, ...] | list[str] = ()) -> str:
    """One line, no credentials: known key values and key-shaped strings become ***."""
    values = [s for s in secrets if s and len(s) >= 4]
    values += [os.environ[name] for name in _SECRET_ENV if len(os.environ.get(name, "")) >= 4]
    for value in sorted(set(values), key=len, reverse=True):
        text = text.replace(value, "***")
    for pattern in _KEY_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "***", text)
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."


CONTEXT_TOO_LONG = re.compile(
    r"context (?:length|size|window)|prompt is too long|too many tokens|maximum context"
    r"|context_length_exceeded|exceeds? the (?:available )?context|input is too long",
    re.IGNORECASE,
)


def status_error(
    status: int, detail: str, *, service: str, model: str, secrets: tuple[str, ...] = ()
) -> LLMError:
    """Map an HTTP error status from an LLM server to a one-line ``LLMError``."""
    detail = scrub(detail or "", secrets)
    said = f" (server said: {detail})" if detail else ""
    if status == 413 or (status in (400, 422) and CONTEXT_TOO_LONG.search(detail)):
        return ContextTooLongError(
            f"the prompt is too long for {model} on {service}{said}; "
            "lower --max-context-tokens or --k"
        )
    if status in (401, 403):
        return AuthenticationError(f"{service} rejected the credentials (HTTP {status}){said}")
    if status == 404:
        return LLMRequestError(f"{service}: model {model!r} or endpoint not found{said}")
    if status == 429:
        return RateLimitError(f"{service} is rate limiting requests (HTTP 429) after retries{said}")
    if status >= 500:
        return ServerError(f"{service} failed with HTTP {status} after retries{said}")
    return LLMRequestError(f"{service} refused the request (HTTP {status}){said}")


# --------------------------------------------------------------------------- results


@dataclass
class Answer:
    text: str
    backend: str
    model: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    stop_reason: str | None = None
    first_token_s: float | None = None  # seconds from the request to the first delta
    total_s: float | None = None
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "backend": self.backend,
            "model": self.model,
            "usage": {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens},
            "stop_reason": self.stop_reason,
            "timings": {"first_token_s": self.first_token_s, "total_s": self.total_s},
            "cached": self.cached,
        }


class AnswerStream(Iterator[str]):
    """Iterate for text deltas; ``answer`` is set once the stream is exhausted."""

    def __init__(
        self,
        deltas: Iterator[str],
        backend: str,
        model: str,
        meta: dict[str, Any] | None = None,
        cached: bool = False,
        on_done: Any = None,
    ) -> None:
        self._deltas = deltas
        self._meta = meta if meta is not None else {}
        self._parts: list[str] = []
        self._start: float | None = None
        self._first: float | None = None
        self._on_done = on_done
        self.backend = backend
        self.model = model
        self.cached = cached
        self.answer: Answer | None = None

    def __iter__(self) -> AnswerStream:
        return self

    def __next__(self) -> str:
        if self.answer is not None:
            raise StopIteration
        if self._start is None:
            self._start = time.perf_counter()
        try:
            delta = next(self._deltas)
        except StopIteration:
            self._finish()
            raise
        if self._first is None:
            self._first = time.perf_counter()
        self._parts.append(delta)
        return delta

    def _finish(self) -> None:
        end = time.perf_counter()
        start = self._start if self._start is not None else end
        meta = self._meta
        self.answer = Answer(
            text="".join(self._parts),
            backend=self.backend,
            model=meta.get("model") or self.model,
            input_tokens=meta.get("input_tokens"),
            output_tokens=meta.get("output_tokens"),
            stop_reason=meta.get("stop_reason"),
            first_token_s=None if self._first is None else round(self._first - start, 4),
            total_s=round(end - start, 4),
            cached=self.cached,
        )
        if self._on_done is not None:
            self._on_done(self.answer)

    def finish(self) -> Answer:
        """Consume the rest of the stream and return the answer."""
        for _ in self:
            pass
        assert self.answer is not None
        return self.answer


# --------------------------------------------------------------------------- backends


class Backend:
    """One language-model service. Subclasses implement ``_run``."""

    name: ClassVar[str] = ""
    body_style: ClassVar[str] = ""
    default_model: ClassVar[str | None] = None
    cacheable: ClassVar[bool] = True
    selection_reason: str = ""

    def __init__(
        self,
        model: str | None = None,
        *,
        temperature: float = 0.0,
        max_tokens: int = 1024,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_backoff: float = 0.5,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.env = os.environ if env is None else env
        self.model = model or self.default_model or ""
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.base_url = base_url
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> Backend:
        kwargs.setdefault("temperature", settings.temperature)
        kwargs.setdefault("max_tokens", settings.max_tokens)
        kwargs.setdefault("base_url", settings.base_url)
        return cls(settings.llm_model, **kwargs)

    def body(self, prompt: Prompt, stream: bool = True) -> dict[str, Any]:
        return request_body(
            prompt, self.body_style, self.model, self.temperature, self.max_tokens, stream
        )

    def cache_params(self) -> dict[str, Any]:
        """The non-secret parameters that change the answer (part of the cache key)."""
        return {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "base_url": self.base_url,
        }

    def describe(self) -> str:
        where = f" at {self.base_url}" if self.base_url else ""
        return f"{self.name} ({self.model}){where}"

    def stream(self, prompt: Prompt) -> AnswerStream:
        meta: dict[str, Any] = {}
        return AnswerStream(self._guarded(prompt, meta), self.name, self.model, meta)

    def generate(self, prompt: Prompt) -> Answer:
        return self.stream(prompt).finish()

    def _guarded(self, prompt: Prompt, meta: dict[str, Any]) -> Iterator[str]:
        try:
            yield from self._run(prompt, meta)
        except RagError:
            raise
        except Exception as err:
            mapped = self._map_error(err)
            if mapped is None:
                raise
            raise mapped from None

    def _run(self, prompt: Prompt, meta: dict[str, Any]) -> Iterator[str]:
        raise NotImplementedError

    def _map_error(self, err: Exception) -> LLMError | None:
        return None

    def _secrets(self) -> tuple[str, ...]:
        return ()


_REGISTRY = {
    "claude": "ragcli.generate.claude:ClaudeBackend",
    "ollama": "ragcli.generate.ollama:OllamaBackend",
    "openai": "ragcli.generate.openai_compat:OpenAIBackend",
    "extractive": "ragcli.generate.extractive:ExtractiveBackend",
}
_ALIASES = {
    "anthropic": "claude",
    "openai-compat": "openai",
    "openai_compat": "openai",
    "openai-compatible": "openai",
    "none": "extractive",
}
BACKEND_NAMES = tuple(_REGISTRY)


def canonical_name(name: str) -> str:
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise UsageError(f"unknown LLM backend {name!r}; choose one of {', '.join(_REGISTRY)}")
    return key


def backend_class(name: str) -> type[Backend]:
    module_name, _, class_name = _REGISTRY[canonical_name(name)].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


# --------------------------------------------------------------------------- selection


def ollama_host(env: Mapping[str, str] | None = None) -> str:
    """``OLLAMA_HOST`` as a URL (``host``, ``host:port`` or a URL), default 127.0.0.1:11434."""
    env = os.environ if env is None else env
    raw = (env.get("OLLAMA_HOST") or "").strip()
    return normalize_ollama_host(raw) if raw else OLLAMA_DEFAULT_HOST


def normalize_ollama_host(raw: str) -> str:
    if "://" not in raw:
        raw = "http://" + raw
    parts = urllib.parse.urlsplit(raw)
    host = parts.hostname or "127.0.0.1"
    if host == "0.0.0.0":
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    port = parts.port or (443 if parts.scheme == "https" else 11434)
    path = parts.path.rstrip("/")
    return f"{parts.scheme}://{host}:{port}{path}"


def probe_ollama(host: str, timeout: float = OLLAMA_PROBE_TIMEOUT) -> list[str] | None:
    """Installed model names if Ollama answers ``GET /api/tags`` in time, else None."""
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(host.rstrip("/") + "/api/tags", timeout=timeout) as response:
            if response.status != 200:
                return None
            data = json.loads(response.read(1_000_000) or b"{}")
    except (OSError, ValueError):
        return None
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, list):
        return None
    return [m.get("name") or m.get("model") for m in models if isinstance(m, dict)]


@dataclass(frozen=True)
class Choice:
    name: str
    reason: str
    models: tuple[str, ...] = ()  # Ollama's installed models, when it was probed


def choose_backend(
    settings: Settings,
    env: Mapping[str, str] | None = None,
    probe_timeout: float = OLLAMA_PROBE_TIMEOUT,
) -> Choice:
    """Pick a backend in the documented order (see the module docstring)."""
    env = os.environ if env is None else env
    if settings.llm and settings.llm.strip().lower() != "auto":
        return Choice(canonical_name(settings.llm), "chosen by the llm setting")
    if env.get("ANTHROPIC_API_KEY"):
        return Choice("claude", "ANTHROPIC_API_KEY is set")
    host = normalize_ollama_host(settings.base_url) if settings.base_url else ollama_host(env)
    models = probe_ollama(host, probe_timeout)
    if models is not None:
        return Choice("ollama", f"Ollama answered on {host}", tuple(m for m in models if m))
    return Choice("extractive", "no ANTHROPIC_API_KEY and no Ollama answering on " + host)


def make_backend(
    settings: Settings,
    name: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> Backend:
    """The backend ``name`` (or ``settings.llm``, or the auto choice) set up from settings.

    ``kwargs`` go to the backend (``timeout``, ``max_retries``, ``retry_backoff``).
    The chosen backend's ``selection_reason`` says why it was picked.
    """
    env = os.environ if env is None else env
    if name and name.strip().lower() != "auto":
        choice = Choice(canonical_name(name), "named explicitly")
    else:
        choice = choose_backend(settings, env)
    cls = backend_class(choice.name)
    if choice.name == "ollama" and not settings.llm_model:
        models = choice.models
        if not models:
            host = (
                normalize_ollama_host(settings.base_url) if settings.base_url else ollama_host(env)
            )
            models = tuple(probe_ollama(host, timeout=2.0) or ())
        if models:
            settings = settings.with_overrides(llm_model=models[0])
    backend = cls.from_settings(settings, env=env, **kwargs)
    backend.selection_reason = choice.reason
    return backend


# --------------------------------------------------------------------------- caching


def answer_stream(backend: Backend, prompt: Prompt, cache: Any = None) -> AnswerStream:
    """``backend.stream(prompt)``, served from / saved to ``cache`` (a ``LLMCache``).

    A cache hit yields the whole stored text as one delta and sends no request; the
    answer has ``cached=True``. Only complete answers are stored.
    """
    if cache is None or not backend.cacheable:
        return backend.stream(prompt)
    key = cache.key(backend.name, backend.model, backend.cache_params(), prompt)
    entry = cache.get(key)
    if entry is not None and isinstance(entry.get("text"), str):
        usage = entry.get("usage") or {}
        meta = {
            "model": entry.get("model"),
            "input_tokens": usage.get("input_tokens"),
            "output_tokens": usage.get("output_tokens"),
            "stop_reason": entry.get("stop_reason"),
        }
        return AnswerStream(iter([entry["text"]]), backend.name, backend.model, meta, cached=True)

    def save(answer: Answer) -> None:
        cache.put(
            key,
            {
                "backend": answer.backend,
                "model": answer.model,
                "params": backend.cache_params(),
                "text": answer.text,
                "usage": {
                    "input_tokens": answer.input_tokens,
                    "output_tokens": answer.output_tokens,
                },
                "stop_reason": answer.stop_reason,
            },
        )

    stream = backend.stream(prompt)
    stream._on_done = save
    return stream


__all__ = [
    "BACKEND_NAMES",
    "Answer",
    "AnswerStream",
    "AuthenticationError",
    "Backend",
    "Choice",
    "ContextTooLongError",
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
    "ollama_host",
    "probe_ollama",
    "scrub",
    "status_error",
]
