"""What every backend shares: the ``Answer``, the ``AnswerStream`` that builds it, and
the ``Backend`` base class (settings, wire body, error mapping)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ragcli.config import Settings
from ragcli.errors import RagError, UsageError
from ragcli.generate.errors import LLMError
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
