"""A pool of ``Index`` replicas kept loaded between requests.

A replica (its store, query encoder and reranker) serves one request at a time; with two
replicas two searches run at once (FAISS, ONNX Runtime and the BM25 scoring release the
GIL), and a client that is slow to read its answer holds no replica at all, since the
answer is computed before it is sent. Every request calls ``Index.fresh_store`` through
``search``/``get``/``status``, so an ingest by any process is seen by the next request.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

DEFAULT_REPLICAS = 2
log = logging.getLogger("ragcli.serve")


def default_replicas() -> int:
    return max(1, min(DEFAULT_REPLICAS, os.cpu_count() or 1))


class Resident:
    """``replicas`` Index objects made by ``open_index``, lent out one request at a time."""

    def __init__(self, open_index: Callable[[], Any], replicas: int | None = None):
        self.open_index = open_index
        self.replicas = replicas or default_replicas()
        self._pool: queue.LifoQueue = queue.LifoQueue()  # the warmest replica first
        first = open_index()
        self.first = first
        self._pool.put(first)
        for _ in range(self.replicas - 1):
            self._pool.put(open_index())
        self._lock = threading.Lock()
        self._answered = threading.local()
        self.requests = 0
        self._warming: threading.Thread | None = None

    @contextmanager
    def index(self) -> Iterator[Any]:
        """A replica for one request; afterwards ``generation()`` in the same thread tells
        which generation it answered from."""
        idx = self._pool.get()
        self._answered.generation = None
        try:
            with self._lock:
                self.requests += 1
            yield idx
            self._answered.generation = generation_of(idx)
        finally:
            self._pool.put(idx)

    def generation(self) -> int | None:
        """The generation the last request of this thread was answered from."""
        return getattr(self._answered, "generation", None)

    def start_warm(self) -> None:
        """``warm`` in a background thread: the server answers (slower) meanwhile."""
        self._warming = threading.Thread(target=self.warm, name="warm-up", daemon=True)
        self._warming.start()

    def wait_warm(self, timeout: float = 30.0) -> bool:
        """Wait for the warm-up to end (before the interpreter does); whether it did."""
        if self._warming is None:
            return True
        self._warming.join(timeout)
        return not self._warming.is_alive()

    def warm(self, rerank: bool | None = None) -> None:
        """Load every replica's query encoder and reranker now rather than at the first
        query. A failure here is only logged: the first query reports it properly."""
        replicas = []
        while len(replicas) < self.replicas:
            replicas.append(self._pool.get())
        try:
            for idx in replicas:
                try:
                    idx.search("warm up", k=1, rerank=rerank)
                except Exception as err:  # noqa: BLE001 (the first query reports it)
                    log.info("warm-up failed: %s: %s", type(err).__name__, err)
        finally:
            for idx in replicas:
                self._pool.put(idx)

    @property
    def settings(self):
        return self.first.settings


def generation_of(idx) -> int | None:
    """The generation number of the store ``idx`` has open (None if none is open)."""
    return idx.reader.generation  # not ``idx.store``: that would open one
