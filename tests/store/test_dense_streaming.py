"""The IVF index written list by list (ragcli.store.dense): each list allocated once at
its final size, an edit copying a memory-mapped previous index into a new one.

These pin that the new way holds exactly what FAISS's own ``add_with_ids`` and
``remove_ids`` would have made, that the previous index file is only read, and that an
interrupted write leaves the previous generation live. Memory itself is measured in
benchmarks/dense_memory.py.
"""

from __future__ import annotations

import hashlib

import faiss
import numpy as np
import pytest

from ragcli.store import dense

DIM = 32


def clustered(rng, n: int) -> np.ndarray:
    centres = rng.standard_normal((40, DIM)).astype(np.float32)
    vectors = centres[rng.integers(0, 40, n)] + 0.3 * rng.standard_normal((n, DIM))
    vectors = vectors.astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def batches_of(ids: np.ndarray, vectors: np.ndarray, rows: int):
    return lambda: ((ids[s : s + rows], vectors[s : s + rows]) for s in range(0, len(ids), rows))


def lists_of(index) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each inverted list's (ids, vectors), read with FAISS's own accessors."""
    invlists = faiss.downcast_InvertedLists(index.invlists)
    out = []
    for number in range(index.nlist):
        size = invlists.list_size(number)
        ids = faiss.rev_swig_ptr(invlists.get_ids(number), size).copy() if size else []
        codes = faiss.rev_swig_ptr(invlists.get_codes(number), size * DIM * 4) if size else []
        vectors = np.frombuffer(bytes(codes), dtype=np.float32).reshape(-1, DIM)
        out.append((np.asarray(ids, dtype=np.int64), vectors))
    return out


def same_clusters_index(index):
    """An empty IVF index with ``index``'s centroids, set up as ``dense.build`` does."""
    quantizer = faiss.IndexFlatIP(DIM)
    quantizer.add(index.quantizer.reconstruct_n(0, index.nlist))
    fresh = faiss.IndexIVFFlat(quantizer, DIM, index.nlist, faiss.METRIC_INNER_PRODUCT)
    fresh.set_direct_map_type(faiss.DirectMap.Hashtable)
    return fresh


def searches(index, queries: np.ndarray, nprobe: int) -> list[tuple[list, np.ndarray]]:
    params = faiss.SearchParametersIVF(nprobe=nprobe)
    scores, ids = index.search(queries, 10, params=params)
    return [(row.tolist(), score) for row, score in zip(ids, scores, strict=True)]


def assert_same_searches(index, other, queries) -> None:
    for nprobe in (3, index.nlist):
        for (ids, scores), (other_ids, other_scores) in zip(
            searches(index, queries, nprobe), searches(other, queries, nprobe), strict=True
        ):
            assert ids == other_ids
            np.testing.assert_allclose(scores, other_scores, atol=1e-6)


@pytest.fixture
def ivf_above_100(monkeypatch):
    monkeypatch.setattr(dense, "FLAT_MAX_CHUNKS", 100)


def test_a_new_ivf_index_holds_exactly_what_add_with_ids_makes(ivf_above_100):
    rng = np.random.default_rng(7)
    vectors = clustered(rng, 2000)
    ids = np.arange(2000) * 5 + 11
    built = dense.build_batches(dense.IVF, DIM, batches_of(ids, vectors, 300), 2000)
    assert dense.kind_of(built) == dense.IVF and built.ntotal == 2000

    reference = same_clusters_index(built)
    for batch_ids, batch in batches_of(ids, vectors, 300)():
        reference.add_with_ids(batch, batch_ids)
    for (got_ids, got), (want_ids, want) in zip(lists_of(built), lists_of(reference), strict=True):
        np.testing.assert_array_equal(got_ids, want_ids)  # same ids, same order
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(
        built.reconstruct_batch(ids[[0, 999, 1999]]), vectors[[0, 999, 1999]]
    )
    assert_same_searches(built, reference, clustered(np.random.default_rng(8), 20))


def test_an_edit_of_a_mapped_index_holds_what_an_in_place_edit_holds(ivf_above_100, tmp_path):
    rng = np.random.default_rng(9)
    vectors = clustered(rng, 2600)
    index, _ = dense.update(None, DIM, [], np.arange(2000), vectors[:2000])
    path = tmp_path / dense.DENSE_FILE
    dense.write_index(index, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    removed = np.concatenate([np.arange(0, 2000, 7), [5_000_000]])  # one id not stored
    new_ids = np.arange(2000, 2600)

    in_place = dense.read_index(path)
    expected_removed = in_place.remove_ids(
        faiss.IDSelectorArray(len(removed), faiss.swig_ptr(removed))
    )
    in_place.add_with_ids(vectors[2000:], new_ids)

    mapped = dense.read_for_update(path)
    assert isinstance(faiss.downcast_InvertedLists(mapped.invlists), faiss.OnDiskInvertedLists)
    edited, n_removed = dense.update(mapped, DIM, removed, new_ids, vectors[2000:])
    assert n_removed == expected_removed == 286 and edited.ntotal == in_place.ntotal
    for (got_ids, got), (want_ids, want) in zip(lists_of(edited), lists_of(in_place), strict=True):
        # The same vectors in each list (removal in place moves a list's last entry
        # into the gap, so the order within a list may differ).
        assert sorted(got_ids.tolist()) == sorted(want_ids.tolist())
        np.testing.assert_array_equal(got[np.argsort(got_ids)], want[np.argsort(want_ids)])
    kept = np.setdiff1d(np.arange(2600), removed)
    np.testing.assert_array_equal(edited.reconstruct_batch(kept), vectors[kept])
    with pytest.raises(RuntimeError):
        dense.vectors_for(edited, np.asarray([7]))  # removed
    assert_same_searches(edited, in_place, clustered(np.random.default_rng(10), 20))

    # The previous index was only read: its file is unchanged and still answers.
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    found, _ = dense.search(dense.read_index(path, mmap=True), vectors[7], 1)
    assert found.tolist() == [7]


def test_retraining_from_a_mapped_index_equals_retraining_from_memory(ivf_above_100, tmp_path):
    rng = np.random.default_rng(11)
    vectors = clustered(rng, 2500)
    index, _ = dense.update(None, DIM, [], np.arange(500), vectors[:500])
    path = tmp_path / dense.DENSE_FILE
    dense.write_index(index, path)
    grow = np.arange(500, 2500)  # 5x: the cluster count is off by more than 2x
    from_memory, _ = dense.update(dense.read_index(path), DIM, [3], grow, vectors[500:])
    from_mapped, _ = dense.update(dense.read_for_update(path), DIM, [3], grow, vectors[500:])
    assert from_mapped.nlist == dense.nlist_for(2499) != index.nlist
    for (got_ids, got), (want_ids, want) in zip(
        lists_of(from_mapped), lists_of(from_memory), strict=True
    ):
        np.testing.assert_array_equal(got_ids, want_ids)
        np.testing.assert_array_equal(got, want)


def _mapping_rss_kib(path) -> int:
    """Resident KiB of this process's mappings of ``path`` (/proc/self/smaps)."""
    total, inside = 0, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            first = line.split(maxsplit=1)[0]
            if "-" in first and not first.endswith(":"):
                inside = line.rstrip().endswith(str(path))
            elif inside and first == "Rss:":
                total += int(line.split()[1])
    return total


def test_reading_a_mapped_index_end_to_end_leaves_it_unmapped_from_memory(ivf_above_100, tmp_path):
    vectors = clustered(np.random.default_rng(12), 4000)
    index, _ = dense.update(None, DIM, [], np.arange(4000), vectors)
    path = tmp_path / dense.DENSE_FILE
    dense.write_index(index, path)

    touched = dense.read_index(path, mmap=True)
    lists_of(touched)  # FAISS's accessors: the pages read stay resident
    assert _mapping_rss_kib(path) * 1024 >= 4000 * DIM * 4
    mapped = dense.read_for_update(path)
    np.testing.assert_array_equal(np.sort(dense.stored_ids(mapped)), np.arange(4000))
    assert len(dense.stored_vectors(mapped)) == 4000
    del touched
    assert _mapping_rss_kib(path) <= 64  # at most one fault-around window


def _add_file(writer, n: int) -> None:
    from ragcli.store.catalog import FileRecord
    from ragcli.types import Chunk, Document, Location

    name = f"f{n}.txt"
    text = f"file {n} is about topic {n % 7}"
    doc = Document(doc_id=name, source=name, kind="text", title=name, text=text)
    chunk = Chunk(name, name, name, text, Location(), 0, len(text), 0, 3, chunk_id=n)
    record = FileRecord(f"/p/{name}", name, f"{n:064d}", len(text), n)
    writer.add_file(record, [(doc, [chunk])], clustered(np.random.default_rng(n), 1), "now")


def test_an_interrupted_ivf_write_leaves_the_previous_generation_live(
    ivf_above_100, tmp_path, monkeypatch
):
    from ragcli.store.local import LocalStore, LocalWriter
    from ragcli.store.verify import problems

    index_dir = tmp_path / "idx"
    with LocalWriter(index_dir) as writer:
        for n in range(300):
            _add_file(writer, n)
        writer.commit({}, dimension=DIM)
    live = index_dir / "gen-000001"
    store = LocalStore(index_dir)
    assert store.manifest["dense_index"] == dense.IVF
    query = clustered(np.random.default_rng(5), 1)[0]
    before = store.dense_search(query, 10)
    store.close()

    copy_lists = dense._stored_lists

    def killed_midway(index, gone):
        for number, item in enumerate(copy_lists(index, gone)):
            if number == 3:
                raise KeyboardInterrupt
            yield item

    monkeypatch.setattr(dense, "_stored_lists", killed_midway)
    with pytest.raises(KeyboardInterrupt), LocalWriter(index_dir) as writer:
        writer.remove_file("/p/f5.txt")
        _add_file(writer, 300)
        writer.commit({}, dimension=DIM)
    assert (index_dir / "CURRENT").read_text().strip() == live.name
    assert sorted(p.name for p in index_dir.glob("gen-*")) == [live.name]
    assert problems(live, 1 << 62) == []
    store = LocalStore(index_dir)
    after = store.dense_search(query, 10)
    store.close()
    assert after[0].tolist() == before[0].tolist()

    monkeypatch.setattr(dense, "_stored_lists", copy_lists)
    with LocalWriter(index_dir) as writer:
        writer.remove_file("/p/f5.txt")
        _add_file(writer, 300)
        writer.commit({}, dimension=DIM)
    store = LocalStore(index_dir)
    ids = dense.stored_ids(store.dense)
    store.close()
    assert sorted(ids.tolist()) == [n for n in range(301) if n != 5]
