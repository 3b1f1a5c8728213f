"""The dense index type follows the index size: flat (exact) up to FLAT_MAX_CHUNKS, IVF
above, edited in place (removals need no rebuild) and memory-mapped when read for search;
legacy HNSW indexes are still searched and become IVF at their next change. The
threshold is patched small so these run in well under a second.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3

import numpy as np
import pytest
from helpers_ingest import check_consistent, clean_env, live_name, write_files

from ragcli.config import load_settings
from ragcli.index import Index
from ragcli.ingest import ingest
from ragcli.store import dense
from ragcli.store.local import LocalWriter
from ragcli.types import SearchFilter

DIM = 16


def unit(rng, n: int, dim: int = DIM) -> np.ndarray:
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def clustered(rng, n: int, dim: int = 32, clusters: int = 40) -> np.ndarray:
    """Unit vectors around ``clusters`` centres, like embeddings of a few topics."""
    centres = unit(rng, clusters, dim)
    vectors = centres[rng.integers(0, clusters, n)] + 0.35 * unit(rng, n, dim)
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


class HashEncoder:
    """A stand-in embedding model: each text's vector is a fixed function of the text."""

    dimension = DIM
    model_name = "hash"
    max_seq_length = 256

    def encode(self, texts, progress=None):
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
            rng = np.random.default_rng(seed)
            out[row] = unit(rng, 1)[0]
        if progress:
            progress(len(texts))
        return out

    def encode_query(self, text):
        return self.encode([text])[0]


class FixedQuery:
    """A query encoder that embeds every query as one given vector."""

    def __init__(self, vector):
        self.vector = vector

    def encode_query(self, text):
        return self.vector


def same_clusters(index, other) -> bool:
    """Whether two IVF indexes have the same centroids (an edit, not a retraining)."""
    return index.nlist == other.nlist and np.array_equal(
        index.quantizer.reconstruct_n(0, index.nlist), other.quantizer.reconstruct_n(0, other.nlist)
    )


@pytest.fixture
def small_threshold(monkeypatch):
    monkeypatch.setattr(dense, "FLAT_MAX_CHUNKS", 30)
    return 30


def test_type_switches_at_the_threshold_both_ways(small_threshold):
    rng = np.random.default_rng(0)
    vectors = unit(rng, 40)
    index, removed = dense.update(None, DIM, [], np.arange(30), vectors[:30])
    assert dense.kind_of(index) == dense.FLAT and removed == 0
    assert dense.kind_for(30) == dense.FLAT and dense.kind_for(31) == dense.IVF

    index, removed = dense.update(index, DIM, [], np.arange(30, 31), vectors[30:31])
    assert dense.kind_of(index) == dense.IVF and index.ntotal == 31
    # Additions and removals keep the clusters: no retraining.
    same, _ = dense.update(index, DIM, [], np.arange(31, 40), vectors[31:40])
    assert same_clusters(same, index) and same.ntotal == 40
    index = same
    same, removed = dense.update(index, DIM, np.asarray([0, 1, 2, 999]), [], None)
    assert same_clusters(same, index) and removed == 3 and dense.kind_of(same) == dense.IVF
    index = same
    assert sorted(dense.stored_ids(index).tolist()) == list(range(3, 40))
    np.testing.assert_allclose(dense.vectors_for(index, np.asarray([7, 39])), vectors[[7, 39]])
    with pytest.raises(RuntimeError):
        dense.vectors_for(index, np.asarray([1]))  # removed

    index, removed = dense.update(index, DIM, np.arange(3, 13), [], None)
    assert removed == 10 and dense.kind_of(index) == dense.FLAT and index.ntotal == 27
    ids, scores = dense.search(index, vectors[20], 3)
    assert ids[0] == 20 and scores[0] == pytest.approx(1.0, abs=1e-5)


def test_ivf_recall_against_exact_search(monkeypatch):
    monkeypatch.setattr(dense, "FLAT_MAX_CHUNKS", 1000)
    monkeypatch.setattr(dense, "IVF_NPROBE", 12)  # of 63 clusters: approximate
    rng = np.random.default_rng(3)
    vectors = clustered(rng, 4000)
    ids = np.arange(4000) * 3 + 7  # chunk ids need not be dense
    index, _ = dense.update(None, 32, [], ids, vectors)
    assert dense.kind_of(index) == dense.IVF and index.nlist == dense.nlist_for(4000) == 63
    queries = clustered(np.random.default_rng(4), 100)
    hits = 0
    for query in queries:
        truth = ids[np.argsort(-(vectors @ query))[:10]]
        found, scores = dense.search(index, query, 10)
        assert len(found) == 10 and np.all(np.diff(scores) <= 1e-6)
        hits += len(set(found.tolist()) & set(truth.tolist()))
    assert hits / 1000 >= 0.95


def test_ivf_removes_in_place_and_grows_without_retraining_until_far_off(monkeypatch):
    monkeypatch.setattr(dense, "FLAT_MAX_CHUNKS", 400)
    rng = np.random.default_rng(5)
    vectors = clustered(rng, 6000)
    index, _ = dense.update(None, 32, [], np.arange(1000), vectors[:1000])
    assert dense.kind_of(index) == dense.IVF
    nlist = index.nlist

    same, removed = dense.update(index, 32, np.arange(0, 1000, 2), [], None)
    assert same_clusters(same, index) and removed == 500 and same.ntotal == 500
    index = same
    for row in (0, 2, 998):  # removed: never found, even searching every cluster
        found, _ = dense.search(index, vectors[row], 5, allowed=np.arange(1000))
        assert row not in found.tolist()
    found, scores = dense.search(index, vectors[3], 1)
    assert found.tolist() == [3] and scores[0] == pytest.approx(1.0, abs=1e-5)

    # Replacing a chunk's vector (an edited file) is a removal plus an addition.
    same, removed = dense.update(index, 32, np.asarray([3]), np.asarray([3]), vectors[[5000]])
    assert same_clusters(same, index) and removed == 1
    index = same
    np.testing.assert_allclose(dense.vectors_for(index, np.asarray([3])), vectors[[5000]])

    # Growing 2.5x keeps the clusters; growing far past that retrains them.
    same, _ = dense.update(index, 32, [], np.arange(1000, 2000), vectors[1000:2000])
    assert same_clusters(same, index) and same.nlist == nlist
    index = same
    grown, _ = dense.update(index, 32, [], np.arange(2000, 6000), vectors[2000:6000])
    assert grown.nlist == dense.nlist_for(5500) != nlist
    assert grown.ntotal == 5500
    expected = [*range(1, 1000, 2), *range(1000, 6000)]
    assert sorted(dense.stored_ids(grown).tolist()) == expected
    np.testing.assert_allclose(dense.vectors_for(grown, np.asarray([3])), vectors[[5000]])


def test_ivf_round_trip_through_a_memory_mapped_file(small_threshold, tmp_path):
    import faiss

    rng = np.random.default_rng(1)
    vectors = unit(rng, 200)
    ids = np.arange(1000, 1200)
    index, _ = dense.update(None, DIM, [], ids, vectors)
    assert dense.kind_of(index) == dense.IVF
    dense.write_index(index, tmp_path / dense.DENSE_FILE)
    loaded = dense.read_index(tmp_path / dense.DENSE_FILE, mmap=True)
    assert dense.kind_of(loaded) == dense.IVF and loaded.ntotal == 200
    # The inverted lists are mapped from the file, not read into memory.
    assert isinstance(faiss.downcast_InvertedLists(loaded.invlists), faiss.OnDiskInvertedLists)

    found, scores = dense.search(loaded, vectors[5], 10)
    assert found[0] == 1005 and scores[0] == pytest.approx(1.0, abs=1e-5)
    assert len(found) == 10 and np.all(np.diff(scores) <= 1e-6)

    # A filter that leaves few chunks scans every cluster: exact among the allowed.
    allowed = np.asarray([1003, 1150, 1199, 5])  # 5 is no chunk of this index
    found, scores = dense.search(loaded, vectors[150], 10, allowed=allowed)
    assert found[0] == 1150 and set(found.tolist()) == {1003, 1150, 1199}
    np.testing.assert_allclose(scores, vectors[found - 1000] @ vectors[150], rtol=1e-5)
    np.testing.assert_allclose(dense.vectors_for(loaded, np.asarray([1042])), vectors[42:43])
    assert sorted(dense.stored_ids(loaded).tolist()) == ids.tolist()


def test_legacy_hnsw_index_is_searched_and_rebuilt_as_ivf(small_threshold, tmp_path):
    rng = np.random.default_rng(2)
    vectors = unit(rng, 60)
    index = dense.new_index(DIM, dense.HNSW)
    dense.add(index, np.arange(60), vectors)
    dense.write_index(index, tmp_path / dense.DENSE_FILE)
    loaded = dense.read_index(tmp_path / dense.DENSE_FILE, mmap=True)
    assert dense.kind_of(loaded) == dense.HNSW
    found, _ = dense.search(loaded, vectors[9], 5)
    assert found[0] == 9
    found, _ = dense.search(loaded, vectors[9], 5, allowed=np.asarray([9, 10]))
    assert set(found.tolist()) == {9, 10}
    with pytest.raises(ValueError, match="update"):
        dense.remove(index, np.asarray([1]))

    index = dense.read_index(tmp_path / dense.DENSE_FILE)
    rebuilt, removed = dense.update(index, DIM, np.asarray([0]), [], None)
    assert removed == 1 and dense.kind_of(rebuilt) == dense.IVF and rebuilt.ntotal == 59
    np.testing.assert_allclose(dense.vectors_for(rebuilt, np.asarray([59])), vectors[59:60])


def _ivf_consistent(index_dir) -> int:
    """check_consistent's dense check for an IVF index (which has no ``id_map``)."""
    gen = index_dir / live_name(index_dir)
    db = sqlite3.connect(f"file:{gen / 'catalog.sqlite'}?mode=ro", uri=True)
    try:
        chunk_ids = sorted(row[0] for row in db.execute("SELECT chunk_id FROM chunks"))
    finally:
        db.close()
    index = dense.read_index(gen / dense.DENSE_FILE, mmap=True)
    assert sorted(dense.stored_ids(index).tolist()) == chunk_ids
    return len(chunk_ids)


def test_ingest_updates_with_deletions_keep_an_ivf_index_consistent(
    small_threshold, tmp_path, monkeypatch
):
    clean_env(monkeypatch, tmp_path)
    project = tmp_path / "project"
    files = {
        f"notes/topic{n:02d}.md": f"# Topic {n}\n\nParagraph about subject{n} and item{n}.\n"
        for n in range(40)
    }
    write_files(project, files)
    index_dir = project / ".rag" / "default"
    settings = load_settings(project)
    encoder = HashEncoder()

    def run():
        return ingest(
            LocalWriter(index_dir), [project / "notes"], settings, base_dir=project, encoder=encoder
        )

    def manifest():
        return json.loads((index_dir / live_name(index_dir) / "manifest.json").read_text())

    run()
    assert manifest()["dense_index"] == dense.IVF
    assert _ivf_consistent(index_dir) == 40 and manifest()["counts"]["chunks"] == 40

    # Change some files and delete others: their vectors are removed from the lists.
    for n in range(5):
        (project / f"notes/topic{n:02d}.md").unlink()
    for n in range(5, 8):
        (project / f"notes/topic{n:02d}.md").write_text(f"# Topic {n}\n\nRewritten zebra{n}.\n")
    report = run()
    assert report.chunks_removed == 8 and report.chunks_added == 3
    assert manifest()["dense_index"] == dense.IVF
    assert _ivf_consistent(index_dir) == 35

    idx = Index(index_dir, base_dir=project)
    target = idx.store.catalog.chunk_ids_of_docs(["notes/topic06.md"])
    target_vector = dense.vectors_for(idx.store.dense, np.asarray(sorted(target)))[0]
    idx.__dict__["query_encoder"] = FixedQuery(target_vector)
    hits = idx.search("rewritten", k=3, mode="dense", rerank=False)
    assert hits[0].chunk.source == "notes/topic06.md"
    assert hits[0].dense == pytest.approx(1.0, abs=1e-5)
    hits = idx.search("zebra7", k=3, mode="hybrid", alpha=0.0, rerank=False)
    assert hits and hits[0].chunk.source == "notes/topic07.md"
    hits = idx.search(
        "rewritten", k=3, mode="dense", rerank=False, filters=SearchFilter(paths=["*topic3*"])
    )
    assert len(hits) == 3
    assert {h.chunk.source for h in hits} <= {f"notes/topic{n}.md" for n in range(30, 40)}

    # Below the threshold again: back to an exact index.
    for n in range(5, 15):
        (project / f"notes/topic{n:02d}.md").unlink()
    run()
    assert manifest()["dense_index"] == dense.FLAT
    assert check_consistent(index_dir)["chunks"] == 25
