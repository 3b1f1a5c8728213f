"""The local store: one ``.rag/<name>/`` folder = SQLite catalog + FAISS vectors + BM25.

``LocalStore`` reads the live generation; ``LocalWriter`` builds the next one beside it
and publishes it atomically (``ragcli.store.generations``). Layout: docs/index-format.md.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ragcli.errors import IndexStateError, warn
from ragcli.store.base import (
    ChunkIds,
    DocumentInfo,
    Restriction,
    check_dimension,
    manifest_of,
    matching_documents,
)
from ragcli.store.catalog import CATALOG_FILE, Catalog, FileRecord
from ragcli.store.dense import DENSE_FILE
from ragcli.store.generations import (
    CURRENT_FILE,
    FORMAT_VERSION,
    MANIFEST_FILE,
    Live,
    WriteLock,
    current_generation,
    generation_number,
    index_present,
    publish_generation,
    read_manifest,
    resolve_live,
    start_generation,
    tidy,
)
from ragcli.types import Chunk, Document

SPARSE_DIR = "sparse"
STAGING_DIR = "staging"  # inside gen-N.tmp while it is written, removed before publishing
# Opening an index for reading checks every file's size, and their CRC-32 when the whole
# generation is at most this big (about 3 ms at 3 GB/s); `rag status --check` and every
# ingest check all of it, however big.
READ_CRC_LIMIT = 8 << 20
ROW_SCORES_KEPT = 4  # queries whose BM25 row scores a reader keeps (a batch repeats none)
WRITE_CRC_LIMIT = 1 << 62
REPAIR_HINT = (
    "run `rag status --check`, then `rag ingest PATH` to repair it or `rag ingest --rebuild PATH`"
)


def _one_line(err: BaseException) -> str:
    """The useful end of an error (FAISS puts the reason last, after the C++ location)."""
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = lines[-1] if lines else type(err).__name__
    return text if len(text) <= 240 else "..." + text[-240:]


@contextlib.contextmanager
def reading(path: Path) -> Iterator[None]:
    """Errors from reading a damaged file become one line naming it."""
    try:
        yield
    except IndexStateError:
        raise
    except (OSError, sqlite3.Error, RuntimeError, ValueError, KeyError, IndexError) as err:
        raise IndexStateError(f"{path}: damaged ({_one_line(err)}); {REPAIR_HINT}") from None


def open_live(index_dir: Path, crc_limit: int, fallback_note: str) -> Live | None:
    """The generation to use, warning once when the live one is damaged."""
    live = resolve_live(index_dir, crc_limit)
    if live is not None and live.damage is not None:
        warn(f"{live.damage}; {fallback_note} {live.gen.name}")
    return live


class LocalStore:
    """A read-only view of the live generation of one index folder.

    FAISS and BM25 are loaded on first use, so a sparse-only search never loads FAISS
    and a dense-only one never loads BM25.
    """

    def __init__(self, index_dir: Path):
        note = "answering from the previous generation (run `rag ingest PATH` to repair):"
        live = open_live(index_dir, READ_CRC_LIMIT, note)
        if live is None:
            raise IndexStateError(f"{index_dir}: no index here yet (run `rag ingest PATH` first)")
        self.index_dir = index_dir
        self.generation_dir = gen = live.gen
        self.damage = live.damage
        self.manifest: dict[str, Any] = live.manifest
        with reading(gen / CATALOG_FILE):
            self.catalog = Catalog(gen / CATALOG_FILE, readonly=True)
        # BM25 scores of every row for the last few queries, keyed by the query: a
        # hybrid search's sparse_search and sparse_scores score the rows once, in
        # either order, from any thread.
        self._row_scores: dict[str, np.ndarray] = {}
        self._row_scores_lock = threading.Lock()

    @cached_property
    def dense(self):
        from ragcli.store import dense

        with reading(self.generation_dir / DENSE_FILE):
            return dense.read_index(self.generation_dir / DENSE_FILE, mmap=True)

    @cached_property
    def sparse(self):
        from ragcli.store.sparse import SparseIndex

        with reading(self.generation_dir / SPARSE_DIR):
            return SparseIndex.load(self.generation_dir / SPARSE_DIR)

    def _catalog_read(self):
        return reading(self.generation_dir / CATALOG_FILE)

    @property
    def n_chunks(self) -> int:
        return int(self.manifest.get("counts", {}).get("chunks", 0))

    # filters ------------------------------------------------------------------------
    def restrict(self, filters) -> Restriction | None:
        if not filters:
            return None
        doc_ids = matching_documents(self.documents(), filters, self.manifest.get("roots", []))
        with self._catalog_read():
            found = self.catalog.chunk_ids_of_docs(doc_ids)
        ids = np.asarray(sorted(found), dtype=np.int64)
        return Restriction(chunk_ids=ids, empty=not len(ids))

    # search -------------------------------------------------------------------------
    def dense_search(self, vector, n, restriction=None):
        from ragcli.store import dense

        allowed = restriction.chunk_ids if restriction is not None else None
        index = self.dense
        with reading(self.generation_dir / DENSE_FILE):
            return dense.search(index, vector, n, allowed)

    def _scores_of_rows(self, query: str) -> np.ndarray:
        """The BM25 score of every row for ``query`` (unfiltered), scored once a query."""
        with self._row_scores_lock:
            found = self._row_scores.get(query)
        if found is None:
            with reading(self.generation_dir / SPARSE_DIR):
                found = self.sparse.scores(query)
            with self._row_scores_lock:
                self._row_scores[query] = found
                while len(self._row_scores) > ROW_SCORES_KEPT:
                    del self._row_scores[next(iter(self._row_scores))]
        return found

    def sparse_search(self, query, n, restriction=None):
        from ragcli.store.sparse import top_rows

        sparse = self.sparse
        rows = self._scores_of_rows(query)
        if restriction is not None and len(rows):
            rows = rows * np.isin(sparse.row_ids, restriction.chunk_ids).astype(np.float32)
        ids, scores, _ = top_rows(sparse.row_ids, rows, n)
        return ids, scores

    def sparse_ceiling(self, query):
        with reading(self.generation_dir / SPARSE_DIR):
            return self.sparse.ceiling(query)

    def dense_scores(self, chunk_ids, vector):
        from ragcli.store import dense

        index = self.dense
        with reading(self.generation_dir / DENSE_FILE):
            vectors = dense.vectors_for(index, np.asarray(chunk_ids, dtype=np.int64))
        # Row by row in one fixed order (a BLAS product's rounding depends on how many rows
        # it is given), so a chunk's score is the same whatever else is scored with it.
        return np.einsum("ij,j->i", vectors, np.asarray(vector, dtype=vectors.dtype))

    def sparse_scores(self, chunk_ids, query):
        sparse = self.sparse
        scores = self._scores_of_rows(query)
        if not len(scores):
            return np.zeros(len(chunk_ids))
        rows = np.searchsorted(sparse.row_ids, np.asarray(chunk_ids, dtype=np.int64))
        return scores[rows]

    # catalog ------------------------------------------------------------------------
    def chunks(self, chunk_ids: Sequence[int]) -> dict[int, Chunk]:
        with self._catalog_read():
            return self.catalog.chunks(chunk_ids)

    def documents(self) -> list[DocumentInfo]:
        with self._catalog_read():
            return [
                DocumentInfo(row["doc_id"], row["source"], row["kind"], row["title"], row["file"])
                for row in self.catalog.documents()
            ]

    def counts(self) -> dict[str, int]:
        with self._catalog_read():
            return self.catalog.counts()

    def files(self) -> dict[str, FileRecord]:
        """The file records of this generation (path, size, mtime, hash)."""
        with self._catalog_read():
            return self.catalog.files()

    def kinds(self) -> dict[str, int]:
        with self._catalog_read():
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

    Each file's chunks go to the copied catalog and the BM25 segments as it is added,
    and its vectors to a staging file, so memory does not grow with the run; ``commit``
    applies removals and additions to the FAISS index, batch by batch, and publishes the
    generation with one atomic rename. Leaving without ``commit`` removes the unfinished
    generation. The live generation is checked first (every file's size and CRC-32): a
    damaged one is set aside and the run builds on the previous generation, with
    ``repairing`` set so the run commits even when no file changed.
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
        self._stage: VectorStage | None = None  # the added vectors, on disk until commit
        self._sparse = None  # a sparse.SparseWriter once the new generation is started
        self._ids = ChunkIds()  # the next chunk id: above every id this index ever held
        self.repairing: str | None = None  # what is damaged in the generation CURRENT names
        self.generation: int | None = None

    @property
    def holds_index(self) -> bool:
        return not self.rebuild and index_present(self.index_dir)

    @property
    def work_dir(self) -> Path:
        return self.index_dir

    def __enter__(self) -> LocalWriter:
        self._lock.__enter__()
        try:
            if self.rebuild:
                self._ids = ChunkIds(_counter_of(_named_manifest(self.index_dir)))
            else:
                self._open_live()
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        return self

    def _open_live(self) -> None:
        note = "this ingest rebuilds on the previous generation"
        live = open_live(self.index_dir, WRITE_CRC_LIMIT, note)
        if live is None:
            return
        self._live, self.manifest = live.gen, live.manifest
        self.repairing = live.damage
        # A damaged generation's ids were seen by readers too: count on from them.
        named = _named_manifest(self.index_dir)
        self._ids = ChunkIds(max(_counter_of(live.manifest), _counter_of(named)))
        with reading(live.gen / CATALOG_FILE):
            self._old = Catalog(live.gen / CATALOG_FILE, readonly=True)
            self._ids.cover([self._old.next_chunk_id() - 1])

    def __exit__(self, *exc) -> None:
        import shutil

        try:
            for catalog in (self._catalog, self._old):
                if catalog is not None:
                    catalog.close()
            if self._tmp is not None and self._tmp.exists():
                shutil.rmtree(self._tmp, ignore_errors=True)
            elif self._tmp is None and not self.repairing:
                with contextlib.suppress(OSError):  # a read-only folder: left as it is
                    tidy(self.index_dir)  # leftovers of killed runs and old generations go
        finally:
            self._lock.__exit__(None, None, None)

    # reading the live generation -----------------------------------------------------
    def files(self) -> dict[str, FileRecord]:
        if not self._old:
            return {}
        with reading(self._live / CATALOG_FILE):
            return self._old.files()

    def file_of_document(self, doc_id: str) -> str | None:
        catalog = self._catalog or self._old
        if catalog is None:
            return None
        with self._writing():
            row = catalog.db.execute("SELECT file FROM documents WHERE doc_id = ?", (doc_id,))
            found = row.fetchone()
        return found[0] if found else None

    def next_chunk_id(self) -> int:
        """The counter kept in the manifest, so a removed chunk's id is never reused."""
        return self._ids.next

    def take_chunk_ids(self, count: int) -> range:
        return self._ids.take(count)

    @property
    def dimension(self) -> int | None:
        if self._stage is not None and self._stage.dimension:
            return self._stage.dimension
        dimension = (self.manifest or {}).get("dimension")
        return int(dimension) if dimension else None

    # changes ------------------------------------------------------------------------
    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Disk full, a read-only or unwritable folder: one line, the live index intact."""
        try:
            yield
        except IndexStateError:
            raise
        except (OSError, sqlite3.Error, RuntimeError, MemoryError) as err:
            raise IndexStateError(
                f"{self.index_dir}: could not write the new generation ({_one_line(err)}); "
                "the index is unchanged"
            ) from None

    def _writable(self) -> Catalog:
        if self._catalog is None:
            with self._writing():
                self._tmp = start_generation(self.index_dir)
                target = self._tmp / CATALOG_FILE
                if self._old is not None:
                    destination = sqlite3.connect(target)
                    self._old.db.backup(destination)
                    destination.close()
                self._catalog = Catalog(target)
                self._stage = VectorStage(self._tmp / STAGING_DIR)
                self._sparse = self._sparse_writer(self._catalog)
        return self._catalog

    @property
    def bm25_params(self) -> dict[str, Any]:
        from ragcli.store.sparse import DEFAULT_PARAMS

        return DEFAULT_PARAMS

    def _sparse_writer(self, catalog: Catalog):
        """The next BM25 sidecar: the live segments linked in, or (a new index, a
        rebuild, a format-1 sidecar, one built with other BM25 params or analysis)
        built from the catalog's chunks."""
        from ragcli.store.sparse import SparseWriter
        from ragcli.store.sparse_bm25s import is_legacy
        from ragcli.text import sparse_text

        previous = self._live / SPARSE_DIR if self._live is not None else None
        stale = previous is not None and (
            is_legacy(previous) or (self.manifest or {}).get("bm25") != self.bm25_params
        )
        with reading(previous or self._tmp):
            writer = SparseWriter(self._tmp / SPARSE_DIR, None if stale else previous)
        if stale:
            for chunk_id, title, heading, text in catalog.iter_chunk_texts():
                writer.add(chunk_id, sparse_text(title, heading, text))
            writer.flush()
        return writer

    def remove_file(self, path: str) -> int:
        catalog = self._writable()
        with self._writing():
            ids = catalog.chunk_ids_of_file(path)
            self._removed.extend(ids)
            self._sparse.remove(ids)
            catalog.remove_file(path)
        return len(ids)

    def add_file(
        self,
        record: FileRecord,
        documents: Sequence[tuple[Document, Sequence[Chunk]]],
        vectors: np.ndarray,
        ingested_at: str,
    ) -> None:
        from ragcli.text import sparse_text

        catalog = self._writable()
        ids = []
        with self._writing():
            catalog.add_file(record, ingested_at)
            for doc, chunks in documents:
                catalog.add_document(doc, record.path, chunks)
                for chunk in chunks:
                    text = sparse_text(doc.title, chunk.location.heading, chunk.text)
                    self._sparse.add(chunk.chunk_id, text)
                    ids.append(chunk.chunk_id)
            if ids:
                check_dimension(self.display, self.dimension, vectors)
                self._stage.append(np.asarray(ids, dtype=np.int64), vectors)
        self._ids.cover(ids)

    def touch_file(self, record: FileRecord, ingested_at: str) -> None:
        catalog = self._writable()
        with self._writing():
            catalog.add_file(record, ingested_at)

    def commit(
        self,
        build: Mapping[str, Any],
        *,
        roots: Sequence[str] = (),
        updated_at: str | None = None,
        dimension: int | None = None,
    ) -> int:
        catalog = self._writable()
        with self._writing():
            dimension, dense_kind = self._write_dense(self.dimension or dimension)
            catalog.commit()
            self._sparse.finish().save(self._tmp / SPARSE_DIR)
            self._stage.discard()
            manifest = manifest_of(
                self, build, roots=roots, updated_at=updated_at, dimension=dimension,
                counts=catalog.counts(),
            )  # fmt: skip
            catalog.close()
            self._catalog = None
            previous = self._live if self._live is not None else self._named_generation()
            manifest.update(
                dense_index=dense_kind,
                format_version=FORMAT_VERSION,
                generation=generation_number(self._tmp),
                previous=previous.name if previous is not None else None,
            )
            final = publish_generation(self.index_dir, self._tmp, manifest)
        self._tmp = None
        self.generation = generation_number(final)
        self.manifest = read_manifest(final)
        return self.generation

    def _named_generation(self) -> Path | None:
        """The generation CURRENT names (a rebuild's previous one), if it can be read."""
        try:
            return current_generation(self.index_dir)
        except IndexStateError:
            return None

    def _write_dense(self, dimension: int | None) -> tuple[int, str]:
        """Write the next dense index: (its dimension, its manifest type name). It is
        freed before the rest of the commit, which so never holds it in memory. The
        dimension of the added vectors was checked as each file was added."""
        from ragcli.store import dense

        dense.trim_heap()
        dense_index = None
        if self._live is not None:
            with reading(self._live / DENSE_FILE):
                dense_index = dense.read_for_update(self._live / DENSE_FILE)
        if dense_index is not None:
            dimension = dense_index.d
        elif not dimension:
            raise IndexStateError(f"{self.index_dir}: no vector dimension for a new index")
        # Flat or IVF by size (ragcli.store.dense), the new vectors read back in batches.
        removed = np.asarray(self._removed, np.int64)
        stage = self._stage
        dense_index, _ = dense.update_batches(
            dense_index, dimension, removed, stage.batches, len(stage)
        )
        dense.write_index(dense_index, self._tmp / DENSE_FILE)
        return int(dense_index.d), dense.kind_of(dense_index)


class VectorStage:
    """The vectors of one run's new chunks, appended to two raw files as they come and
    read back in batches by the dense build, so they are never all in memory."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.dimension: int | None = None
        self._rows = 0

    def __len__(self) -> int:
        return self._rows

    def append(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.dimension is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.dimension = int(vectors.shape[1])
        with (self.folder / "ids.i64").open("ab") as handle:
            handle.write(np.ascontiguousarray(ids, dtype=np.int64).tobytes())
        with (self.folder / "vectors.f32").open("ab") as handle:
            handle.write(vectors.tobytes())
        self._rows += len(ids)

    def batches(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        from ragcli.store.dense import BATCH_ROWS

        if not self._rows:
            return
        row_bytes = 4 * self.dimension
        with (
            (self.folder / "ids.i64").open("rb") as ids,
            (self.folder / "vectors.f32").open("rb") as vectors,
        ):
            for start in range(0, self._rows, BATCH_ROWS):
                count = min(BATCH_ROWS, self._rows - start)
                id_block = np.frombuffer(ids.read(8 * count), dtype=np.int64)
                block = np.frombuffer(vectors.read(row_bytes * count), dtype=np.float32)
                yield id_block, block.reshape(count, self.dimension)

    def discard(self) -> None:
        import shutil

        shutil.rmtree(self.folder, ignore_errors=True)


def _named_manifest(index_dir: Path) -> dict[str, Any] | None:
    """The manifest of the generation CURRENT names, if it can be read at all."""
    try:
        name = (index_dir / CURRENT_FILE).read_text(encoding="ascii").strip()
        manifest = json.loads((index_dir / name / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def _counter_of(manifest: dict[str, Any] | None) -> int:
    value = (manifest or {}).get("next_chunk_id", 0)
    return value if isinstance(value, int) and value >= 0 else 0


def _tree_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
