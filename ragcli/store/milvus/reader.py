"""Reading a Milvus index: the StoreReader of ragcli.store.base."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ragcli.errors import IndexStateError
from ragcli.store.base import DocumentInfo, Restriction, matching_documents
from ragcli.store.catalog import FileRecord
from ragcli.store.milvus.connection import (
    BATCH,
    CHUNK_FIELDS,
    FORMAT_VERSION,
    HNSW_EF,
    MAX_TOPK,
    Connection,
    bm25_params,
    bm25_score,
    bm25_terms,
    empty_hits,
    in_filter,
    ranked,
    search_hits,
)
from ragcli.store.milvus.uri import parse_store_uri
from ragcli.types import Chunk, Location


# --- reading --------------------------------------------------------------------------
class MilvusStore:
    """A StoreReader over a Milvus collection (see the module docstring)."""

    def __init__(self, db: Connection, manifest: dict[str, Any]):
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
        db = Connection(target, collection)
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

    @cached_property
    def _files(self) -> dict[str, FileRecord]:
        return {
            v["path"]: FileRecord(
                v["path"], v["source"], v["sha256"], int(v["size"]), int(v["mtime_ns"])
            )
            for v in self.db.iter_meta("file")
        }

    def files(self) -> dict[str, FileRecord]:
        """The file records the collection keeps (path, size, mtime, hash), as ingest
        wrote them: what freshness compares the folders with (ragcli.freshness)."""
        return dict(self._files)

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
        docs = self._documents
        matched = matching_documents(docs, filters, self.manifest.get("roots", []))
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
            return empty_hits()
        limit = min(n, MAX_TOPK)
        results = self.db.call(
            "search",
            self.db.name,
            data=[np.asarray(vector, dtype=np.float32).tolist()],
            anns_field="dense",
            limit=limit,
            filter=self._expression(restriction),
            search_params={"metric_type": "COSINE", "params": {"ef": max(HNSW_EF, limit)}},
            output_fields=["chunk_id"],
        )
        return ranked(search_hits(results), limit)

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
        scored = [(cid, bm25_score(distance)) for cid, distance in search_hits(results)]
        return [(cid, score) for cid, score in scored if score > 0]

    def sparse_search(
        self, query: str, n: int, restriction: Restriction | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        terms = bm25_terms(query, bm25_params(self.manifest))
        if not terms or self._skip(n, restriction):
            return empty_hits()
        limit = min(n, MAX_TOPK)
        return ranked(self._bm25_hits(terms, limit, self._expression(restriction)), limit)

    def sparse_ceiling(self, query: str) -> float:
        """Milvus scores BM25 itself and gives no idf back: its best score for the query."""
        _, scores = self.sparse_search(query, 1)
        return float(scores[0]) if len(scores) else 0.0

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
        terms = bm25_terms(query, bm25_params(self.manifest))
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
