"""The dense side: FAISS inner-product search over normalised embeddings.

Vectors are keyed by chunk id, so the chunks of a changed file can be removed and
replaced without renumbering anything, and any chunk's vector can be read back to score
candidates that only the sparse side found.

The index type follows the index size (docs/index-format.md, "Dense index types"):

- up to ``FLAT_MAX_CHUNKS`` chunks, ``IndexIDMap2(IndexFlatIP)``: exact search;
- above it, ``IndexIVFFlat`` (inner product): the vectors are split into ``nlist``
  clusters (the square root of the size, trained with k-means on a sample) and a query
  scans the ``IVF_NPROBE`` clusters nearest to it, so it reads about ``IVF_NPROBE /
  nlist`` of the vectors (about a fifth at 1M chunks). Ids are stored in the lists and a
  hash table maps each id to its vector (``DirectMap.Hashtable``), so vectors are read
  back by id.

A flat index is edited in place. An IVF index is rewritten on every change, keeping its
clusters: the previous index is memory-mapped (its lists released as they are copied),
and the new one's lists are each allocated once at their final size and filled list by
list, so the ingest holds one index, not two, and no list grows by reallocation (at 1M
chunks growing the lists cost 0.4 GiB building and 1.1-1.2 GiB adding 10,000 vectors:
benchmarks/dense_memory.py). It is retrained (its clusters learnt again) only when it
crosses the threshold or when its size has changed enough that its number of clusters is
off by more than a factor of two. Indexes written by earlier versions above the
threshold are HNSW (``IndexIDMap2(IndexHNSWFlat)``); they are still searched, and the
next ingest that changes them rebuilds them as IVF.

benchmarks/scale.py measured the choice (docs/design.md, "Speed").
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

DENSE_FILE = "dense.faiss"
BATCH_ROWS = 16_384  # vectors read back or added at a time (24 MiB at 384 dimensions)
# What a rebuild reads: () -> (chunk ids, vectors) batches, the same sequence each call.
Batches = Callable[[], Iterator[tuple[np.ndarray, np.ndarray]]]

# Above this many chunks the dense index is IVF instead of exact. Exact search reads every
# vector for each query: 1M x 384 floats (1.5 GB) took 98 ms of CPU a query here, so 500k
# is where it passes ~50 ms (benchmarks/scale.py; docs/design.md, "Speed").
FLAT_MAX_CHUNKS = 500_000
# nlist = sqrt(chunks): at 1M, 1,000 clusters built in 23 s where 4,000 took minutes (k-means
# costs nlist squared), for the same recall at the same share of vectors scanned.
IVF_LISTS_PER_SQRT = 1
# Clusters scanned per query. Recall@10 against exact on hard synthetic vectors: 0.966 at
# 500k chunks (707 lists, 18 ms of CPU against 46 ms exact), 0.985 at 1M (1,000 lists,
# 24 ms against 98 ms); 128 gave 0.946 at 500k. With more than a few million chunks the
# share scanned, and so recall, falls (docs/design.md, "Speed").
IVF_NPROBE = 192
IVF_TRAIN_PER_LIST = 40  # k-means sample: this many vectors per cluster (FAISS wants >= 39)
IVF_TRAIN_ITERATIONS = 10
# A filtered search on a legacy HNSW index scores the allowed chunks exactly when there
# are at most this many of them (HNSW with a restrictive filter can miss matches).
EXACT_FILTER_MAX = 50_000
FAULT_AROUND = 1 << 20  # bytes released behind a mapped list once it is read (see _lists)

FLAT = "IndexIDMap2(IndexFlatIP)"
IVF = "IndexIVFFlat"
HNSW = "IndexIDMap2(IndexHNSWFlat)"  # read and searched; no longer built
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 128


def kind_for(n_chunks: int) -> str:
    """The index type (manifest ``dense_index`` name) for an index of ``n_chunks``."""
    return IVF if n_chunks > FLAT_MAX_CHUNKS else FLAT


def nlist_for(n_chunks: int) -> int:
    """The number of IVF clusters for an index of ``n_chunks``."""
    return max(1, round(IVF_LISTS_PER_SQRT * math.sqrt(max(n_chunks, 1))))


def new_index(dimension: int, kind: str = FLAT):
    """An empty flat or HNSW index (an IVF index needs training data: :func:`build`)."""
    import faiss

    if kind == FLAT:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
    if kind == HNSW:
        inner = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        inner.hnsw.efSearch = HNSW_EF_SEARCH
        return faiss.IndexIDMap2(inner)
    raise ValueError(f"unknown dense index type {kind!r}")


def build(kind: str, dimension: int, chunk_ids: np.ndarray, vectors, nlist: int | None = None):
    """A new index of type ``kind`` holding ``vectors`` under ``chunk_ids``."""
    chunk_ids = np.asarray(chunk_ids, dtype=np.int64)
    return build_batches(
        kind, dimension, lambda: iter([(chunk_ids, vectors)]), len(chunk_ids), nlist
    )


def build_batches(kind: str, dimension: int, batches: Batches, n_total: int, nlist=None):
    """A new index of type ``kind`` from ``batches()`` ((ids, vectors) pairs, ``n_total``
    rows in all), read once for a flat index and twice for IVF (the k-means sample, then
    the adding), so only the index itself is held in memory."""
    if kind != IVF:
        index = new_index(dimension, kind)
        _add_all(index, batches())
        return index
    import faiss

    nlist = nlist or nlist_for(n_total)
    nlist = max(1, min(nlist, n_total))
    quantizer = faiss.IndexFlatIP(dimension)
    index = faiss.IndexIVFFlat(quantizer, dimension, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = IVF_TRAIN_ITERATIONS
    index.cp.spherical = True  # centroids on the unit sphere, like the vectors
    index.cp.seed = 1234
    rows = None
    if n_total > nlist * IVF_TRAIN_PER_LIST:
        rows = np.random.default_rng(0).choice(n_total, nlist * IVF_TRAIN_PER_LIST, replace=False)
        rows = np.sort(rows)
    index.train(_gather(batches(), rows, dimension))
    index.nprobe = IVF_NPROBE
    _fill_lists(index, lambda: iter(()), np.zeros(nlist, dtype=np.int64), batches)
    return index


def _same_clusters(index):
    """An empty IVF index with ``index``'s trained clusters."""
    import faiss

    quantizer = faiss.IndexFlatIP(index.d)
    quantizer.add(index.quantizer.reconstruct_n(0, index.nlist))
    fresh = faiss.IndexIVFFlat(quantizer, index.d, index.nlist, faiss.METRIC_INNER_PRODUCT)
    fresh.nprobe = IVF_NPROBE
    return fresh


def _fill_lists(index, placed: Callable[[], Iterator], placed_sizes: np.ndarray, new: Batches):
    """Fill the empty, trained IVF ``index``: ``placed()`` yields (list number, ids,
    vectors) already in their clusters, ``placed_sizes`` rows per list; ``new()`` yields
    (ids, vectors) batches, each assigned to its nearest cluster as ``add_with_ids``
    would. Each list is allocated once at its final size, then written in place."""
    import faiss

    assignments = [_assign(index, vectors) for _, vectors in new()]  # 4 bytes a row
    sizes = placed_sizes.astype(np.int64, copy=True)
    for lists in assignments:
        sizes += np.bincount(lists, minlength=index.nlist)
    invlists = faiss.downcast_InvertedLists(index.invlists)
    for number in np.flatnonzero(sizes):
        invlists.resize(int(number), int(sizes[number]))
    filled = np.zeros(index.nlist, dtype=np.int64)

    def put(number: int, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        codes = np.ascontiguousarray(vectors, dtype=np.float32).view(np.uint8)
        offset = int(filled[number])
        invlists.update_entries(
            number, offset, len(ids), faiss.swig_ptr(ids), faiss.swig_ptr(codes)
        )
        filled[number] += len(ids)

    for number, ids, vectors in placed():
        if len(ids):
            put(int(number), ids, vectors)
    for (ids, vectors), lists in zip(new(), assignments, strict=True):
        order = np.argsort(lists, kind="stable")  # arrival order kept within a list
        starts = np.flatnonzero(np.diff(lists[order], prepend=-1))
        for start, stop in zip(starts, [*starts[1:], len(order)], strict=True):
            rows = order[start:stop]
            put(int(lists[rows[0]]), ids[rows], vectors[rows])
    if not np.array_equal(filled, sizes):
        raise RuntimeError("dense index: the vectors changed while the index was written")
    index.ntotal = int(sizes.sum())
    index.set_direct_map_type(faiss.DirectMap.Hashtable)


def _assign(index, vectors: np.ndarray) -> np.ndarray:
    """The nearest cluster of each vector, as ``IndexIVF.add_with_ids`` finds it."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if not len(vectors):
        return np.zeros(0, dtype=np.int32)
    return index.quantizer.assign(vectors, 1).ravel().astype(np.int32)


def _gather(batches: Iterator[tuple[np.ndarray, np.ndarray]], rows, dimension: int) -> np.ndarray:
    """The vectors at positions ``rows`` (sorted) of the batches' sequence; all if None."""
    parts, offset = [], 0
    for _, vectors in batches:
        vectors = np.asarray(vectors, dtype=np.float32)
        if rows is None:
            parts.append(vectors)
        else:
            lo, hi = np.searchsorted(rows, [offset, offset + len(vectors)])
            parts.append(vectors[rows[lo:hi] - offset])
        offset += len(vectors)
    return np.ascontiguousarray(np.concatenate(parts) if parts else np.zeros((0, dimension)))


def _add_all(index, batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> None:
    for ids, vectors in batches:
        add(index, ids, vectors)


def _inner(index):
    import faiss

    return faiss.downcast_index(index.index)


def kind_of(index) -> str:
    """The manifest name of ``index``'s type."""
    import faiss

    if isinstance(index, faiss.IndexIVF):
        return IVF
    return HNSW if isinstance(_inner(index), faiss.IndexHNSW) else FLAT


def is_ivf_file(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == b"Iw"  # FAISS's IVF fourccs: IwFl, IwPQ, ...


def read_for_update(path: Path):
    """The live index an ingest changes: an IVF index memory-mapped (it is copied list
    by list into a new one, never edited), a flat or HNSW one read into memory."""
    return read_index(path, mmap=is_ivf_file(path))


def read_index(path: Path, mmap: bool = False):
    """Read an index; ``mmap`` maps the stored vectors instead of reading them, read-only
    (FAISS's ``IO_FLAG_MMAP_IFC`` for flat and HNSW storage, ``IO_FLAG_MMAP`` for IVF
    inverted lists)."""
    import faiss

    flags = 0
    if mmap:
        ivf = is_ivf_file(path)
        # The two flags cannot be combined: IO_FLAG_MMAP_IFC reads through a mapped
        # reader, and IO_FLAG_MMAP maps the inverted lists only from a plain file reader.
        flags = (faiss.IO_FLAG_MMAP if ivf else faiss.IO_FLAG_MMAP_IFC) | faiss.IO_FLAG_READ_ONLY
    return faiss.read_index(str(path), flags)


def write_index(index, path: Path) -> None:
    import faiss

    faiss.write_index(index, str(path))


def add(index, chunk_ids: np.ndarray, vectors: np.ndarray) -> None:
    if len(chunk_ids):
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        index.add_with_ids(vectors, np.asarray(chunk_ids, dtype=np.int64))


def remove(index, chunk_ids: np.ndarray) -> int:
    """Remove ``chunk_ids`` from a flat or IVF index; the number removed. (HNSW: see
    update.)"""
    import faiss

    if not len(chunk_ids):
        return 0
    kind = kind_of(index)
    if kind == HNSW:
        raise ValueError("an HNSW index cannot remove vectors: use dense.update()")
    chunk_ids = np.ascontiguousarray(chunk_ids, dtype=np.int64)
    if kind == IVF:
        # The hash-table direct map removes by an explicit id array only; ids that are
        # not in the index are skipped.
        selector = faiss.IDSelectorArray(len(chunk_ids), faiss.swig_ptr(chunk_ids))
        return int(index.remove_ids(selector))
    return int(index.remove_ids(faiss.IDSelectorBatch(chunk_ids)))


def _lists(index, with_vectors: bool = True):
    """(list number, ids, vectors or None) of each non-empty inverted list of an IVF
    index. Lists mapped from a file are released from memory once copied, so reading a
    mapped index end to end does not keep it all resident."""
    import faiss

    invlists = faiss.downcast_InvertedLists(index.invlists)
    for number in range(index.nlist):
        size = invlists.list_size(number)
        if not size:
            continue
        ids = np.zeros(size, dtype=np.int64)
        codes = np.zeros((size, index.d), dtype=np.float32) if with_vectors else None
        id_ptr = invlists.get_ids(number)
        code_ptr = invlists.get_codes(number) if with_vectors else None
        try:
            faiss.memcpy(faiss.swig_ptr(ids), id_ptr, ids.nbytes)
            if codes is not None:
                faiss.memcpy(faiss.swig_ptr(codes), code_ptr, codes.nbytes)
        finally:
            invlists.release_ids(number, id_ptr)
            if code_ptr is not None:
                invlists.release_codes(number, code_ptr)
        if isinstance(invlists, faiss.OnDiskInvertedLists):
            _release_mapped(invlists, number)
        yield number, ids, codes


def _release_mapped(invlists, number: int) -> None:
    """Drop list ``number``'s pages of a read-only file mapping from this process (they
    stay in the page cache; touching them again reads them back). Without this, a
    mapped index read end to end counts whole in the process's resident memory. The
    range starts ``FAULT_AROUND`` before the list: a page fault also maps the cached
    pages around it (Linux's fault-around, 64 KiB by default), some of them behind."""
    entry = invlists.lists.at(number)
    start = int(entry.offset)
    end = start + int(entry.capacity) * (int(invlists.code_size) + 8)  # codes, then ids
    first = max(0, start - FAULT_AROUND)
    _madvise_dontneed(int(invlists.ptr) + first, end - first)


def trim_heap() -> None:
    """Give the C allocator's free memory back to the system (glibc's ``malloc_trim``;
    nothing elsewhere). Called before the index, an ingest's largest allocation, is
    built, so memory that earlier stages freed but the allocator kept does not stay
    resident beside it."""
    import contextlib
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        _libc().malloc_trim(ctypes.c_size_t(0))


def _madvise_dontneed(start: int, length: int) -> None:
    import ctypes
    import mmap

    page = mmap.PAGESIZE
    first = start // page * page
    size = -(-(start + length) // page) * page - first
    _libc().madvise(ctypes.c_void_p(first), ctypes.c_size_t(size), 4)  # MADV_DONTNEED


@functools.cache
def _libc():
    """The C library this process runs with (called once per inverted list copied)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return libc


def stored_ids(index) -> np.ndarray:
    import faiss

    if kind_of(index) == IVF:
        parts = [ids for _, ids, _ in _lists(index, with_vectors=False)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return faiss.vector_to_array(index.id_map).astype(np.int64, copy=False)


def stored_vectors(index) -> np.ndarray:
    """Every stored vector, in the order of :func:`stored_ids`."""
    if index.ntotal == 0:
        return np.zeros((0, index.d), dtype=np.float32)
    if kind_of(index) == IVF:
        return np.concatenate([vectors for _, _, vectors in _lists(index)])
    return _inner(index).reconstruct_n(0, index.ntotal)


def vector_blocks(index, rows: int = 65536) -> Iterator[np.ndarray]:
    """Every stored vector, a block at a time (an IVF index list by list)."""
    if kind_of(index) == IVF:
        for _, _, vectors in _lists(index):
            yield vectors
        return
    inner = _inner(index)
    for start in range(0, index.ntotal, rows):
        yield inner.reconstruct_n(start, min(rows, index.ntotal - start))


def _stored(index) -> tuple[np.ndarray, np.ndarray]:
    if index.ntotal == 0:
        return np.zeros(0, dtype=np.int64), np.zeros((0, index.d), dtype=np.float32)
    if kind_of(index) == IVF:
        parts = list(_lists(index))
        return np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])
    return stored_ids(index), stored_vectors(index)


def _needs_retraining(index, n_chunks: int) -> bool:
    """An IVF index whose cluster count is off by more than 2x for ``n_chunks``."""
    wanted = nlist_for(n_chunks)
    return not (wanted / 2 <= index.nlist <= wanted * 2)


def update(
    index, dimension: int, removed_ids: np.ndarray, chunk_ids: np.ndarray, vectors
) -> tuple[object, int]:
    """:func:`update_batches` with the new vectors in one batch."""
    chunk_ids = np.asarray(chunk_ids, dtype=np.int64)
    n_new = len(chunk_ids) if vectors is not None else 0
    new = (lambda: iter([(chunk_ids, vectors)])) if n_new else (lambda: iter(()))
    return update_batches(index, dimension, removed_ids, new, n_new)


def update_batches(
    index, dimension: int, removed_ids: np.ndarray, new: Batches, n_new: int
) -> tuple[object, int]:
    """Apply one ingest's changes: (the index to write, number of vectors removed).

    ``index`` may be None (a new index); ``new()`` yields the added (ids, vectors) in
    batches, ``n_new`` rows in all. The result's type is ``kind_for`` its size. A flat
    index of the right type is edited in place; an IVF one is copied, list by list, into
    a new index with the same clusters (``index`` itself is only read, so it may be
    memory-mapped: :func:`read_for_update`). The index is rebuilt, batch by batch, from
    its stored vectors and the new ones when its type changes, when an IVF index needs
    retraining, and when anything is removed from a (legacy) HNSW index.
    """
    removed_ids = np.asarray(removed_ids, dtype=np.int64)
    if index is None:
        index = new_index(dimension, FLAT)
    current = kind_of(index)
    if current == IVF:
        kept = _kept_sizes(index, removed_ids)
        n_removed = int(index.ntotal - kept.sum())
        n_after = int(kept.sum()) + n_new
        if kind_for(n_after) == IVF and not _needs_retraining(index, n_after):
            edited = _same_clusters(index)
            _fill_lists(edited, lambda: _stored_lists(index, removed_ids), kept, new)
            return edited, n_removed
        gone = removed_ids
    else:
        old_ids = stored_ids(index) if index.ntotal else np.zeros(0, dtype=np.int64)
        n_removed = int(np.isin(old_ids, removed_ids).sum()) if len(removed_ids) else 0
        n_after = len(old_ids) - n_removed + n_new
        if kind_for(n_after) == current == FLAT:
            if n_removed:
                remove(index, removed_ids)
            _add_all(index, new())
            return index, n_removed
        gone = removed_ids

    def every():
        yield from _stored_batches(index, gone)
        yield from new()

    return build_batches(kind_for(n_after), index.d, every, n_after), n_removed


def _kept_sizes(index, gone: np.ndarray) -> np.ndarray:
    """Per inverted list of an IVF index, how many of its vectors are not in ``gone``."""
    sizes = np.zeros(index.nlist, dtype=np.int64)
    for number, ids, _ in _lists(index, with_vectors=False):
        sizes[number] = len(ids) - (int(np.isin(ids, gone).sum()) if len(gone) else 0)
    return sizes


def _stored_lists(index, gone: np.ndarray) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(list number, ids, vectors) of an IVF index's lists, without ids in ``gone``."""
    for number, ids, vectors in _lists(index):
        if len(gone):
            keep = ~np.isin(ids, gone)
            ids, vectors = ids[keep], vectors[keep]
        yield number, ids, vectors


def _stored_batches(index, gone: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The index's (ids, vectors) in batches of ``BATCH_ROWS``, without ids in ``gone``."""
    if index.ntotal == 0:
        return
    if kind_of(index) == IVF:
        pieces = ((ids, vectors) for _, ids, vectors in _lists(index))
    else:
        ids, inner = stored_ids(index), _inner(index)
        pieces = (
            (
                ids[start : start + BATCH_ROWS],
                inner.reconstruct_n(start, len(ids[start : start + BATCH_ROWS])),
            )
            for start in range(0, len(ids), BATCH_ROWS)
        )
    for ids, vectors in pieces:
        if len(gone):
            keep = ~np.isin(ids, gone)
            ids, vectors = ids[keep], vectors[keep]
        yield ids, vectors


def search(
    index, query: np.ndarray, n: int, allowed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``n`` (chunk ids, cosine scores); ``allowed`` restricts to those chunk ids.

    Exact on a flat index. On IVF approximate (``IVF_NPROBE`` clusters); with a filter
    the number of clusters scanned grows as the allowed share shrinks (so about as many
    allowed vectors are scored as unfiltered), up to all of them, which is exact: with
    the defaults, any filter that leaves at most ``IVF_NPROBE / nlist`` of the index.
    """
    import faiss

    empty = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    if index.ntotal == 0 or n <= 0:
        return empty
    query = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
    kind = kind_of(index)
    selector = None
    if allowed is not None:
        if not len(allowed):
            return empty
        if kind == HNSW and len(allowed) <= EXACT_FILTER_MAX:
            return _exact(index, query[0], np.asarray(allowed, dtype=np.int64), n)
        selector = faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
    if kind == IVF:
        nprobe = IVF_NPROBE
        if allowed is not None:
            nprobe = math.ceil(IVF_NPROBE * index.ntotal / len(allowed))
        params = faiss.SearchParametersIVF(nprobe=min(nprobe, index.nlist))
        if selector is not None:
            params.sel = selector
    elif kind == HNSW:
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
