"""The dense side: FAISS inner-product search over normalised embeddings.

Vectors are keyed by chunk id (``IndexIDMap2``), so the chunks of a changed file can be
removed and replaced without renumbering anything, and any chunk's vector can be read
back to score candidates that only the sparse side found.

The index type follows the index size (docs/index-format.md, "Dense index types"):

- up to ``FLAT_MAX_CHUNKS`` chunks, ``IndexIDMap2(IndexFlatIP)``: exact search;
- above it, ``IndexIDMap2(IndexHNSWFlat)`` (inner product, ``HNSW_M`` links per node):
  approximate search whose latency grows far slower than the index.

FAISS's HNSW cannot remove vectors, so :func:`update` rebuilds the HNSW graph from the
stored vectors (``IndexHNSWFlat`` keeps them in full) whenever chunks are removed, and
whenever the index crosses the threshold in either direction; additions alone are
inserted into the existing graph.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DENSE_FILE = "dense.faiss"

# Above this many chunks the dense index is HNSW instead of exact. Exact search over 1M
# 384-d vectors takes ~85 ms a query on one core; an HNSW graph of that size takes tens of
# minutes to build on 2 cores and must be rebuilt on every deletion (docs/index-format.md).
FLAT_MAX_CHUNKS = 1_000_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 128
# A filtered search on an HNSW index scores the allowed chunks exactly when there are at
# most this many of them (HNSW with a restrictive filter can miss matches).
EXACT_FILTER_MAX = 50_000

FLAT = "IndexIDMap2(IndexFlatIP)"
HNSW = "IndexIDMap2(IndexHNSWFlat)"


def kind_for(n_chunks: int) -> str:
    """The index type (manifest ``dense_index`` name) for an index of ``n_chunks``."""
    return HNSW if n_chunks > FLAT_MAX_CHUNKS else FLAT


def new_index(dimension: int, kind: str = FLAT):
    import faiss

    if kind == FLAT:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
    if kind == HNSW:
        inner = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        inner.hnsw.efSearch = HNSW_EF_SEARCH
        return faiss.IndexIDMap2(inner)
    raise ValueError(f"unknown dense index type {kind!r}")


def _inner(index):
    import faiss

    return faiss.downcast_index(index.index)


def kind_of(index) -> str:
    """The manifest name of ``index``'s type."""
    import faiss

    return HNSW if isinstance(_inner(index), faiss.IndexHNSW) else FLAT


def read_index(path: Path, mmap: bool = False):
    """Read an index; ``mmap`` maps the stored vectors instead of reading them (FAISS's
    ``IO_FLAG_MMAP_IFC``: flat and HNSW storage alike), read-only."""
    import faiss

    flags = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY if mmap else 0
    return faiss.read_index(str(path), flags)


def write_index(index, path: Path) -> None:
    import faiss

    faiss.write_index(index, str(path))


def add(index, chunk_ids: np.ndarray, vectors: np.ndarray) -> None:
    if len(chunk_ids):
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), chunk_ids)


def remove(index, chunk_ids: np.ndarray) -> int:
    """Remove ``chunk_ids`` from a flat index; the number removed. (HNSW: see update.)"""
    import faiss

    if not len(chunk_ids):
        return 0
    if kind_of(index) != FLAT:
        raise ValueError("an HNSW index cannot remove vectors: use dense.update()")
    return int(index.remove_ids(faiss.IDSelectorBatch(np.asarray(chunk_ids, dtype=np.int64))))


def stored_ids(index) -> np.ndarray:
    import faiss

    return faiss.vector_to_array(index.id_map).astype(np.int64, copy=False)


def stored_vectors(index) -> np.ndarray:
    """Every stored vector, in the order of :func:`stored_ids`."""
    if index.ntotal == 0:
        return np.zeros((0, index.d), dtype=np.float32)
    return _inner(index).reconstruct_n(0, index.ntotal)


def update(
    index, dimension: int, removed_ids: np.ndarray, chunk_ids: np.ndarray, vectors
) -> tuple[object, int]:
    """Apply one ingest's changes: (the index to write, number of vectors removed).

    ``index`` may be None (a new index). The result's type is ``kind_for`` its size: a
    flat index stays flat and is edited in place; an HNSW index (or a change of type) is
    rebuilt from the stored vectors when anything is removed, and otherwise extended.
    """
    removed_ids = np.asarray(removed_ids, dtype=np.int64)
    chunk_ids = np.asarray(chunk_ids, dtype=np.int64)
    if index is None:
        index = new_index(dimension, FLAT)
    old_ids = stored_ids(index) if index.ntotal else np.zeros(0, dtype=np.int64)
    gone = np.isin(old_ids, removed_ids) if len(removed_ids) else np.zeros(len(old_ids), bool)
    n_removed = int(gone.sum())
    target = kind_for(len(old_ids) - n_removed + len(chunk_ids))
    current = kind_of(index)
    if target == current and (current == FLAT or n_removed == 0):
        if n_removed:
            remove(index, removed_ids)
        if vectors is not None:
            add(index, chunk_ids, vectors)
        return index, n_removed
    keep = ~gone
    all_ids = old_ids[keep]
    all_vectors = stored_vectors(index)[keep]
    if vectors is not None and len(chunk_ids):
        all_ids = np.concatenate([all_ids, chunk_ids])
        all_vectors = np.concatenate([all_vectors, np.asarray(vectors, dtype=np.float32)])
    rebuilt = new_index(index.d, target)
    add(rebuilt, all_ids, all_vectors)
    return rebuilt, n_removed


def search(
    index, query: np.ndarray, n: int, allowed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``n`` (chunk ids, cosine scores); ``allowed`` restricts to those chunk ids.

    Exact on a flat index; on HNSW approximate, with ``efSearch`` at least ``n``, and
    exact again when a filter leaves at most ``EXACT_FILTER_MAX`` chunks.
    """
    import faiss

    empty = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    if index.ntotal == 0 or n <= 0:
        return empty
    query = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
    hnsw = kind_of(index) == HNSW
    selector = None
    if allowed is not None:
        if not len(allowed):
            return empty
        if hnsw and len(allowed) <= EXACT_FILTER_MAX:
            return _exact(index, query[0], np.asarray(allowed, dtype=np.int64), n)
        selector = faiss.IDSelectorBatch(allowed.astype(np.int64))
    if hnsw:
        params = faiss.SearchParametersHNSW(efSearch=max(HNSW_EF_SEARCH, n))
        if selector is not None:
            params.sel = selector
    else:
        params = None if selector is None else faiss.SearchParameters(sel=selector)
    # One query is faster on one thread: FAISS's OpenMP workers cost more to wake (and
    # then spin against ONNX Runtime's) than they save (p50 at 160k chunks: 28 -> 20 ms).
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        scores, ids = index.search(query, min(n, index.ntotal), params=params)
    finally:
        faiss.omp_set_num_threads(threads)
    keep = ids[0] >= 0
    return ids[0][keep], scores[0][keep]


def _exact(index, query: np.ndarray, allowed: np.ndarray, n: int):
    present = allowed[np.isin(allowed, stored_ids(index))]
    if not len(present):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    scores = vectors_for(index, present) @ query
    order = np.lexsort((present, -scores))[:n]
    return present[order], scores[order].astype(np.float32)


def vectors_for(index, chunk_ids: np.ndarray) -> np.ndarray:
    if not len(chunk_ids):
        return np.zeros((0, index.d), dtype=np.float32)
    return index.reconstruct_batch(np.asarray(chunk_ids, dtype=np.int64))
