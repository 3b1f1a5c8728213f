"""Claude through the Anthropic Messages API (``anthropic`` SDK, streaming)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ragcli.generate.base import Backend
from ragcli.generate.errors import (
    INCOMPLETE,
    LLMConnectionError,
    LLMError,
    LLMTimeoutError,
    MissingAPIKeyError,
    scrub,
    status_error,
)
from ragcli.prompt import Prompt

DEFAULT_MODEL = "claude-sonnet-5-5"  # the one place the default Claude model is named


def error_detail(err: Any) -> str:
    """The server's own message from an SDK status error (anthropic or openai shape)."""
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return str(getattr(err, "message", "") or err)


class ClaudeBackend(Backend):
    name = "claude"
    default_model = DEFAULT_MODEL

    def __init__(self, model: str | None = None, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        self.api_key = self.env.get("ANTHROPIC_API_KEY") or ""
        if not self.api_key:
            raise MissingAPIKeyError(
                "ANTHROPIC_API_KEY is not set; export it, or pick another backend with "
                "--llm ollama|openai|extractive"
            )
        self.base_url = self.base_url or self.env.get("ANTHROPIC_BASE_URL") or None
        import anthropic  # here, so its import time is not counted as request latency

        self._sdk = anthropic

    @classmethod
    def request_body(
        cls, prompt: Prompt, model: str, temperature: float, max_tokens: int, stream: bool
    ) -> dict[str, Any]:
        """Messages API body. No sampling parameters: Messages API version 2026-10-21 (the
        version the anthropic 2.x SDK sends) rejects temperature/top_p/top_k with HTTP 400."""
        return {
            "model": model,
            "max_tokens": max_tokens,
            "system": prompt.system,
            "messages": [{"role": "user", "content": prompt.user}],
            "stream": stream,
        }

    def cache_params(self) -> dict[str, Any]:
        # temperature is never sent to Claude (see request_body)
        return {"max_tokens": self.max_tokens, "base_url": self.shown_url()}

    def _secrets(self) -> tuple[str, ...]:
        return (self.api_key,)

    def service(self) -> str:
        return f"Claude API at {self.shown_url() or 'https://api.anthropic.com'}"

    def _client(self):
        # api_key is passed explicitly so the SDK never falls back to profiles on disk.
        return self._sdk.Anthropic(
            api_key=self.api_key,
            base_url=self.base_url,
            timeout=self.timeout,
            max_retries=self.max_retries,
            # A redirect is reported, never followed (with the key) to another address.
            http_client=self._sdk.DefaultHttpxClient(follow_redirects=False),
        )

    def _run(self, prompt: Prompt, meta: dict[str, Any]) -> Iterator[str]:
        body = self.body(prompt, stream=True)
        body.pop("stream")  # messages.stream() sets it
        stopped = False
        with self._client() as client, client.messages.stream(**body) as stream:
            for event in stream:
                if event.type == "text":
                    yield event.text
                stopped = stopped or event.type == "message_stop"
            final = stream.get_final_message()
        if not stopped:  # a server that died or a proxy that cut the body
            raise LLMError(f"{self.service()} {INCOMPLETE}")
        meta["model"] = final.model
        meta["stop_reason"] = final.stop_reason
        if final.usage is not None:
            meta["input_tokens"] = final.usage.input_tokens
            meta["output_tokens"] = final.usage.output_tokens

    def _map_error(self, err: Exception) -> LLMError | None:
        anthropic = self._sdk
        where = self.base_url or "https://api.anthropic.com"
        if isinstance(err, anthropic.APITimeoutError):
            return LLMTimeoutError(
                f"Claude API at {where} did not answer within {self.timeout:g} s"
            )
        if isinstance(err, anthropic.APIConnectionError):
            return LLMConnectionError(scrub(f"cannot connect to the Claude API at {where}"))
        if isinstance(err, anthropic.APIStatusError):
            return status_error(
                err.status_code,
                error_detail(err),
                service="Claude API",
                model=self.model,
                secrets=self._secrets(),
            )
        if isinstance(err, anthropic.AnthropicError):
            return LLMError(scrub(f"Claude API error: {err}", self._secrets()))
        return None
