"""The dense index type follows the index size: flat (exact) up to FLAT_MAX_CHUNKS, HNSW
above; an HNSW index is rebuilt when chunks are removed. The threshold is patched small.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from helpers_ingest import check_consistent, clean_env, live_name, write_files

from ragcli.config import load_settings
from ragcli.index import Index, SearchFilter
from ragcli.ingest import ingest
from ragcli.store import dense

DIM = 16


def unit(rng, n: int, dim: int = DIM) -> np.ndarray:
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


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


@pytest.fixture
def small_threshold(monkeypatch):
    monkeypatch.setattr(dense, "FLAT_MAX_CHUNKS", 30)
    return 30


def test_type_switches_at_the_threshold_both_ways(small_threshold):
    rng = np.random.default_rng(0)
    vectors = unit(rng, 40)
    index, removed = dense.update(None, DIM, [], np.arange(30), vectors[:30])
    assert dense.kind_of(index) == dense.FLAT and removed == 0
    assert dense.kind_for(30) == dense.FLAT and dense.kind_for(31) == dense.HNSW

    index, removed = dense.update(index, DIM, [], np.arange(30, 31), vectors[30:31])
    assert dense.kind_of(index) == dense.HNSW and index.ntotal == 31
    # Additions only: the graph is extended, not rebuilt.
    same, _ = dense.update(index, DIM, [], np.arange(31, 40), vectors[31:40])
    assert same is index and index.ntotal == 40

    index, removed = dense.update(index, DIM, np.asarray([0, 1, 2, 999]), [], None)
    assert removed == 3 and dense.kind_of(index) == dense.HNSW
    assert sorted(dense.stored_ids(index).tolist()) == list(range(3, 40))
    np.testing.assert_allclose(dense.vectors_for(index, np.asarray([7, 39])), vectors[[7, 39]])

    index, removed = dense.update(index, DIM, np.arange(3, 13), [], None)
    assert removed == 10 and dense.kind_of(index) == dense.FLAT and index.ntotal == 27
    ids, scores = dense.search(index, vectors[20], 3)
    assert ids[0] == 20 and scores[0] == pytest.approx(1.0, abs=1e-5)


def test_hnsw_search_round_trip_through_a_memory_mapped_file(small_threshold, tmp_path):
    rng = np.random.default_rng(1)
    vectors = unit(rng, 200)
    ids = np.arange(1000, 1200)
    index, _ = dense.update(None, DIM, [], ids, vectors)
    assert dense.kind_of(index) == dense.HNSW
    dense.write_index(index, tmp_path / dense.DENSE_FILE)
    loaded = dense.read_index(tmp_path / dense.DENSE_FILE, mmap=True)
    assert dense.kind_of(loaded) == dense.HNSW and loaded.ntotal == 200

    found, scores = dense.search(loaded, vectors[5], 10)
    assert found[0] == 1005 and scores[0] == pytest.approx(1.0, abs=1e-5)
    assert len(found) == 10 and np.all(np.diff(scores) <= 1e-6)
    # Recall against exact search on this small set is (nearly) perfect.
    exact = np.argsort(-(vectors @ vectors[5]))[:10] + 1000
    assert len(set(found.tolist()) & set(exact.tolist())) >= 9

    allowed = np.asarray([1003, 1150, 1199, 5])  # 5 is no chunk of this index
    found, scores = dense.search(loaded, vectors[150], 10, allowed=allowed)
    assert found[0] == 1150 and set(found.tolist()) == {1003, 1150, 1199}
    np.testing.assert_allclose(scores, vectors[found - 1000] @ vectors[150], rtol=1e-5)
    np.testing.assert_allclose(dense.vectors_for(loaded, np.asarray([1042])), vectors[42:43])


def test_flat_index_refuses_nothing_and_hnsw_refuses_remove(small_threshold):
    rng = np.random.default_rng(2)
    index, _ = dense.update(None, DIM, [], np.arange(40), unit(rng, 40))
    with pytest.raises(ValueError, match="update"):
        dense.remove(index, np.asarray([1]))


def test_ingest_updates_with_deletions_keep_an_hnsw_index_consistent(
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
        return ingest(index_dir, [project / "notes"], settings, base_dir=project, encoder=encoder)

    def manifest():
        return json.loads((index_dir / live_name(index_dir) / "manifest.json").read_text())

    run()
    assert manifest()["dense_index"] == dense.HNSW
    assert check_consistent(index_dir)["chunks"] == 40

    # Change some files and delete others: the HNSW index is rebuilt without them.
    for n in range(5):
        (project / f"notes/topic{n:02d}.md").unlink()
    for n in range(5, 8):
        (project / f"notes/topic{n:02d}.md").write_text(f"# Topic {n}\n\nRewritten zebra{n}.\n")
    report = run()
    assert report.chunks_removed == 8 and report.chunks_added == 3
    assert manifest()["dense_index"] == dense.HNSW
    assert check_consistent(index_dir)["chunks"] == 35

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
