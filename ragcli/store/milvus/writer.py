"""Writing a Milvus index: the StoreWriter of ragcli.store.base."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ragcli.store.base import ChunkIds, check_dimension, manifest_of
from ragcli.store.catalog import FileRecord
from ragcli.store.milvus.connection import (
    BATCH,
    BM25_B,
    BM25_K1,
    FORMAT_VERSION,
    HNSW,
    MAX_VARCHAR,
    Connection,
    bm25_params,
    bm25_terms,
    clip,
    filter_string,
)
from ragcli.store.milvus.uri import parse_store_uri
from ragcli.types import Chunk, Document


# --- writing --------------------------------------------------------------------------
class MilvusWriter:
    """A StoreWriter for a Milvus collection: each file is applied as it is written.

    ``__exit__`` without ``commit`` undoes nothing: the files written so far stay (with
    file records, so the next ingest skips them) and the manifest keeps its old counts.
    ``rebuild`` drops both collections at the first write, not at open, so a run that
    fails before writing leaves the old index alone.
    """

    repairing = None  # nothing is rolled back, so there is never an older state to repair
    work_dir = None  # the index is on the server: no local folder for a checkpoint

    def __init__(self, db: Connection, rebuild: bool = False) -> None:
        self.db = db
        self.display = db.display
        self._rebuild = rebuild
        self._dimension: int | None = None
        self._dirty: str | None = None  # the file named in the state row
        self.manifest: dict[str, Any] | None = None
        self._ids = ChunkIds()
        if not rebuild:
            self._read_state()
        self.holds_index = self.manifest is not None

    @classmethod
    def open(
        cls,
        uri: str,
        collection: str,
        base_dir: Path | None = None,
        rebuild: bool = False,
    ) -> MilvusWriter:
        target = parse_store_uri(uri, base_dir)
        db = Connection(target, collection, create_dir=True)
        try:
            db.load()
            return cls(db, rebuild=rebuild)
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
        self._ids = ChunkIds(
            max(
                int((self.manifest or {}).get("next_chunk_id", 0)),
                int(state.get("next_chunk_id", 0)),
            )
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
        return self._ids.next

    def take_chunk_ids(self, count: int) -> range:
        return self._ids.take(count)

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
            # A rebuild never read the old counter: the ids taken so far start at 0.
            self.manifest, self._dimension = None, None
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
        _create_loaded(db, db.meta, schema, index)

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
        _create_loaded(db, db.name, schema, index)
        self._dimension = int(dimension)

    def _set_state(self, dirty: str | None) -> None:
        value = {"dirty": dirty, "next_chunk_id": self._ids.next}
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
        from ragcli.text import sparse_text

        self._prepare()
        rows = [
            _chunk_row(chunk, doc, record.path, vector, sparse_text, self.bm25_params)
            for (doc, chunk), vector in zip(
                ((doc, chunk) for doc, chunks in documents for chunk in chunks),
                np.asarray(vectors, dtype=np.float32),
                strict=True,
            )
        ]
        if rows:
            check_dimension(self.display, self._dimension, vectors)
            self._ensure_chunks(vectors.shape[1])
            self._ids.cover([row["chunk_id"] for row in rows])
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

    @property
    def bm25_params(self) -> dict[str, Any]:
        """A collection keeps the analysis it was built with (its terms are stored)."""
        return bm25_params(self.manifest)

    def commit(
        self,
        build: Mapping[str, Any],
        *,
        roots: Sequence[str] = (),
        updated_at: str | None = None,
        dimension: int | None = None,
    ) -> int | None:
        self._prepare()
        dimension = self._dimension or dimension
        if dimension:
            self._ensure_chunks(int(dimension))
        stored = manifest_of(
            self, build, roots=roots, updated_at=updated_at, dimension=int(dimension or 0),
            counts=self.db.counts(),
        )  # fmt: skip
        stored.update(format_version=FORMAT_VERSION, store="milvus")
        self.db.call("upsert", self.db.meta, [_meta_row("manifest", "manifest", "", stored)])
        if self._dirty is not None:
            self._set_state(None)
        # A flush seals the rows in a segment: Lite's filtered BM25 is right only there.
        for name in (self.db.name, self.db.meta):
            if self.db.has(name):
                self.db.call("flush", name)
        self.manifest = stored
        return None


def _create_loaded(db, name: str, schema, index) -> None:
    """Create a collection with strong consistency (a search sees the writes before it)
    and load it: a collection is searchable only once loaded."""
    db.call(
        "create_collection", name, schema=schema, index_params=index, consistency_level="Strong"
    )
    db.call("load_collection", name)


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
    chunk: Chunk, doc: Document, path: str, vector: np.ndarray, sparse_text, params: dict
) -> dict[str, Any]:
    if chunk.chunk_id is None:
        raise ValueError("chunks need ids before they are stored")
    return {
        "chunk_id": int(chunk.chunk_id),
        "doc_id": chunk.doc_id,
        "file": path,
        "source": chunk.source,
        "kind": doc.kind,
        "title": clip(chunk.title),
        "text": clip(chunk.text),
        "terms": clip(
            bm25_terms(sparse_text(chunk.title, chunk.location.heading, chunk.text), params)
        ),
        "location": chunk.location.to_dict(),
        "char_start": int(chunk.start),
        "char_end": int(chunk.end),
        "ordinal": int(chunk.ordinal),
        "n_tokens": int(chunk.n_tokens),
        "dense": vector.tolist(),
    }
