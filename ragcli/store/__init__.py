"""The store stage: one index folder = SQLite catalog + FAISS vectors + BM25 sidecar.

``Store`` is the read side (what search uses); ``ragcli.ingest`` writes new generations
with the helpers in ``generations``. Layout and format: docs/index-format.md.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from ragcli.errors import IndexStateError
from ragcli.store.catalog import CATALOG_FILE, Catalog
from ragcli.store.dense import DENSE_FILE
from ragcli.store.generations import current_generation, read_manifest

SPARSE_DIR = "sparse"

__all__ = ["Store", "CATALOG_FILE", "DENSE_FILE", "SPARSE_DIR"]


class Store:
    """A read-only view of the live generation of one index.

    The FAISS and BM25 parts are loaded on first use, so a sparse-only search never
    loads FAISS and a dense-only one never loads BM25.
    """

    def __init__(self, index_dir: Path):
        gen = current_generation(index_dir)
        if gen is None:
            raise IndexStateError(f"{index_dir}: no index here yet (run `rag ingest PATH` first)")
        self.index_dir = index_dir
        self.generation_dir = gen
        self.manifest: dict[str, Any] = read_manifest(gen)
        self.catalog = Catalog(gen / CATALOG_FILE, readonly=True)

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

    def close(self) -> None:
        self.catalog.close()
