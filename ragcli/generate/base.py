"""What every backend shares: the ``Answer``, the ``AnswerStream`` that builds it, and
the ``Backend`` base class (settings, wire body, error mapping)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ragcli.config import Settings
from ragcli.errors import RagError, UsageError, configured_secrets, redact
from ragcli.generate.errors import (
    LLMConnectionError,
    LLMError,
    LLMTimeoutError,
    scrub,
    url_password,
)
from ragcli.prompt import Prompt

DEFAULT_TIMEOUT = 120.0  # seconds; local models can be slow to load
DEFAULT_MAX_RETRIES = 2


def chat_messages(prompt: Prompt) -> list[dict[str, str]]:
    """The system and user messages as chat APIs with a system role take them."""
    return [
        {"role": "system", "content": prompt.system},
        {"role": "user", "content": prompt.user},
    ]


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


def stream_error(err: Exception, service: str, timeout: float) -> LLMError | None:
    """A one-line error for a stream that broke in a way the SDK does not wrap."""
    if isinstance(err, json.JSONDecodeError):
        return LLMError(f"{service} sent a stream event that is not JSON ({err.msg})")
    if isinstance(err, UnicodeDecodeError):
        return LLMError(f"{service} sent a stream that is not UTF-8")
    # The SDKs assert on the event order they expect, and build events without checking
    # their shape: an event that is a list, or a field of the wrong type, fails later.
    if isinstance(err, AssertionError | AttributeError | TypeError | KeyError | IndexError):
        return LLMError(f"{service} sent a malformed or incomplete stream")
    # httpx errors the SDKs let through while iterating (by name: the SDKs may vendor
    # httpx under another module name)
    names = {cls.__name__ for cls in type(err).__mro__}
    if names & {"TimeoutException", "TimeoutError"}:
        return LLMTimeoutError(f"{service} did not answer within {timeout:g} s")
    if "TransportError" in names:
        return LLMConnectionError(f"the connection to {service} broke mid-answer")
    return None


def redacted_deltas(
    deltas: Iterator[str], meta: dict[str, Any], secrets: tuple[str, ...]
) -> Iterator[str]:
    """``deltas`` with every secret value replaced by ***, also when a secret is split
    across deltas: a delta's end that could begin a secret waits for the next delta."""
    values = configured_secrets(secrets)
    if not values:
        yield from deltas
        return
    buffer = ""
    for delta in deltas:
        buffer = redact(buffer + delta, values)
        held = _secret_prefix_len(buffer, values)
        if len(buffer) > held:
            yield buffer[: len(buffer) - held]
            buffer = buffer[len(buffer) - held :]
    if buffer:
        yield buffer
    for name, value in list(meta.items()):
        if isinstance(value, str):
            meta[name] = redact(value, values)


def _secret_prefix_len(text: str, secrets: list[str]) -> int:
    """The length of the longest end of ``text`` that is the start of a secret."""
    longest = 0
    for secret in secrets:
        for size in range(min(len(secret) - 1, len(text)), longest, -1):
            if text.endswith(secret[:size]):
                longest = size
                break
    return longest


# --------------------------------------------------------------------------- backends


class Backend:
    """One language-model service. Subclasses implement ``_run``."""

    name: ClassVar[str] = ""
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

    @classmethod
    def request_body(
        cls, prompt: Prompt, model: str, temperature: float, max_tokens: int, stream: bool
    ) -> dict[str, Any]:
        """The JSON body this backend sends for ``prompt`` (no credentials: those are
        headers). Each backend that calls a server defines its own wire format."""
        raise UsageError(f"no request body for backend {cls.name!r}: it sends no request")

    def body(self, prompt: Prompt, stream: bool = True) -> dict[str, Any]:
        return self.request_body(prompt, self.model, self.temperature, self.max_tokens, stream)

    def cache_params(self) -> dict[str, Any]:
        """The non-secret parameters that change the answer (part of the cache key)."""
        return {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "base_url": self.shown_url(),
        }

    def shown_url(self) -> str | None:
        """``base_url`` as it may be printed or stored: without a password."""
        return scrub(self.base_url, self.secrets()) if self.base_url else self.base_url

    def describe(self) -> str:
        where = f" at {self.shown_url()}" if self.base_url else ""
        return f"{self.name} ({self.model}){where}"

    def secrets(self) -> tuple[str, ...]:
        """Every credential this backend holds: its keys and a password in ``base_url``."""
        password = url_password(self.base_url)
        return (*self._secrets(), *((password,) if password else ()))

    def stream(self, prompt: Prompt) -> AnswerStream:
        meta: dict[str, Any] = {}
        deltas = redacted_deltas(self._guarded(prompt, meta), meta, self.secrets())
        return AnswerStream(deltas, self.name, self.model, meta)

    def generate(self, prompt: Prompt) -> Answer:
        return self.stream(prompt).finish()

    def service(self) -> str:
        """How messages name the server: ``Ollama at http://...`` (no credentials)."""
        return f"{self.name} at {self.shown_url()}"

    def _guarded(self, prompt: Prompt, meta: dict[str, Any]) -> Iterator[str]:
        try:
            for delta in self._run(prompt, meta):
                if not isinstance(delta, str):
                    raise LLMError(f"{self.service()} sent a malformed or incomplete stream")
                yield delta
        except RagError as err:
            err.args = (scrub(str(err), self.secrets()),)
            raise
        except Exception as err:
            mapped = self._map_error(err) or stream_error(err, self.service(), self.timeout)
            if mapped is None:
                raise
            mapped.args = (scrub(str(mapped), self.secrets()),)
            raise mapped from None

    def _run(self, prompt: Prompt, meta: dict[str, Any]) -> Iterator[str]:
        raise NotImplementedError

    def _map_error(self, err: Exception) -> LLMError | None:
        return None

    def _secrets(self) -> tuple[str, ...]:
        return ()
