"""Any OpenAI-compatible chat-completions server (``openai`` SDK, streaming).

``base_url`` is the API root including ``/v1`` (``http://localhost:8000/v1``); a bare
``http://host:port`` gets ``/v1`` appended. The key comes from ``OPENAI_API_KEY``; local
servers that need none get a placeholder.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from typing import Any

from ragcli.errors import UsageError
from ragcli.generate.base import Backend, chat_messages
from ragcli.generate.claude import error_detail
from ragcli.generate.errors import (
    INCOMPLETE,
    LLMConnectionError,
    LLMError,
    LLMTimeoutError,
    scrub,
    status_error,
)
from ragcli.prompt import Prompt

PLACEHOLDER_KEY = "sk-no-key-required"


def api_root(base_url: str) -> str:
    parts = urllib.parse.urlsplit(base_url.strip())
    if not parts.scheme or not parts.netloc:
        raise UsageError(f"--base-url {base_url!r} is not an http(s) URL")
    path = parts.path.rstrip("/")
    if not path:
        path = "/v1"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class OpenAIBackend(Backend):
    name = "openai"
    default_model = None

    def __init__(self, model: str | None = None, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        if not self.base_url:
            raise UsageError("the openai backend needs --base-url (e.g. http://localhost:8000/v1)")
        if not self.model:
            raise UsageError("the openai backend needs a model name (--llm-model)")
        self.base_url = api_root(self.base_url)
        self.api_key = self.env.get("OPENAI_API_KEY") or PLACEHOLDER_KEY
        try:
            import openai  # here, so its import time is not counted as request latency
        except ImportError:
            raise UsageError(
                "the openai backend needs the openai package: pip install openai"
            ) from None
        self._sdk = openai

    @classmethod
    def request_body(
        cls, prompt: Prompt, model: str, temperature: float, max_tokens: int, stream: bool
    ) -> dict[str, Any]:
        """``/v1/chat/completions`` body."""
        return {
            "model": model,
            "messages": chat_messages(prompt),
            "temperature": temperature,
            "max_tokens": max_tokens,
            "stream": stream,
        }

    def _secrets(self) -> tuple[str, ...]:
        return (self.api_key,) if self.api_key != PLACEHOLDER_KEY else ()

    def service(self) -> str:
        return f"OpenAI-compatible server at {self.shown_url()}"

    def _client(self):
        return self._sdk.OpenAI(
            api_key=self.api_key,
            base_url=self.base_url,
            timeout=self.timeout,
            max_retries=self.max_retries,
            # A redirect is reported, never followed (with the key) to another address.
            http_client=self._sdk.DefaultHttpxClient(follow_redirects=False),
        )

    def _run(self, prompt: Prompt, meta: dict[str, Any]) -> Iterator[str]:
        body = self.body(prompt, stream=True)
        with self._client() as client:
            stream = client.chat.completions.create(**body)
            events = 0
            finished = None
            try:
                for chunk in stream:
                    events += 1
                    if getattr(chunk, "model", None):
                        meta["model"] = chunk.model
                    usage = getattr(chunk, "usage", None)
                    if usage is not None:
                        meta["input_tokens"] = usage.prompt_tokens
                        meta["output_tokens"] = usage.completion_tokens
                    for choice in chunk.choices or ():
                        if choice.finish_reason:
                            meta["stop_reason"] = finished = choice.finish_reason
                        text = choice.delta.content if choice.delta else None
                        if text:
                            yield text
            finally:
                stream.close()
        if not events:
            raise LLMError(
                f"{self.service()} sent no stream events; is --base-url an OpenAI-compatible API?"
            )
        if not finished:  # no finish_reason: the server died or a proxy cut the body
            raise LLMError(f"{self.service()} {INCOMPLETE}")

    def _map_error(self, err: Exception) -> LLMError | None:
        openai = self._sdk
        if isinstance(err, openai.APITimeoutError):
            return LLMTimeoutError(
                f"OpenAI-compatible server at {self.base_url} did not answer within "
                f"{self.timeout:g} s"
            )
        if isinstance(err, openai.APIConnectionError):
            return LLMConnectionError(
                f"cannot connect to the OpenAI-compatible server at {self.base_url}"
            )
        if isinstance(err, openai.APIStatusError):
            return status_error(
                err.status_code,
                error_detail(err),
                service=f"OpenAI-compatible server at {self.base_url}",
                model=self.model,
                secrets=self._secrets(),
            )
        if isinstance(err, openai.OpenAIError):
            return LLMError(scrub(f"OpenAI-compatible server error: {err}", self._secrets()))
        return None
