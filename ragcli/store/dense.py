"""The dense side: FAISS inner-product search over normalised embeddings.

Vectors are keyed by chunk id (``IndexIDMap2``), so the chunks of a changed file can be
removed and replaced without renumbering anything, and any chunk's vector can be read
back to score candidates that only the sparse side found.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DENSE_FILE = "dense.faiss"


def new_index(dimension: int):
    import faiss

    return faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))


def read_index(path: Path, mmap: bool = False):
    import faiss

    flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mmap else 0
    return faiss.read_index(str(path), flags)


def write_index(index, path: Path) -> None:
    import faiss

    faiss.write_index(index, str(path))


def add(index, chunk_ids: np.ndarray, vectors: np.ndarray) -> None:
    if len(chunk_ids):
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), chunk_ids)


def remove(index, chunk_ids: np.ndarray) -> int:
    import faiss

    if not len(chunk_ids):
        return 0
    return int(index.remove_ids(faiss.IDSelectorBatch(np.asarray(chunk_ids, dtype=np.int64))))


def search(
    index, query: np.ndarray, n: int, allowed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``n`` (chunk ids, cosine scores); ``allowed`` restricts to those chunk ids."""
    import faiss

    if index.ntotal == 0 or n <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    query = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
    params = None
    if allowed is not None:
        if not len(allowed):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed.astype(np.int64)))
    scores, ids = index.search(query, min(n, index.ntotal), params=params)
    keep = ids[0] >= 0
    return ids[0][keep], scores[0][keep]


def vectors_for(index, chunk_ids: np.ndarray) -> np.ndarray:
    if not len(chunk_ids):
        return np.zeros((0, index.d), dtype=np.float32)
    return index.reconstruct_batch(np.asarray(chunk_ids, dtype=np.int64))
