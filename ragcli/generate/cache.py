"""A cache of language-model answers, one JSON file per entry.

The key is the sha256 of the backend name, model, generation parameters and the full
prompt (system and user messages), so any change to any of them is a miss. Entries live
in a folder chosen by the caller (the CLI uses ``<index>/cache/llm/``) as
``<key>.json``, written atomically (temporary file in the same folder, then
``os.replace``), so a crash never leaves a half-written entry. Unreadable entries are
treated as misses.

Credentials are never part of the key or of an entry: callers pass only non-secret
parameters, and ``put`` drops any field whose name looks like a credential.

``no_cache=True`` turns the cache off for reads and writes (``--no-cache``).

A failed write (read-only index, full disk) never costs the answer: ``put`` keeps the
first failure in ``write_error`` for the caller to report once, and carries on.

``answer_stream(backend, prompt, cache)`` is how a caller asks through the cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ragcli.generate.base import Answer, AnswerStream, Backend
from ragcli.prompt import Prompt

_SECRET_FIELDS = {"api_key", "apikey", "authorization", "headers", "x-api-key", "auth_token"}


def cache_key(backend: str, model: str, params: Mapping[str, Any], system: str, user: str) -> str:
    payload = json.dumps(
        {
            "backend": backend,
            "model": model,
            "params": dict(sorted(params.items())),
            "system": system,
            "user": user,
        },
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class LLMCache:
    def __init__(self, folder: str | Path, no_cache: bool = False) -> None:
        self.folder = Path(folder)
        self.no_cache = no_cache
        self.write_error: str | None = None  # the first failed write, as one line

    @staticmethod
    def key(backend: str, model: str, params: Mapping[str, Any], prompt: Any) -> str:
        """Key for a ``ragcli.prompt.Prompt`` (or any object with system/user)."""
        return cache_key(backend, model, params, prompt.system, prompt.user)

    def path(self, key: str) -> Path:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise ValueError(f"not a cache key: {key!r}")
        return self.folder / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        if self.no_cache:
            return None
        try:
            with self.path(key).open(encoding="utf-8") as handle:
                entry = json.load(handle)
        except (OSError, ValueError):
            return None
        return entry if isinstance(entry, dict) else None

    def put(self, key: str, entry: Mapping[str, Any]) -> None:
        """Store ``entry`` atomically; a write that fails is noted in ``write_error``."""
        if self.no_cache:
            return
        clean = {k: v for k, v in entry.items() if k.lower() not in _SECRET_FIELDS}
        clean.setdefault("created", time.time())
        try:
            self._write(self.path(key), clean)
        except OSError as err:
            if self.write_error is None:
                reason = err.strerror or type(err).__name__
                self.write_error = f"cannot write the answer cache in {self.folder}: {reason}"

    def _write(self, target: Path, clean: Mapping[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(clean, handle, ensure_ascii=False)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def answer_stream(backend: Backend, prompt: Prompt, cache: LLMCache | None = None) -> AnswerStream:
    """``backend.stream(prompt)``, served from / saved to ``cache`` (a ``LLMCache``).

    A cache hit yields the whole stored text as one delta and sends no request; the
    answer has ``cached=True``. Only complete answers are stored.
    """
    if cache is None or not backend.cacheable:
        return backend.stream(prompt)
    key = cache.key(backend.name, backend.model, backend.cache_params(), prompt)
    entry = cache.get(key)
    if entry is not None and isinstance(entry.get("text"), str):
        return _replay(entry, backend)
    stream = backend.stream(prompt)
    stream._on_done = lambda answer: cache.put(key, _entry(answer, backend))
    return stream


def _replay(entry: dict[str, Any], backend: Backend) -> AnswerStream:
    """A stream of one delta, the stored text, with the stored usage and stop reason."""
    usage = entry.get("usage") or {}
    meta = {
        "model": entry.get("model"),
        "input_tokens": usage.get("input_tokens"),
        "output_tokens": usage.get("output_tokens"),
        "stop_reason": entry.get("stop_reason"),
    }
    return AnswerStream(iter([entry["text"]]), backend.name, backend.model, meta, cached=True)


def _entry(answer: Answer, backend: Backend) -> dict[str, Any]:
    return {
        "backend": answer.backend,
        "model": answer.model,
        "params": backend.cache_params(),
        "text": answer.text,
        "usage": {"input_tokens": answer.input_tokens, "output_tokens": answer.output_tokens},
        "stop_reason": answer.stop_reason,
    }
