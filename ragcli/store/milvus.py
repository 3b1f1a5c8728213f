"""The Milvus store: one index in a Milvus collection, on a server or in Milvus Lite.

URIs: ``milvus://HOST:PORT[/DB]``, ``milvus+https://HOST:PORT[/DB]`` or
``milvus-lite:PATH.db``, each with an optional ``?collection=NAME``. Credentials come
from ``RAG_MILVUS_TOKEN`` (or ``MILVUS_TOKEN``), else ``RAG_MILVUS_USER`` +
``RAG_MILVUS_PASSWORD``, else ``user:pass@`` in the URI; no message shows them.

Layout, for a collection ``C`` (ragcli passes ``ragcli_<index name>``):

* ``C`` holds one row per chunk: its text and metadata, the ``dense`` vector (HNSW,
  cosine) and ``sparse``, a BM25 vector Milvus computes from ``terms``;
* ``C__meta`` holds the manifest (key ``manifest``), one row per file (``file:<sha256
  of path>``), one per document (``doc:<sha256 of id>``: a per-file list of documents
  would not fit a VARCHAR for a JSONL corpus) and the writer's ``state`` (next chunk
  id, file being written). A Milvus server only loads a collection with a vector
  index, hence its 2-d ``vec``.

Same BM25 as the local store: ragcli analyses text itself. ``terms`` is
``" ".join(tokenize(index_text(title, text)))`` and queries are sent as
``" ".join(tokenize(query))``, so Milvus's ``standard`` analyzer only splits on the
spaces between ragcli's tokens (stemmed, stopwords out) and the BM25 function (Lucene
idf, k1 0.9, b 0.4) sees the terms bm25s sees. Milvus includes BM25's ``(k1 + 1)``
factor and bm25s does not, so scores are divided by it: on Milvus Lite they equal
``SparseIndex`` scores to ~1e-7 (tests/test_store_milvus.py). A server's standard
tokenizer is grammar-based, not Lite's regex split: it keeps ragcli's Latin tokens
whole but may split runs of ideographs, so CJK text can score differently there
(untested here: no server in the test suite).

Milvus Lite 3.2 quirks this module works around or documents:

* index build parameters are read only from a JSON ``params`` entry, but pymilvus 3
  sends them flattened; without ``_add_index``'s extra entry Lite silently builds
  BM25 with k1 1.5, b 0.75 and HNSW with its own M/efConstruction;
* BM25 statistics (N, df, avgdl) are per segment, and deleted rows count until a
  compaction: after incremental ingests (each commit flushes a segment) scores drift
  from global BM25; a fresh or rebuilt index is one segment and matches exactly;
* a filtered BM25 search over unflushed rows computes statistics over the rows the
  filter keeps, hence the flush at every commit;
* a reopened collection comes back released (searches fail until ``load_collection``);
* one process at a time may open a Lite file (a lock in the folder), and the server
  Lite runs in this process stays up until the process exits.

Writes are applied file by file as they are made; nothing is rolled back. A
file's chunks are written first and its file row last, and the ``state`` row names
the file being written: a writer opened after a crash removes that file's leftovers,
so the next ingest adds it again. ``commit`` writes the manifest and flushes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np

from ragcli.errors import IndexStateError, RagError, UsageError
from ragcli.store.base import DocumentInfo, Restriction
from ragcli.store.catalog import FileRecord
from ragcli.store.sparse import DEFAULT_PARAMS, tokenize
from ragcli.types import Chunk, Document, Location

FORMAT_VERSION = 1
DEFAULT_PORT = 19530
CONNECT_TIMEOUT = 5.0  # seconds: an unreachable server fails fast
BATCH = 1000  # rows per insert, ids per filter expression
MAX_TOPK = 16384  # a Milvus server's limit on search results
MAX_VARCHAR = 65535  # bytes
META_SUFFIX = "__meta"
BM25_K1 = float(DEFAULT_PARAMS["k1"])
BM25_B = float(DEFAULT_PARAMS["b"])
HNSW = {"M": 16, "efConstruction": 200}
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
_URI_HELP = "use milvus://HOST:PORT[/DB], milvus+https://HOST:PORT[/DB] or milvus-lite:PATH"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# --- URIs and credentials -------------------------------------------------------------
@dataclass(frozen=True)
class MilvusTarget:
    """A parsed store URI. ``display`` is the URI without credentials."""

    client_uri: str  # http(s)://host:port, or the Milvus Lite file path
    db_name: str
    lite: bool
    display: str
    collection: str | None = None
    uri_token: str = field(default="", repr=False, compare=False)  # user:pass from the URI


def parse_store_uri(uri: str, base_dir: Path | None = None) -> MilvusTarget:
    """The Milvus target of ``uri``; a relative Lite path is taken from ``base_dir``/cwd."""
    uri = uri.strip()
    if uri.startswith("milvus-lite:"):
        return _parse_lite(uri, base_dir)
    if uri.startswith(("milvus://", "milvus+https://")):
        return _parse_server(uri)
    raise _invalid(uri)


def _parse_lite(uri: str, base_dir: Path | None) -> MilvusTarget:
    rest = uri[len("milvus-lite:") :]
    path_text, _, query = rest.partition("?")
    collection = _collection_query(uri, query)
    if not path_text:
        raise _invalid(uri)
    if not path_text.endswith(".db"):
        raise _invalid(uri, "a Milvus Lite path must end in .db")
    path = Path(path_text).expanduser()
    if not path.is_absolute():
        path = (base_dir or Path.cwd()) / path
    return MilvusTarget(str(path.resolve()), "", True, uri, collection)


def _parse_server(uri: str) -> MilvusTarget:
    display = _strip_credentials(uri)
    try:
        parts = urlsplit(uri)
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise _invalid(uri) from None
    host = parts.hostname
    db = parts.path.strip("/")
    if not host or parts.fragment or "/" in db:
        raise _invalid(uri)
    collection = _collection_query(uri, parts.query)
    scheme = "https" if parts.scheme == "milvus+https" else "http"
    host_part = f"[{host}]" if ":" in host else host
    token = ""
    if parts.username:
        token = unquote(parts.username)
        if parts.password:
            token = f"{token}:{unquote(parts.password)}"
    return MilvusTarget(f"{scheme}://{host_part}:{port}", db, False, display, collection, token)


def _collection_query(uri: str, query: str) -> str | None:
    if not query:
        return None
    fields = parse_qs(query, keep_blank_values=True)
    names = fields.pop("collection", [])
    if fields or len(names) != 1 or not _valid_name(names[0]):
        raise _invalid(uri, "the only query is ?collection=NAME (letters, digits, _)")
    return names[0]


def _valid_name(name: str) -> bool:
    return bool(_NAME.fullmatch(name)) and len(name) + len(META_SUFFIX) <= 255


def _strip_credentials(uri: str) -> str:
    """``uri`` without ``user:pass@``: everything from ``//`` to the last ``@`` goes, so
    a password with ``/`` or ``?`` in it is not shown either."""
    return re.sub(r"//.*@", "//", uri, count=1)


def _invalid(uri: str, why: str = "") -> UsageError:
    reason = f": {why}" if why else f": {_URI_HELP}"
    return UsageError(f"invalid store URI '{_strip_credentials(uri)}'{reason}")


def milvus_token(target: MilvusTarget) -> str:
    """The token to connect with: the environment's, else the URI's (empty for Lite)."""
    if target.lite:
        return ""
    token = os.environ.get("RAG_MILVUS_TOKEN") or os.environ.get("MILVUS_TOKEN")
    if token:
        return token
    user, password = os.environ.get("RAG_MILVUS_USER"), os.environ.get("RAG_MILVUS_PASSWORD")
    if user and password:
        return f"{user}:{password}"
    return target.uri_token


# --- filter expressions ---------------------------------------------------------------
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def filter_string(value: str) -> str:
    """``value`` as a double-quoted string literal of a Milvus boolean expression."""
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in value) + '"'


def in_filter(field_name: str, values: Sequence[str] | Sequence[int]) -> str:
    """``field in [v1, v2, ...]`` for strings or integers."""
    items = [filter_string(v) if isinstance(v, str) else str(int(v)) for v in values]
    return f"{field_name} in [{', '.join(items)}]"


def _clip(text: str, limit: int = MAX_VARCHAR) -> str:
    """``text`` cut to fit a VARCHAR of ``limit`` bytes (UTF-8)."""
    data = text.encode("utf-8")
    return text if len(data) <= limit else data[:limit].decode("utf-8", errors="ignore")


def _terms(text: str) -> str:
    return " ".join(tokenize(text))


# --- the connection -------------------------------------------------------------------
def _pymilvus(display: str):
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


class _Milvus:
    """A client for one store's two collections; Milvus errors become one-line RagErrors."""

    def __init__(self, target: MilvusTarget, collection: str, create_dir: bool = False):
        self.target = target
        self.name = target.collection or collection
        if not _valid_name(self.name):
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


def _search_hits(results) -> list[tuple[int, float]]:
    hits = results[0] if results else []
    return [(int(hit["chunk_id"]), float(hit["distance"])) for hit in hits]


def _ranked(hits: list[tuple[int, float]], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Best first, ties by chunk id."""
    hits = sorted(hits, key=lambda item: (-item[1], item[0]))[:n]
    ids = np.asarray([cid for cid, _ in hits], dtype=np.int64)
    return ids, np.asarray([score for _, score in hits], dtype=np.float32)


def _bm25(distance: float) -> float:
    """ragcli's BM25 from a Milvus one: Lite negates it, and Milvus includes (k1 + 1)."""
    return abs(distance) / (BM25_K1 + 1.0)


def _empty() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)


# --- reading --------------------------------------------------------------------------
class MilvusStore:
    """A StoreReader over a Milvus collection (see the module docstring)."""

    def __init__(self, db: _Milvus, manifest: dict[str, Any]):
        self.db = db
        self.display = db.display
        self.manifest = manifest
        self._has_chunks = db.has(db.name)

    @classmethod
    def open(cls, uri: str, collection: str, base_dir: Path | None = None) -> MilvusStore:
        target = parse_store_uri(uri, base_dir)
        name = target.collection or collection
        missing = IndexStateError(
            f"{target.display} collection '{name}': no index here yet "
            f"(run `rag ingest PATH --store {target.display}` first)"
        )
        if target.lite and not Path(target.client_uri).exists():
            raise missing  # without starting Lite, which would create the folder
        db = _Milvus(target, collection)
        try:
            manifest = None
            if db.has(db.meta):
                db.load()
                manifest = db.meta_value("manifest")
            if manifest is None:
                raise missing
            if manifest.get("format_version") != FORMAT_VERSION:
                raise IndexStateError(
                    f"{db.display}: store format {manifest.get('format_version')} is not "
                    f"supported by this ragcli (format {FORMAT_VERSION}); "
                    "rebuild it with `rag ingest --rebuild`"
                )
            return cls(db, manifest)
        except BaseException:
            db.close()
            raise

    @cached_property
    def n_chunks(self) -> int:
        return self.db.count(self.db.name) if self._has_chunks else 0

    def close(self) -> None:
        self.db.close()

    # documents ----------------------------------------------------------------------
    @cached_property
    def _documents(self) -> list[DocumentInfo]:
        return [
            DocumentInfo(v["doc_id"], v["source"], v["kind"], v["title"], v["file"])
            for v in self.db.iter_meta("doc")
        ]

    def documents(self) -> list[DocumentInfo]:
        return list(self._documents)

    def kinds(self) -> dict[str, int]:
        return dict(Counter(doc.kind for doc in self._documents))

    def counts(self) -> dict[str, int]:
        return self.db.counts()

    def describe(self) -> dict[str, Any]:
        target = self.db.target
        info: dict[str, Any] = {
            "store": "milvus-lite" if target.lite else "milvus",
            "uri": target.display,
            "collection": self.db.name,
        }
        if target.db_name:
            info["database"] = target.db_name
        info["dimension"] = self.manifest.get("dimension")
        info["counts"] = self.counts()
        return info

    # filters ------------------------------------------------------------------------
    def restrict(self, filters) -> Restriction | None:
        if not filters:
            return None
        spec = None
        if filters.paths:
            import pathspec

            spec = pathspec.GitIgnoreSpec.from_lines(filters.paths)
        kinds = {kind.lower().lstrip(".") for kind in filters.kinds}
        wanted = set(filters.doc_ids)
        docs = self._documents
        matched = [
            doc.doc_id
            for doc in docs
            if (spec is None or spec.match_file(doc.source))
            and (not kinds or doc.kind in kinds or Path(doc.source).suffix.lower()[1:] in kinds)
            and (not wanted or doc.doc_id in wanted)
        ]
        if not matched:
            return Restriction(empty=True)
        if len(matched) == len(docs):
            return Restriction()  # everything matches: no expression needed
        return Restriction(expression=in_filter("doc_id", sorted(matched)))

    @staticmethod
    def _expression(restriction: Restriction | None) -> str:
        if restriction is None:
            return ""
        if restriction.expression:
            return restriction.expression
        if restriction.chunk_ids is not None:
            return in_filter("chunk_id", restriction.chunk_ids.tolist())
        return ""

    def _skip(self, n: int, restriction: Restriction | None) -> bool:
        if not self._has_chunks or n <= 0:
            return True
        if restriction is None:
            return False
        return restriction.empty or (
            restriction.chunk_ids is not None and not len(restriction.chunk_ids)
        )

    # search -------------------------------------------------------------------------
    def dense_search(
        self, vector: np.ndarray, n: int, restriction: Restriction | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        if self._skip(n, restriction):
            return _empty()
        limit = min(n, MAX_TOPK)
        results = self.db.call(
            "search",
            self.db.name,
            data=[np.asarray(vector, dtype=np.float32).tolist()],
            anns_field="dense",
            limit=limit,
            filter=self._expression(restriction),
            search_params={"metric_type": "COSINE", "params": {"ef": max(64, limit)}},
            output_fields=["chunk_id"],
        )
        return _ranked(_search_hits(results), limit)

    def _bm25_hits(self, terms: str, limit: int, expr: str) -> list[tuple[int, float]]:
        results = self.db.call(
            "search",
            self.db.name,
            data=[terms],
            anns_field="sparse",
            limit=limit,
            filter=expr,
            search_params={"metric_type": "BM25"},
            output_fields=["chunk_id"],
        )
        scored = [(cid, _bm25(distance)) for cid, distance in _search_hits(results)]
        return [(cid, score) for cid, score in scored if score > 0]

    def sparse_search(
        self, query: str, n: int, restriction: Restriction | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        terms = _terms(query)
        if not terms or self._skip(n, restriction):
            return _empty()
        limit = min(n, MAX_TOPK)
        return _ranked(self._bm25_hits(terms, limit, self._expression(restriction)), limit)

    def dense_scores(self, chunk_ids: np.ndarray, vector: np.ndarray) -> np.ndarray:
        ids = [int(i) for i in chunk_ids]
        found: dict[int, np.ndarray] = {}
        if self._has_chunks:
            for start in range(0, len(ids), BATCH):
                rows = self.db.call(
                    "get", self.db.name, ids=ids[start : start + BATCH], output_fields=["dense"]
                )
                found.update((int(r["chunk_id"]), np.asarray(r["dense"], np.float32)) for r in rows)
        query = np.asarray(vector, dtype=np.float32)
        return np.asarray(
            [float(found[i] @ query) if i in found else 0.0 for i in ids], dtype=np.float32
        )

    def sparse_scores(self, chunk_ids: np.ndarray, query: str) -> np.ndarray:
        ids = [int(i) for i in chunk_ids]
        terms = _terms(query)
        scores: dict[int, float] = {}
        if terms and self._has_chunks:
            for start in range(0, len(ids), BATCH):
                batch = ids[start : start + BATCH]
                scores.update(self._bm25_hits(terms, len(batch), in_filter("chunk_id", batch)))
        return np.asarray([scores.get(i, 0.0) for i in ids], dtype=np.float32)

    def chunks(self, chunk_ids: Sequence[int]) -> dict[int, Chunk]:
        ids = list(dict.fromkeys(int(i) for i in chunk_ids))
        found: dict[int, Chunk] = {}
        if not self._has_chunks:
            return found
        for start in range(0, len(ids), BATCH):
            rows = self.db.call(
                "get", self.db.name, ids=ids[start : start + BATCH], output_fields=CHUNK_FIELDS
            )
            for row in rows:
                chunk = _chunk_from_row(row)
                found[chunk.chunk_id] = chunk
        return found


def _chunk_from_row(row: dict[str, Any]) -> Chunk:
    location = row["location"]
    if isinstance(location, str):
        location = json.loads(location)
    return Chunk(
        doc_id=row["doc_id"],
        source=row["source"],
        title=row["title"],
        text=row["text"],
        location=Location.from_dict(location or {}),
        start=int(row["char_start"]),
        end=int(row["char_end"]),
        ordinal=int(row["ordinal"]),
        n_tokens=int(row["n_tokens"]),
        chunk_id=int(row["chunk_id"]),
    )


# --- writing --------------------------------------------------------------------------
class MilvusWriter:
    """A StoreWriter for a Milvus collection: each file is applied as it is written.

    ``__exit__`` without ``commit`` undoes nothing: the files written so far stay (with
    file records, so the next ingest skips them) and the manifest keeps its old counts.
    ``rebuild`` drops both collections at the first write, not at open, so a run that
    fails before writing leaves the old index alone.
    """

    def __init__(
        self, db: _Milvus, rebuild: bool = False, dimension_hint: int | None = None
    ) -> None:
        self.db = db
        self.display = db.display
        self._rebuild = rebuild
        self._dimension_hint = dimension_hint
        self._dimension: int | None = None
        self._dirty: str | None = None  # the file named in the state row
        self.manifest: dict[str, Any] | None = None
        self._next_id = 0
        if not rebuild:
            self._read_state()

    @classmethod
    def open(
        cls,
        uri: str,
        collection: str,
        base_dir: Path | None = None,
        rebuild: bool = False,
        dimension_hint: int | None = None,
    ) -> MilvusWriter:
        target = parse_store_uri(uri, base_dir)
        db = _Milvus(target, collection, create_dir=True)
        try:
            db.load()
            return cls(db, rebuild=rebuild, dimension_hint=dimension_hint)
        except BaseException:
            db.close()
            raise

    def _read_state(self) -> None:
        db = self.db
        if not db.has(db.meta):
            return
        self.manifest = db.meta_value("manifest")
        state = db.meta_value("state") or {}
        self._dimension = db.dimension()
        self._next_id = max(
            int((self.manifest or {}).get("next_chunk_id", 0)), int(state.get("next_chunk_id", 0))
        )
        if state.get("dirty"):  # a run stopped while writing this file: drop what it left
            self._delete_file(state["dirty"])
            self._set_state(None)

    def __enter__(self) -> MilvusWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.db.close()

    # reading ------------------------------------------------------------------------
    def files(self) -> dict[str, FileRecord]:
        if self._rebuild or not self.db.has(self.db.meta):
            return {}
        records = {}
        for v in self.db.iter_meta("file"):
            records[v["path"]] = FileRecord(
                v["path"], v["source"], v["sha256"], int(v["size"]), int(v["mtime_ns"])
            )
        return records

    def file_of_document(self, doc_id: str) -> str | None:
        if self._rebuild or not self.db.has(self.db.meta):
            return None
        value = self.db.meta_value(_key("doc", doc_id))
        return value["file"] if value else None

    def next_chunk_id(self) -> int:
        return self._next_id

    @property
    def dimension(self) -> int | None:
        return self._dimension

    # writing ------------------------------------------------------------------------
    def _prepare(self) -> None:
        """Before the first write: drop the old collections (rebuild), make the meta one."""
        db = self.db
        if self._rebuild:
            for name in (db.name, db.meta):
                if db.has(name):
                    db.call("drop_collection", name)
            self._rebuild = False
            self.manifest, self._dimension, self._next_id = None, None, 0
        if not db.has(db.meta):
            self._create_meta()

    def _create_meta(self) -> None:
        pm, db = self.db.pymilvus, self.db
        schema = db.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("key", pm.DataType.VARCHAR, is_primary=True, max_length=MAX_VARCHAR)
        schema.add_field("row", pm.DataType.VARCHAR, max_length=64)
        schema.add_field("file", pm.DataType.VARCHAR, max_length=MAX_VARCHAR)
        schema.add_field("value", pm.DataType.VARCHAR, max_length=MAX_VARCHAR)
        schema.add_field("vec", pm.DataType.FLOAT_VECTOR, dim=2)  # a server needs one
        index = db.client.prepare_index_params()
        index.add_index("vec", index_type="FLAT", metric_type="L2")
        db.call(
            "create_collection",
            db.meta,
            schema=schema,
            index_params=index,
            consistency_level="Strong",
        )
        db.call("load_collection", db.meta)

    def _ensure_chunks(self, dimension: int) -> None:
        if self._dimension is not None:
            return
        pm, db = self.db.pymilvus, self.db
        varchar = pm.DataType.VARCHAR
        schema = db.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("chunk_id", pm.DataType.INT64, is_primary=True)
        for name in ("doc_id", "file", "source", "kind", "title", "text"):
            schema.add_field(name, varchar, max_length=MAX_VARCHAR)
        # Lite rejects the "english" analyzer; ragcli's own tokens need only splitting.
        schema.add_field(
            "terms",
            varchar,
            max_length=MAX_VARCHAR,
            enable_analyzer=True,
            analyzer_params={"tokenizer": "standard"},
        )
        schema.add_field("location", pm.DataType.JSON)
        for name in ("char_start", "char_end", "ordinal", "n_tokens"):
            schema.add_field(name, pm.DataType.INT64)
        schema.add_field("dense", pm.DataType.FLOAT_VECTOR, dim=int(dimension))
        schema.add_field("sparse", pm.DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(
            pm.Function(
                name="terms_bm25",
                function_type=pm.FunctionType.BM25,
                input_field_names=["terms"],
                output_field_names=["sparse"],
            )
        )
        index = db.client.prepare_index_params()
        _add_index(index, "dense", "HNSW", "COSINE", HNSW, db.target.lite)
        _add_index(
            index,
            "sparse",
            "SPARSE_INVERTED_INDEX",
            "BM25",
            {"bm25_k1": BM25_K1, "bm25_b": BM25_B},
            db.target.lite,
        )
        db.call(
            "create_collection",
            db.name,
            schema=schema,
            index_params=index,
            consistency_level="Strong",
        )
        db.call("load_collection", db.name)
        self._dimension = int(dimension)

    def _set_state(self, dirty: str | None) -> None:
        value = {"dirty": dirty, "next_chunk_id": self._next_id}
        self.db.call("upsert", self.db.meta, [_meta_row("state", "state", "", value)])
        self._dirty = dirty

    def _delete_file(self, path: str) -> int:
        """Delete a file's chunks, documents and record; returns the chunks deleted."""
        db = self.db
        expr = f"file == {filter_string(path)}"
        removed = 0
        if db.has(db.name):
            removed = db.count(db.name, expr)
            if removed:
                db.call("delete", db.name, filter=expr)
        db.call("delete", db.meta, filter=expr)
        return removed

    def remove_file(self, path: str) -> int:
        self._prepare()
        if self._dirty != path:
            self._set_state(path)
        return self._delete_file(path)

    def add_file(
        self,
        record: FileRecord,
        documents: Sequence[tuple[Document, Sequence[Chunk]]],
        vectors: np.ndarray,
        ingested_at: str,
    ) -> None:
        from ragcli.ingest import index_text

        self._prepare()
        rows = [
            _chunk_row(chunk, doc, record.path, vector, index_text)
            for (doc, chunk), vector in zip(
                ((doc, chunk) for doc, chunks in documents for chunk in chunks),
                np.asarray(vectors, dtype=np.float32),
                strict=True,
            )
        ]
        if rows:
            self._ensure_chunks(vectors.shape[1])
            self._next_id = max(self._next_id, max(row["chunk_id"] for row in rows) + 1)
        self._set_state(record.path)  # before the chunks: a crash leaves a known file
        for start in range(0, len(rows), BATCH):
            self.db.call("insert", self.db.name, rows[start : start + BATCH])
        doc_rows = [
            _meta_row(
                _key("doc", doc.doc_id),
                "doc",
                record.path,
                {
                    "doc_id": doc.doc_id,
                    "source": doc.source,
                    "kind": doc.kind,
                    "title": doc.title,
                    "file": record.path,
                },
            )
            for doc, _chunks in documents
        ]
        for start in range(0, len(doc_rows), BATCH):
            self.db.call("upsert", self.db.meta, doc_rows[start : start + BATCH])
        self.db.call("upsert", self.db.meta, [_file_row(record, ingested_at)])
        self._set_state(None)

    def touch_file(self, record: FileRecord, ingested_at: str) -> None:
        self._prepare()
        self.db.call("upsert", self.db.meta, [_file_row(record, ingested_at)])

    def commit(self, manifest: dict[str, Any]) -> int | None:
        self._prepare()
        dimension = manifest.get("dimension") or self._dimension_hint
        if dimension:
            self._ensure_chunks(int(dimension))
        stored = {
            **manifest,
            "counts": self.db.counts(),
            "next_chunk_id": self._next_id,
            "format_version": FORMAT_VERSION,
            "store": "milvus",
        }
        self.db.call("upsert", self.db.meta, [_meta_row("manifest", "manifest", "", stored)])
        if self._dirty is not None:
            self._set_state(None)
        # A flush seals the rows in a segment: Lite's filtered BM25 is right only there.
        for name in (self.db.name, self.db.meta):
            if self.db.has(name):
                self.db.call("flush", name)
        self.manifest = stored
        return None


def _add_index(index, field_name: str, index_type: str, metric: str, params: dict, lite: bool):
    index.add_index(field_name, index_type=index_type, metric_type=metric, params=dict(params))
    if lite:
        # pymilvus sends params flattened; Milvus Lite 3.2 only reads a JSON "params"
        # entry and would silently build with its defaults (BM25 k1 1.5, b 0.75).
        index[-1].get_index_configs()["params"] = dict(params)


def _key(kind: str, name: str) -> str:
    """A meta row's primary key. Hashed: pymilvus's query_iterator pages with
    ``key > "<last key>"`` unescaped, which breaks on a quote or backslash in a path."""
    return f"{kind}:{hashlib.sha256(name.encode()).hexdigest()}"


def _meta_row(key: str, row: str, file: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"key": key, "row": row, "file": file, "value": json.dumps(value), "vec": [0.0, 0.0]}


def _file_row(record: FileRecord, ingested_at: str) -> dict[str, Any]:
    value = {
        "path": record.path,
        "source": record.source,
        "sha256": record.sha256,
        "size": record.size,
        "mtime_ns": record.mtime_ns,
        "ingested_at": ingested_at,
    }
    return _meta_row(_key("file", record.path), "file", record.path, value)


def _chunk_row(
    chunk: Chunk, doc: Document, path: str, vector: np.ndarray, index_text
) -> dict[str, Any]:
    if chunk.chunk_id is None:
        raise ValueError("chunks need ids before they are stored")
    return {
        "chunk_id": int(chunk.chunk_id),
        "doc_id": chunk.doc_id,
        "file": path,
        "source": chunk.source,
        "kind": doc.kind,
        "title": _clip(chunk.title),
        "text": _clip(chunk.text),
        "terms": _clip(_terms(index_text(chunk.title, chunk.text))),
        "location": chunk.location.to_dict(),
        "char_start": int(chunk.start),
        "char_end": int(chunk.end),
        "ordinal": int(chunk.ordinal),
        "n_tokens": int(chunk.n_tokens),
        "dense": vector.tolist(),
    }
