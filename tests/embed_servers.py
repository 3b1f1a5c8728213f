"""Loopback embedding servers speaking Ollama's ``POST /api/embed`` and OpenAI's
``POST /v1/embeddings``, in the style of ``llm_servers``: ``http.server`` in a thread on
127.0.0.1, every request recorded, scripted replies (``push``) answered first.

Unscripted requests are answered with real embeddings of the request's texts from a
small deterministic model: each word hashed to a fixed random vector, a text the sum of
its words', so texts sharing words are near and a search finds the text with the query's
word. ``instant`` servers answer as fast as ``http.server`` can; ``echo_key`` puts the
request's Authorization header into every answer (a careless server), so a test can
check that the key is never printed or stored.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

import numpy as np
from llm_servers import FakeServer, Recorded, Reply

DIMENSION = 48


def word_vector(word: str, dimension: int = DIMENSION) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(dimension)


def embed(text: str, dimension: int = DIMENSION) -> list[float]:
    """The fake model: a sum of hashed word vectors (not normalised: a client must)."""
    words = re.findall(r"\w+", text.lower()) or ["<empty>"]
    return [float(x) for x in sum(word_vector(w, dimension) for w in words)]


class EmbeddingServer(FakeServer):
    """One of ``kind`` ``"ollama"`` or ``"openai"``; ``dimension`` of its vectors."""

    def __init__(self, kind: str, dimension: int = DIMENSION, echo_key: bool = False):
        super().__init__()
        self.kind = kind
        self.dimension = dimension
        self.echo_key = echo_key

    def _next_reply(self, method: str, path: str, record: Recorded) -> Reply:
        with self._lock:
            self.requests.append(record)
            if self.queue:
                return self.queue.popleft()
        return self.answer(path, record)

    def answer(self, path: str, record: Recorded) -> Reply:
        expected = "/api/embed" if self.kind == "ollama" else "/v1/embeddings"
        if path != expected:
            return Reply(status=404, body=b'{"error": "not found"}')
        request = record.json
        texts = request["input"]
        texts = [texts] if isinstance(texts, str) else texts
        vectors = [embed(text, self.dimension) for text in texts]
        echoed = {"authorization": record.headers.get("authorization")} if self.echo_key else {}
        if self.kind == "ollama":
            body = {"model": request["model"], "embeddings": vectors, **echoed}
        else:
            body = openai_body(request, vectors, echoed)
        return Reply(body=json.dumps(body).encode())

    def inputs(self) -> list[str]:
        """Every text the server was asked to embed, in order of the requests."""
        texts: list[str] = []
        for record in self.posts():
            value = record.json["input"]
            texts.extend([value] if isinstance(value, str) else value)
        return texts


def openai_body(request: dict[str, Any], vectors: list[list[float]], extra: dict) -> dict:
    as_base64 = request.get("encoding_format") == "base64"
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": (
                base64.b64encode(np.asarray(v, dtype="<f4").tobytes()).decode() if as_base64 else v
            ),
        }
        for i, v in enumerate(vectors)
    ]
    tokens = sum(len(str(t).split()) for t in request["input"])
    return {
        "object": "list",
        "data": data,
        "model": request["model"],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        **extra,
    }


def error(kind: str, status: int, message: str, retry_after: float | None = None) -> Reply:
    """An error as each server sends it (Ollama: ``{"error": "..."}``; OpenAI:
    ``{"error": {"message", "type", "code"}}``)."""
    headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
    if kind == "ollama":
        body: dict[str, Any] = {"error": message}
    else:
        body = {"error": {"message": message, "type": "server_error", "code": None}}
    return Reply(status=status, body=json.dumps(body).encode(), headers=headers)
