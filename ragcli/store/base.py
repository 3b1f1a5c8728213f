"""What the layers above a store rely on, whichever store it is.

Two stores implement this: ``LocalStore`` (SQLite + FAISS + bm25s in ``.rag/``) and
``MilvusStore`` (one Milvus collection, server or Milvus Lite). Retrieval (``Index.search``),
answers and eval talk only to ``StoreReader``; ingest talks only to ``StoreWriter``.

Scores mean the same on every store, so fusion (``ragcli.retrieve``) and ``alpha`` do:
dense scores are cosine similarities of L2-normalised vectors, sparse scores are BM25
(Lucene idf, k1 0.9, b 0.4) over the tokens of ``ragcli.text.tokenize``, higher
is better, and a chunk without any query term scores 0 and is not returned by
``sparse_search``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ragcli.errors import IndexStateError
from ragcli.store.catalog import FileRecord
from ragcli.types import Chunk, Document


@dataclass(frozen=True)
class DocumentInfo:
    doc_id: str
    source: str  # the file as shown to users
    kind: str  # text, markdown, pdf, html, code, jsonl
    title: str
    file: str  # absolute path of the file at ingest time


@dataclass(frozen=True)
class Restriction:
    """A search filter turned into the store's own terms (from ``StoreReader.restrict``).

    ``chunk_ids`` is what the local store uses; ``expression`` is a Milvus boolean
    expression. ``empty`` is true when nothing can match, so the search returns nothing.
    """

    chunk_ids: np.ndarray | None = None
    expression: str | None = None
    empty: bool = False


def matching_documents(
    documents: Sequence[DocumentInfo], filters, roots: Sequence[str] = ()
) -> list[str]:
    """Ids of the documents a ``SearchFilter`` keeps: each list OR-ed inside, AND-ed.

    A path glob matches the source as shown, or the file's path relative to one of the
    ingested ``roots`` (so ``papers/**/*.pdf`` finds ``/home/me/corpus/papers/x.pdf``
    after ``rag ingest ~/corpus``)."""
    spec = None
    if filters.paths:
        from ragcli.globs import user_spec

        spec = user_spec(filters.paths, "filter")
    kinds = {kind.lower().lstrip(".") for kind in filters.kinds}
    wanted = set(filters.doc_ids)
    return [
        doc.doc_id
        for doc in documents
        if (spec is None or any(spec.match_file(name) for name in _names(doc, roots)))
        and (not kinds or doc.kind in kinds or Path(doc.source).suffix.lower().lstrip(".") in kinds)
        and (not wanted or doc.doc_id in wanted)
    ]


def _names(doc: DocumentInfo, roots: Sequence[str]) -> list[str]:
    names = [doc.source]
    for root in roots:
        prefix = root.rstrip("/") + "/"
        if doc.file.startswith(prefix):
            names.append(doc.file[len(prefix) :])
    return names


class StoreReader(Protocol):
    manifest: dict[str, Any]  # the fields ingest.expected_manifest checks, plus counts

    @property
    def n_chunks(self) -> int: ...

    def restrict(self, filters) -> Restriction | None:
        """``filters`` (a ``types.SearchFilter``) as a Restriction; None when unfiltered."""
        ...

    def dense_search(
        self, vector: np.ndarray, n: int, restriction: Restriction | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``n`` (int64 chunk ids, float32 cosines), best first, ties by chunk id."""
        ...

    def sparse_search(
        self, query: str, n: int, restriction: Restriction | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``n`` chunks with a BM25 score > 0: (int64 ids, float32 scores), best first."""
        ...

    def sparse_ceiling(self, query: str) -> float:
        """The query's whole BM25 term weight (the sum of its terms' idf, words no
        chunk holds included; a store that cannot tell gives its best score for the
        query): the ``linear`` fusion's scale, the same for every k and filter."""
        ...

    def dense_scores(self, chunk_ids: np.ndarray, vector: np.ndarray) -> np.ndarray:
        """Cosine of each given chunk's stored vector with ``vector`` (same order)."""
        ...

    def sparse_scores(self, chunk_ids: np.ndarray, query: str) -> np.ndarray:
        """BM25 score of each given chunk for ``query`` (0 where no term occurs)."""
        ...

    def chunks(self, chunk_ids: Sequence[int]) -> dict[int, Chunk]:
        """The chunks that exist among ``chunk_ids``, by id (missing ids are left out)."""
        ...

    def documents(self) -> list[DocumentInfo]: ...

    def counts(self) -> dict[str, int]:
        """``{"files": .., "documents": .., "chunks": ..}``"""
        ...

    def kinds(self) -> dict[str, int]:
        """Documents per kind."""
        ...

    def describe(self) -> dict[str, Any]:
        """Where the store lives and how big it is, for ``rag status`` (no credentials)."""
        ...

    def close(self) -> None: ...


class StoreWriter(Protocol):
    """One ingest run's changes to a store; a context manager that holds the store's
    write lock while open. Nothing is visible to readers of a local store until
    ``commit``; a Milvus store applies each file as it is written (docs/design.md).

    The writer is the one owner of what the store records about itself: it hands out
    chunk ids (``take_chunk_ids``), checks every vector's dimension against the stored
    ones (``add_file``) and writes the manifest (``commit``, via ``manifest_of``)."""

    display: str  # the index as messages name it (no credentials)
    manifest: dict[str, Any] | None  # the live manifest, None for a new or rebuilt store

    @property
    def holds_index(self) -> bool:
        """Whether an index is there already (False for a rebuild); asked before the
        writer is opened, so a mistyped location does not become an empty index."""
        ...

    @property
    def work_dir(self) -> Path | None:
        """A local folder of this index for what an ingest keeps beside it (the
        checkpoint of an interrupted run, the skipped files); None where there is none."""
        ...

    @property
    def repairing(self) -> str | None:
        """What is damaged in the live index, when the run rebuilds on an older state
        (the run then commits even if no file changed); None normally."""
        ...

    @property
    def bm25_params(self) -> dict[str, Any]:
        """The BM25 params (analyser included) the committed sparse side is built with:
        a local store rebuilds its sidecar from the catalog when the live one was built
        with others (no re-embedding); Milvus keeps its collection's own."""
        ...

    def __enter__(self) -> StoreWriter: ...

    def __exit__(self, *exc) -> None:
        """Releases the lock; if ``commit`` was not called, discards what can be discarded."""
        ...

    def files(self) -> dict[str, FileRecord]:
        """Every ingested file by absolute path."""
        ...

    def file_of_document(self, doc_id: str) -> str | None:
        """The file a document id belongs to, or None if no such document is stored."""
        ...

    def next_chunk_id(self) -> int:
        """The id ``take_chunk_ids`` gives next: above every chunk id ever stored."""
        ...

    def take_chunk_ids(self, count: int) -> range:
        """``count`` new chunk ids, never handed out before (ids are not reused, even
        after their chunks are removed)."""
        ...

    @property
    def dimension(self) -> int | None:
        """Dimension of the stored vectors (those of this run included), None while the
        store holds none."""
        ...

    def remove_file(self, path: str) -> int:
        """Remove the file's record, documents and chunks; returns chunks removed."""
        ...

    def add_file(
        self,
        record: FileRecord,
        documents: Sequence[tuple[Document, Sequence[Chunk]]],
        vectors: np.ndarray,
        ingested_at: str,
    ) -> None:
        """Store a file with its documents and chunks (ids from ``take_chunk_ids``) and
        one vector per chunk, in the order the chunks appear in ``documents``;
        ``IndexStateError`` when the vectors' dimension is not the stored one."""
        ...

    def touch_file(self, record: FileRecord, ingested_at: str) -> None:
        """Record a new size/mtime for a file whose content is unchanged."""
        ...

    def commit(
        self,
        build: Mapping[str, Any],
        *,
        roots: Sequence[str] = (),
        updated_at: str | None = None,
        dimension: int | None = None,
    ) -> int | None:
        """Make the run's changes live. ``build`` says how the vectors and chunks were
        made (``ragcli.ingest.manifest.expected_manifest``), ``roots`` the folders this
        run ingested, ``dimension`` the vectors' dimension for a store that holds none
        yet; the writer adds the rest (``manifest_of``). Returns the generation number
        where the store has generations."""
        ...


class ChunkIds:
    """A store writer's chunk-id counter: above every id the store ever held, so an id
    is never handed out twice, even after its chunk is removed."""

    def __init__(self, start: int = 0):
        self.next = start

    def take(self, count: int) -> range:
        taken = range(self.next, self.next + count)
        self.next += count
        return taken

    def cover(self, ids: Sequence[int]) -> None:
        """Count past ``ids`` too (ids a caller made itself are not handed out again)."""
        if len(ids):
            self.next = max(self.next, max(ids) + 1)


def check_dimension(display: str, stored: int | None, vectors: np.ndarray) -> None:
    """``IndexStateError`` when ``vectors`` are not of the ``stored`` dimension."""
    if stored and vectors.ndim == 2 and vectors.shape[1] != stored:
        raise IndexStateError(
            f"{display}: the index holds {stored}-dimensional vectors but the embedding "
            f"model made {vectors.shape[1]}-dimensional ones; use --rebuild"
        )


def manifest_of(
    writer: StoreWriter,
    build: Mapping[str, Any],
    *,
    roots: Sequence[str],
    updated_at: str | None,
    dimension: int,
    counts: Mapping[str, int],
) -> dict[str, Any]:
    """The manifest ``writer`` commits, the one place its fields are put together: how
    the index was built, the writer's BM25 params, the vector dimension of what is
    stored, every root ingested so far (the live manifest's and ``roots``), the counts,
    and the writer's chunk-id counter (so a removed chunk's id is never reused). Each
    store adds only where the index lives (its format version; a local store its
    generation numbers and dense index type)."""
    manifest = dict(build)
    manifest.update(
        bm25=dict(writer.bm25_params),
        dimension=int(dimension),
        roots=sorted({*(writer.manifest or {}).get("roots", []), *map(str, roots)}),
        counts=dict(counts),
        next_chunk_id=writer.next_chunk_id(),
    )
    if updated_at is not None:
        manifest["updated_at"] = updated_at
    return manifest
