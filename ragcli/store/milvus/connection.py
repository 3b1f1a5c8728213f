"""The connection to Milvus: filter expressions, errors made one line, the client."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ragcli.errors import RagError, UsageError
from ragcli.store.milvus.uri import META_SUFFIX, MilvusTarget, milvus_token, valid_name
from ragcli.store.sparse import DEFAULT_PARAMS
from ragcli.text import tokenize

FORMAT_VERSION = 1
CONNECT_TIMEOUT = 5.0  # seconds: an unreachable server fails fast
BATCH = 1000  # rows per insert, ids per filter expression
MAX_TOPK = 16384  # a Milvus server's limit on search results
MAX_VARCHAR = 65535  # bytes
BM25_K1 = float(DEFAULT_PARAMS["k1"])
BM25_B = float(DEFAULT_PARAMS["b"])
HNSW = {"M": 16, "efConstruction": 200}
# HNSW search breadth. The candidate pool (50 for k=10) must come back exact, not just the
# top 10: RRF ranks every pool member. On SciFact ef 64 returned the exact dense top-50
# for 44% of queries (RRF top-10 equal to the local store's on 86%), ef 256 for 95%, ef
# 512 for 100%, for ~10 ms more a query at 100k chunks (benchmarks/milvus.py --probe-only).
HNSW_EF = 512
CHUNK_FIELDS = [
    "chunk_id",
    "doc_id",
    "source",
    "title",
    "text",
    "location",
    "char_start",
    "char_end",
    "ordinal",
    "n_tokens",
]

# --- filter expressions ---------------------------------------------------------------
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def filter_string(value: str) -> str:
    """``value`` as a double-quoted string literal of a Milvus boolean expression."""
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in value) + '"'


def in_filter(field_name: str, values: Sequence[str] | Sequence[int]) -> str:
    """``field in [v1, v2, ...]`` for strings or integers."""
    items = [filter_string(v) if isinstance(v, str) else str(int(v)) for v in values]
    return f"{field_name} in [{', '.join(items)}]"


def clip(text: str, limit: int = MAX_VARCHAR) -> str:
    """``text`` cut to fit a VARCHAR of ``limit`` bytes (UTF-8)."""
    data = text.encode("utf-8")
    return text if len(data) <= limit else data[:limit].decode("utf-8", errors="ignore")


def bm25_terms(text: str, params: dict | None = None) -> str:
    """``text`` as the space-separated terms Milvus's BM25 indexes, analysed with
    ``params`` (a collection's own, from its manifest; default this ragcli's). A whole
    code name (``dtype.fields``, ``--flag``) has its separators written as ``_``, which
    Milvus's word-boundary tokenizer keeps inside a word, so it stays one term there too."""
    return " ".join(_NOT_WORD.sub("_", term) for term in tokenize(text, params))


_NOT_WORD = re.compile(r"\W")


def bm25_params(manifest: dict | None) -> dict:
    """The BM25 params a collection was built with (this ragcli's for a new one)."""
    return dict((manifest or {}).get("bm25") or DEFAULT_PARAMS)


# --- the connection -------------------------------------------------------------------
def _pymilvus(display: str):
    # gRPC's C core writes its own log lines to stderr (e.g. "too_many_pings" GOAWAYs
    # between pymilvus and Milvus Lite's server); errors reach the user through ragcli.
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    try:
        import pymilvus
    except ImportError:
        raise RagError(
            f"{display}: the Milvus store needs pymilvus: install ragcli[milvus]"
        ) from None
    # pymilvus logs every failed call with a traceback; ragcli reports errors itself.
    for name in ("pymilvus", "milvus_lite"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    return pymilvus


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Connection:
    """A client for one store's two collections; Milvus errors become one-line RagErrors."""

    def __init__(self, target: MilvusTarget, collection: str, create_dir: bool = False):
        self.target = target
        self.name = target.collection or collection
        if not valid_name(self.name):
            raise UsageError(
                f"invalid Milvus collection name {self.name!r}: use letters, digits and _"
            )
        self.meta = self.name + META_SUFFIX
        self.display = f"{target.display} collection '{self.name}'"
        self.pymilvus = _pymilvus(target.display)
        self._token = milvus_token(target)
        self.errors: tuple[type[BaseException], ...] = (self.pymilvus.MilvusException,)
        try:
            import grpc

            self.errors += (grpc.RpcError,)
        except ImportError:  # pragma: no cover - pymilvus depends on grpcio
            pass
        self.client = self._connect(create_dir)

    def _scrub(self, text: str) -> str:
        secrets = {self._token, *self._token.split(":", 1)} if self._token else set()
        for secret in sorted(secrets, key=len, reverse=True):
            if len(secret) >= 3:
                text = text.replace(secret, "***")
        return _one_line(text)

    def _reason(self, err: BaseException) -> str:
        return self._scrub(getattr(err, "message", None) or str(err) or type(err).__name__)

    def _connect(self, create_dir: bool):
        target = self.target
        if target.lite:
            try:
                import milvus_lite  # noqa: F401
            except ImportError:
                raise RagError(
                    f"{target.display}: Milvus Lite is not installed: install ragcli[milvus]"
                ) from None
            if create_dir:
                Path(target.client_uri).parent.mkdir(parents=True, exist_ok=True)
            try:
                return self.pymilvus.MilvusClient(target.client_uri, timeout=CONNECT_TIMEOUT)
            except self.errors:
                reason = _lite_reason(target)
            raise RagError(f"{target.display}: cannot open Milvus Lite: {reason}")
        try:
            return self.pymilvus.MilvusClient(
                uri=target.client_uri,
                token=self._token,
                db_name=target.db_name,
                timeout=CONNECT_TIMEOUT,
            )
        except self.errors as err:
            reason = self._reason(err)
        raise RagError(f"{target.display}: cannot connect to Milvus: {reason}")

    def call(self, method: str, *args, **kwargs):
        try:
            return getattr(self.client, method)(*args, **kwargs)
        except self.errors as err:
            raise RagError(f"{self.display}: Milvus {method} failed: {self._reason(err)}") from None

    def close(self) -> None:
        with contextlib.suppress(*self.errors):
            self.client.close()

    # reading helpers --------------------------------------------------------------
    def has(self, collection: str) -> bool:
        return bool(self.call("has_collection", collection))

    def count(self, collection: str, expr: str = "") -> int:
        rows = self.call("query", collection, filter=expr, output_fields=["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def meta_value(self, key: str) -> dict[str, Any] | None:
        rows = self.call("get", self.meta, ids=[key], output_fields=["value"])
        return json.loads(rows[0]["value"]) if rows else None

    def iter_meta(self, row: str) -> Iterator[dict[str, Any]]:
        """The values of every meta row of one kind (file, doc)."""
        iterator = self.call(
            "query_iterator",
            self.meta,
            batch_size=BATCH,
            filter=f"row == {filter_string(row)}",
            output_fields=["value"],
        )
        try:
            while True:
                try:
                    batch = iterator.next()
                except self.errors as err:
                    reason = self._reason(err)
                    raise RagError(f"{self.display}: Milvus query failed: {reason}") from None
                if not batch:
                    return
                for item in batch:
                    yield json.loads(item["value"])
        finally:
            iterator.close()

    def dimension(self) -> int | None:
        if not self.has(self.name):
            return None
        info = self.call("describe_collection", self.name)
        for item in info.get("fields", []):
            if item.get("name") == "dense":
                return int(item["params"]["dim"])
        return None

    def load(self) -> None:
        """Load both collections: a reopened collection is released and cannot be searched."""
        for name in (self.meta, self.name):
            if self.has(name):
                self.call("load_collection", name)

    def counts(self) -> dict[str, int]:
        has_meta = self.has(self.meta)
        return {
            "files": self.count(self.meta, 'row == "file"') if has_meta else 0,
            "documents": self.count(self.meta, 'row == "doc"') if has_meta else 0,
            "chunks": self.count(self.name) if self.has(self.name) else 0,
        }


def _lite_reason(target: MilvusTarget) -> str:
    """Why Milvus Lite would not start: usually another process holds the file's lock."""
    lock = Path(target.client_uri) / "LOCK"
    if lock.exists():
        import fcntl

        with lock.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(handle, fcntl.LOCK_UN)
            except OSError:
                return "another process is using it (Milvus Lite allows one at a time)"
    if Path(target.client_uri).exists() and not Path(target.client_uri).is_dir():
        return "not a Milvus Lite database"
    return "the database could not be started"


def search_hits(results) -> list[tuple[int, float]]:
    hits = results[0] if results else []
    return [(int(hit["chunk_id"]), float(hit["distance"])) for hit in hits]


def ranked(hits: list[tuple[int, float]], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Best first, ties by chunk id."""
    hits = sorted(hits, key=lambda item: (-item[1], item[0]))[:n]
    ids = np.asarray([cid for cid, _ in hits], dtype=np.int64)
    return ids, np.asarray([score for _, score in hits], dtype=np.float32)


def bm25_score(distance: float) -> float:
    """ragcli's BM25 from a Milvus one: Lite negates it, and Milvus includes (k1 + 1)."""
    return abs(distance) / (BM25_K1 + 1.0)


def empty_hits() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
