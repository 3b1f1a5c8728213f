"""Ollama through its native ``/api/chat`` endpoint (NDJSON streaming, via httpx).

Retries: HTTP 429/5xx and refused connections are retried up to ``max_retries`` times
with exponential backoff (``retry_backoff`` * 2**attempt seconds, or the server's
``Retry-After`` up to 30 s), but only before the first text delta has arrived.
"""

from __future__ import annotations

import json
import os
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any

from ragcli.errors import UsageError
from ragcli.generate.base import Backend, chat_messages
from ragcli.generate.errors import (
    CONTEXT_TOO_LONG,
    INCOMPLETE,
    LLMConnectionError,
    LLMError,
    LLMRequestError,
    LLMTimeoutError,
    scrub,
    status_error,
)
from ragcli.prompt import Prompt

DEFAULT_MODEL = "llama3.2"
MAX_RETRY_AFTER = 30.0
OLLAMA_DEFAULT_HOST = "http://127.0.0.1:11434"
OLLAMA_PROBE_TIMEOUT = 0.3


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


def _retry_after(headers: Any) -> float | None:
    try:
        value = float(headers.get("retry-after", ""))
    except (TypeError, ValueError):
        return None
    return value if 0 < value <= MAX_RETRY_AFTER else None


def _error_text(raw: bytes) -> str:
    try:
        data = json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    return raw.decode("utf-8", "replace")


class OllamaBackend(Backend):
    name = "ollama"
    default_model = DEFAULT_MODEL

    def __init__(self, model: str | None = None, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        self.base_url = (
            normalize_ollama_host(self.base_url) if self.base_url else ollama_host(self.env)
        )

    @classmethod
    def request_body(
        cls, prompt: Prompt, model: str, temperature: float, max_tokens: int, stream: bool
    ) -> dict[str, Any]:
        """Native ``/api/chat``: sampling parameters go in ``options``."""
        return {
            "model": model,
            "messages": chat_messages(prompt),
            "stream": stream,
            "options": {"temperature": temperature, "num_predict": max_tokens},
        }

    def _secrets(self) -> tuple[str, ...]:
        key = self.env.get("OLLAMA_API_KEY")
        return (key,) if key else ()

    def service(self) -> str:
        return f"Ollama at {self.shown_url()}"

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/x-ndjson"}
        key = self.env.get("OLLAMA_API_KEY")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _run(self, prompt: Prompt, meta: dict[str, Any]) -> Iterator[str]:
        try:
            import httpx
        except ImportError:
            raise UsageError("the ollama backend needs httpx: pip install httpx") from None
        body = self.body(prompt, stream=True)
        url = self.base_url.rstrip("/") + "/api/chat"
        attempt = 0
        with httpx.Client(timeout=self.timeout, headers=self._headers()) as client:
            while True:
                delay: float | None = None
                try:
                    with client.stream("POST", url, json=body) as response:
                        if response.status_code != 200:
                            detail = _error_text(response.read())
                            status = response.status_code
                            if (status == 429 or status >= 500) and attempt < self.max_retries:
                                delay = _retry_after(response.headers)
                            else:
                                raise self._status(status, detail)
                        else:
                            yield from self._read(response.iter_lines(), meta)
                            return
                except httpx.ConnectError:
                    if attempt >= self.max_retries:
                        raise
                if delay is None:
                    delay = self.retry_backoff * (2**attempt)
                attempt += 1
                time.sleep(delay)

    def _read(self, lines: Iterator[str], meta: dict[str, Any]) -> Iterator[str]:
        for line in lines:
            if not line.strip():
                continue
            part = self._line(line)
            if part.get("error"):
                detail = str(part["error"])
                if CONTEXT_TOO_LONG.search(detail):
                    raise self._status(400, detail)
                raise LLMError(
                    scrub(f"Ollama at {self.base_url} failed mid-answer: {detail}", self._secrets())
                )
            message = part.get("message") or {}
            text = message.get("content") if isinstance(message, dict) else None
            if not isinstance(message, dict) or not isinstance(text, str | None):
                raise LLMError(f"Ollama at {self.base_url} sent a message that is not text")
            if text:
                yield text
            if part.get("done"):
                meta["model"] = part.get("model")
                meta["stop_reason"] = part.get("done_reason")
                meta["input_tokens"] = part.get("prompt_eval_count")
                meta["output_tokens"] = part.get("eval_count")
                return
        # A server that dies or a proxy that cuts the body: the answer may be cut short.
        raise LLMError(f"Ollama at {self.base_url} {INCOMPLETE}")

    def _line(self, line: str) -> dict[str, Any]:
        try:
            part = json.loads(line)
        except ValueError:
            raise LLMError(f"Ollama at {self.base_url} sent a line that is not JSON") from None
        if not isinstance(part, dict):
            raise LLMError(f"Ollama at {self.base_url} sent a line that is not a JSON object")
        return part

    def _status(self, status: int, detail: str) -> LLMError:
        if status == 404 and "not found" in detail.lower():
            return LLMRequestError(
                scrub(
                    f"Ollama at {self.base_url} has no model {self.model!r}; "
                    f"run: ollama pull {self.model}",
                    self._secrets(),
                )
            )
        return status_error(
            status,
            detail,
            service=f"Ollama at {self.base_url}",
            model=self.model,
            secrets=self._secrets(),
        )

    def _map_error(self, err: Exception) -> LLMError | None:
        import httpx

        if isinstance(err, httpx.TimeoutException):
            return LLMTimeoutError(
                f"Ollama at {self.base_url} did not answer within {self.timeout:g} s"
            )
        if isinstance(err, httpx.TransportError):
            return LLMConnectionError(
                f"cannot connect to Ollama at {self.base_url}; is `ollama serve` running?"
            )
        return None
