"""Embeddings computed by a server: ``embed_backend = ollama | openai``.

``ollama`` speaks Ollama's ``POST /api/embed`` (through httpx); ``openai`` speaks the
OpenAI embeddings API ``POST /v1/embeddings`` through the openai SDK, which vLLM,
llama.cpp's server, text-embeddings-inference, LM Studio and the hosted APIs all serve.
The model is ``embed_model``, the server ``embed_base_url`` (``--embed-base-url``,
``$RAG_EMBED_BASE_URL``; else ``$OLLAMA_HOST`` or ``http://127.0.0.1:11434`` for Ollama,
``$OPENAI_BASE_URL`` or ``https://api.openai.com/v1`` for OpenAI), the key
``$RAG_EMBED_API_KEY`` or ``$OPENAI_API_KEY`` (OpenAI): read from the environment when a
request is made, never kept in settings, the manifest or a message (an error text that
holds it shows ``***`` in its place).

Texts go in batches of ``embed_batch_size`` (at most ``MAX_BATCH``: the OpenAI API takes
2,048 inputs a request), ``concurrency`` requests at a time; a batch the server finds too
large (HTTP 413) is split in two. A 429 or 5xx answer is retried after the server's
``Retry-After`` (at most ``MAX_RETRY_AFTER`` s) or an exponential backoff, ``ATTEMPTS``
tries in all; any failure is one RagError naming the server. Vectors are L2-normalised
here, then cut to ``dimensions`` (``ragcli.embed.spec``), and must all have the index's
dimension.

A small registry maps each backend name to its client (``CLIENTS``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from ragcli.embed.spec import NO_SPEC, EmbedSpec, check_dimension
from ragcli.errors import RagError

ATTEMPTS = 3  # tries of one request before its failure is the run's
BACKOFF = 0.5  # seconds before the second try; doubled for each further one
MAX_RETRY_AFTER = 30.0  # the longest Retry-After honoured, in seconds
TIMEOUT = 120.0  # seconds for one request (a large batch on a busy CPU server is slow)
CONCURRENCY = 4  # requests in flight when embed_workers does not say
MAX_BATCH = {"ollama": 512, "openai": 2048}
API_KEY_VARIABLES = {
    "ollama": ("RAG_EMBED_API_KEY",),
    "openai": ("RAG_EMBED_API_KEY", "OPENAI_API_KEY"),
}


class ServerError(Exception):
    """One failed request: ``status`` (None: no answer), the server's message, and the
    seconds its ``Retry-After`` asked for."""

    def __init__(self, status: int | None, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.status == 429 or (self.status is not None and self.status >= 500)


def default_base_url(backend: str) -> str:
    if backend == "ollama":
        host = os.environ.get("OLLAMA_HOST", "").strip()
        if host:
            return host if "://" in host else f"http://{host}"
        return "http://127.0.0.1:11434"
    return os.environ.get("OPENAI_BASE_URL", "").strip() or "https://api.openai.com/v1"


def display_url(url: str) -> str:
    """``url`` without user, password, query or fragment: what messages and the manifest
    show."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def api_key(backend: str) -> str | None:
    for variable in API_KEY_VARIABLES[backend]:
        value = os.environ.get(variable, "").strip()
        if value:
            return value
    return None


class OllamaClient:
    """``POST {base}/api/embed`` with ``{"model", "input": [...], "truncate": true}``."""

    def __init__(self, base_url: str, key: str | None):
        import httpx

        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=TIMEOUT)

    def embed(self, model: str, texts: list[str]) -> list[list[float]]:
        import httpx

        try:
            answer = self.http.post(
                "/api/embed", json={"model": model, "input": texts, "truncate": True}
            )
        except httpx.TimeoutException:
            raise ServerError(None, f"no answer within {TIMEOUT:g} s") from None
        except httpx.HTTPError as err:
            raise ServerError(None, f"cannot connect: {_reason(err)}") from None
        if answer.status_code != 200:
            raise ServerError(answer.status_code, _ollama_message(answer), _retry_after(answer))
        try:
            return answer.json()["embeddings"]
        except (ValueError, KeyError, TypeError):
            raise ServerError(200, "the answer has no embeddings list") from None

    def close(self) -> None:
        self.http.close()


class OpenAIClient:
    """``client.embeddings.create`` of the openai SDK, its own retries off (ours apply)."""

    def __init__(self, base_url: str, key: str | None):
        import openai

        # A local server (vLLM, llama.cpp) wants no key, but the SDK insists on one.
        self.client = openai.OpenAI(
            base_url=base_url, api_key=key or "unused", max_retries=0, timeout=TIMEOUT
        )

    def embed(self, model: str, texts: list[str]) -> list[list[float]]:
        import openai

        try:
            answer = self.client.embeddings.create(
                model=model, input=texts, encoding_format="float"
            )
        except openai.APIStatusError as err:
            status, wait = err.status_code, _retry_after(err.response)
            raise ServerError(status, _openai_message(err), wait) from None
        except openai.APITimeoutError:
            raise ServerError(None, f"no answer within {TIMEOUT:g} s") from None
        except openai.APIConnectionError as err:
            raise ServerError(None, f"cannot connect: {_reason(err.__cause__ or err)}") from None
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            raise ServerError(200, f"unreadable answer: {_reason(err)}") from None
        rows = sorted(answer.data, key=lambda item: item.index)
        return [row.embedding for row in rows]

    def close(self) -> None:
        self.client.close()


CLIENTS: dict[str, Callable[[str, str | None], Any]] = {
    "ollama": OllamaClient,
    "openai": OpenAIClient,
}


class ServedEncoder:
    """A :class:`ragcli.embed.base.Encoder` whose vectors a server computes (see the
    module docstring). ``expected_dimension`` is the index's (None for a new index:
    the first answer sets it)."""

    def __init__(
        self,
        backend: str,
        model: str,
        base_url: str | None = None,
        *,
        spec: EmbedSpec = NO_SPEC,
        batch_size: int = 64,
        concurrency: int = CONCURRENCY,
        expected_dimension: int | None = None,
    ):
        if backend not in CLIENTS:
            raise RagError(f"unknown served embed backend {backend!r}")
        self.backend = self.variant = backend
        self.model_name = model
        self.base_url = (base_url or default_base_url(backend)).rstrip("/")
        self.spec = spec
        self.batch_size = max(1, min(batch_size, MAX_BATCH[backend]))
        self.concurrency = max(1, concurrency)
        self.expected_dimension = expected_dimension
        self._client = None

    @property
    def where(self) -> str:
        return f"embedding server {display_url(self.base_url)} ({self.backend})"

    @property
    def dimension(self) -> int:
        """The index's dimension; for a new index, found by embedding one short text."""
        if self.expected_dimension is None:
            self.encode(["dimension"])
        return int(self.expected_dimension)

    def encode(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Embeddings of ``texts`` with the document prompt, in order; ``progress(n)``
        as each batch of n comes back."""
        return self._encode(self.spec.documents(texts), progress)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode_queries([text])[0]

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Queries in one batch, with the query prompt (``encode`` is for documents)."""
        return self._encode([self.spec.query(text) for text in texts])

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _encode(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.expected_dimension or 0), dtype=np.float32)
        batches = [
            list(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)
        ]
        parts: list[np.ndarray] = []
        workers = min(self.concurrency, len(batches))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="embed-http") as pool:
            for vectors in pool.map(self._embed_batch, batches):
                parts.append(vectors)
                if progress:
                    progress(len(vectors))
        return np.ascontiguousarray(np.vstack(parts), dtype=np.float32)

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        rows = self._request(texts)
        if len(rows) != len(texts):
            raise self._error(f"sent {len(texts)} texts, got {len(rows)} embeddings back")
        try:
            vectors = np.asarray(rows, dtype=np.float32)
        except (ValueError, TypeError):
            raise self._error("the embeddings are not lists of numbers of one length") from None
        if vectors.ndim != 2 or not vectors.shape[1] or not np.isfinite(vectors).all():
            raise self._error("the embeddings are not lists of finite numbers of one length")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = self.spec.finish(vectors / np.maximum(norms, 1e-12))
        self._check_dimension(vectors.shape[1])
        return vectors

    def _check_dimension(self, got: int) -> None:
        if self.spec.dimensions is not None and got < self.spec.dimensions:
            raise self._error(
                f"{got}-dimensional embeddings, fewer than dimensions = {self.spec.dimensions}"
            )
        if self.expected_dimension is None:
            self.expected_dimension = got
        try:
            check_dimension(got, self.expected_dimension, f"{self.where}, model {self.model_name},")
        except RagError as err:
            raise type(err)(self._scrub(str(err))) from None

    def _request(self, texts: list[str]) -> list:
        """One batch's embeddings, retried on 429/5xx; a 413 splits the batch."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return self.client.embed(self.model_name, texts)
            except ServerError as err:
                if err.status == 413 and len(texts) > 1:
                    half = len(texts) // 2
                    return self._request(texts[:half]) + self._request(texts[half:])
                if not err.retryable or attempt == ATTEMPTS:
                    raise self._failure(err, attempt) from None
                time.sleep(_delay(err, attempt))
        raise AssertionError("unreachable")

    @property
    def client(self):
        if self._client is None:
            self._client = CLIENTS[self.backend](self.base_url, api_key(self.backend))
        return self._client

    def _failure(self, err: ServerError, attempts: int) -> RagError:
        status = f"HTTP {err.status}" if err.status is not None else "no answer"
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        return self._error(f"{status}{tries}: {err}")

    def _error(self, message: str) -> RagError:
        return RagError(self._scrub(f"{self.where}, model {self.model_name}: {message}"))

    def _scrub(self, text: str) -> str:
        key = api_key(self.backend)
        text = " ".join(text.split())
        return text.replace(key, "***") if key else text


def _delay(err: ServerError, attempt: int) -> float:
    if err.retry_after is not None:
        return min(max(err.retry_after, 0.0), MAX_RETRY_AFTER)
    return BACKOFF * 2 ** (attempt - 1)


def _retry_after(response) -> float | None:
    headers = getattr(response, "headers", None) or {}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return float(value) * scale
            except ValueError:
                return None  # an HTTP date: use the backoff
    return None


def _ollama_message(answer) -> str:
    try:
        body = answer.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return _short(body["error"])
    return _short(answer.text) or answer.reason_phrase or "error"


def _openai_message(err) -> str:
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else inner
        if isinstance(message, str) and message:
            return _short(message)
    return _short(getattr(err, "message", "") or str(err))


def _reason(err: BaseException) -> str:
    return _short(str(err)) or type(err).__name__


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
