"""The local store: one ``.rag/<name>/`` folder = SQLite catalog + FAISS vectors + BM25.

``LocalStore`` reads the live generation; ``LocalWriter`` builds the next one beside it
and publishes it atomically (``ragcli.store.generations``). Layout: docs/index-format.md.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ragcli.errors import IndexStateError
from ragcli.store.base import DocumentInfo, Restriction, matching_documents
from ragcli.store.catalog import CATALOG_FILE, Catalog, FileRecord
from ragcli.store.dense import DENSE_FILE
from ragcli.store.generations import (
    WriteLock,
    current_generation,
    generation_number,
    publish_generation,
    read_manifest,
    remove_stale,
    start_generation,
)
from ragcli.types import Chunk, Document

SPARSE_DIR = "sparse"


class LocalStore:
    """A read-only view of the live generation of one index folder.

    FAISS and BM25 are loaded on first use, so a sparse-only search never loads FAISS
    and a dense-only one never loads BM25.
    """

    def __init__(self, index_dir: Path):
        gen = current_generation(index_dir)
        if gen is None:
            raise IndexStateError(f"{index_dir}: no index here yet (run `rag ingest PATH` first)")
        self.index_dir = index_dir
        self.generation_dir = gen
        self.manifest: dict[str, Any] = read_manifest(gen)
        self.catalog = Catalog(gen / CATALOG_FILE, readonly=True)
        self._sparse_query: str | None = None
        self._sparse_rows: np.ndarray | None = None

    @cached_property
    def dense(self):
        from ragcli.store import dense

        return dense.read_index(self.generation_dir / DENSE_FILE, mmap=True)

    @cached_property
    def sparse(self):
        from ragcli.store.sparse import SparseIndex

        return SparseIndex.load(self.generation_dir / SPARSE_DIR)

    @property
    def n_chunks(self) -> int:
        return int(self.manifest.get("counts", {}).get("chunks", 0))

    # filters ------------------------------------------------------------------------
    def restrict(self, filters) -> Restriction | None:
        if not filters:
            return None
        doc_ids = matching_documents(self.documents(), filters, self.manifest.get("roots", []))
        ids = np.asarray(sorted(self.catalog.chunk_ids_of_docs(doc_ids)), dtype=np.int64)
        return Restriction(chunk_ids=ids, empty=not len(ids))

    # search -------------------------------------------------------------------------
    def dense_search(self, vector, n, restriction=None):
        from ragcli.store import dense

        allowed = restriction.chunk_ids if restriction is not None else None
        return dense.search(self.dense, vector, n, allowed)

    def sparse_search(self, query, n, restriction=None):
        sparse = self.sparse
        mask = None
        if restriction is not None:
            mask = np.isin(sparse.row_ids, restriction.chunk_ids).astype(np.float32)
        ids, scores, row_scores = sparse.search(query, n, mask)
        # sparse_scores for the other side's candidates reads this row vector back.
        self._sparse_query, self._sparse_rows = query, row_scores
        return ids, scores

    def dense_scores(self, chunk_ids, vector):
        from ragcli.store import dense

        return dense.vectors_for(self.dense, np.asarray(chunk_ids, dtype=np.int64)) @ vector

    def sparse_scores(self, chunk_ids, query):
        sparse = self.sparse
        if self._sparse_query != query or self._sparse_rows is None:
            self._sparse_query, self._sparse_rows = query, sparse.scores(query)
        if not len(self._sparse_rows):
            return np.zeros(len(chunk_ids))
        rows = np.searchsorted(sparse.row_ids, np.asarray(chunk_ids, dtype=np.int64))
        return self._sparse_rows[rows]

    # catalog ------------------------------------------------------------------------
    def chunks(self, chunk_ids: Sequence[int]) -> dict[int, Chunk]:
        return self.catalog.chunks(chunk_ids)

    def documents(self) -> list[DocumentInfo]:
        return [
            DocumentInfo(row["doc_id"], row["source"], row["kind"], row["title"], row["file"])
            for row in self.catalog.documents()
        ]

    def counts(self) -> dict[str, int]:
        return self.catalog.counts()

    def kinds(self) -> dict[str, int]:
        return self.catalog.kinds()

    def describe(self) -> dict[str, Any]:
        sizes = {
            path.name: path.stat().st_size if path.is_file() else _tree_size(path)
            for path in self.generation_dir.iterdir()
        }
        return {
            "store": "local",
            "index": str(self.index_dir),
            "generation": self.manifest.get("generation"),
            "bytes": sizes,
            "total_bytes": sum(sizes.values()),
        }

    def close(self) -> None:
        self.catalog.close()


class LocalWriter:
    """Builds the next generation of an index folder under its write lock.

    Removals and additions are collected and applied to the copied catalog, the FAISS
    index and a rebuilt BM25 sidecar; ``commit`` publishes the generation with one atomic
    rename. Leaving without ``commit`` removes the unfinished generation.
    """

    def __init__(self, index_dir: Path, rebuild: bool = False):
        self.index_dir = index_dir
        self.display = str(index_dir)
        self.rebuild = rebuild
        self._lock = WriteLock(index_dir)
        self.manifest: dict[str, Any] | None = None
        self._live: Path | None = None
        self._old: Catalog | None = None
        self._tmp: Path | None = None
        self._catalog: Catalog | None = None
        self._removed: list[int] = []
        self._added_ids: list[np.ndarray] = []
        self._added_vectors: list[np.ndarray] = []
        self.generation: int | None = None

    def __enter__(self) -> LocalWriter:
        self._lock.__enter__()
        try:
            self._live = None if self.rebuild else current_generation(self.index_dir)
            if self._live is not None:
                self.manifest = read_manifest(self._live)
                self._old = Catalog(self._live / CATALOG_FILE, readonly=True)
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        import shutil

        try:
            for catalog in (self._catalog, self._old):
                if catalog is not None:
                    catalog.close()
            if self._tmp is not None and self._tmp.exists():
                shutil.rmtree(self._tmp, ignore_errors=True)
            elif self._tmp is None:
                remove_stale(self.index_dir)  # folders left by a killed run go, as always
        finally:
            self._lock.__exit__(None, None, None)

    # reading the live generation -----------------------------------------------------
    def files(self) -> dict[str, FileRecord]:
        return self._old.files() if self._old else {}

    def file_of_document(self, doc_id: str) -> str | None:
        catalog = self._catalog or self._old
        if catalog is None:
            return None
        row = catalog.db.execute("SELECT file FROM documents WHERE doc_id = ?", (doc_id,))
        found = row.fetchone()
        return found[0] if found else None

    def next_chunk_id(self) -> int:
        return self._writable().next_chunk_id()

    @property
    def dimension(self) -> int | None:
        dimension = (self.manifest or {}).get("dimension")
        return int(dimension) if dimension else None

    # changes ------------------------------------------------------------------------
    def _writable(self) -> Catalog:
        if self._catalog is None:
            self._tmp = start_generation(self.index_dir)
            target = self._tmp / CATALOG_FILE
            if self._old is not None:
                destination = sqlite3.connect(target)
                self._old.db.backup(destination)
                destination.close()
            self._catalog = Catalog(target)
        return self._catalog

    def remove_file(self, path: str) -> int:
        catalog = self._writable()
        ids = catalog.chunk_ids_of_file(path)
        self._removed.extend(ids)
        catalog.remove_file(path)
        return len(ids)

    def add_file(
        self,
        record: FileRecord,
        documents: Sequence[tuple[Document, Sequence[Chunk]]],
        vectors: np.ndarray,
        ingested_at: str,
    ) -> None:
        catalog = self._writable()
        catalog.add_file(record, ingested_at)
        ids = []
        for doc, chunks in documents:
            catalog.add_document(doc, record.path, chunks)
            ids.extend(chunk.chunk_id for chunk in chunks)
        if ids:
            self._added_ids.append(np.asarray(ids, dtype=np.int64))
            self._added_vectors.append(np.asarray(vectors, dtype=np.float32))

    def touch_file(self, record: FileRecord, ingested_at: str) -> None:
        self._writable().add_file(record, ingested_at)

    def commit(self, manifest: dict[str, Any]) -> int:
        from ragcli.store import dense

        catalog = self._writable()
        ids = np.concatenate(self._added_ids) if self._added_ids else np.zeros(0, np.int64)
        vectors = np.concatenate(self._added_vectors) if self._added_vectors else None
        dense_index = dense.read_index(self._live / DENSE_FILE) if self._live else None
        if dense_index is not None:
            dimension = dense_index.d
        elif vectors is not None:
            dimension = vectors.shape[1]
        else:
            dimension = int(manifest["dimension"])
        if vectors is not None and vectors.shape[1] != dimension:
            raise IndexStateError(f"{self.index_dir}: embedding dimension changed; use --rebuild")
        # Flat or IVF/HNSW by size (ragcli.store.dense).
        dense_index, _ = dense.update(
            dense_index, dimension, np.asarray(self._removed, np.int64), ids, vectors
        )
        dense.write_index(dense_index, self._tmp / DENSE_FILE)
        catalog.commit()
        _build_sparse(catalog, self._tmp / SPARSE_DIR)
        counts = catalog.counts()
        catalog.close()
        self._catalog = None
        final = publish_generation(
            self.index_dir,
            self._tmp,
            {
                **manifest,
                "dimension": int(dense_index.d),
                "dense_index": dense.kind_of(dense_index),
                "counts": counts,
            },
        )
        self._tmp = None
        self.generation = generation_number(final)
        self.manifest = read_manifest(final)
        return self.generation


def _build_sparse(catalog: Catalog, folder: Path) -> None:
    from ragcli.store.sparse import SparseIndex
    from ragcli.text import index_text

    ids: list[int] = []
    texts: list[str] = []
    for chunk_id, title, text in catalog.iter_chunk_texts():
        ids.append(chunk_id)
        texts.append(index_text(title, text))
    SparseIndex.build(ids, texts).save(folder)


def _tree_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
