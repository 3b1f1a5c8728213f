"""The store pieces on their own: BM25 sidecar, FAISS side, catalog, generations, lock.

No embedding model here: vectors are made up, texts are tokenised as ingest does.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers_ingest import npy_files_load_without_pickle
from rank_bm25 import BM25Okapi

from ragcli.errors import IndexStateError
from ragcli.store import dense
from ragcli.store.catalog import Catalog, FileRecord
from ragcli.store.generations import (
    CURRENT_FILE,
    FORMAT_VERSION,
    WriteLock,
    current_generation,
    generation_number,
    publish_generation,
    read_manifest,
    remove_stale,
    start_generation,
)
from ragcli.store.sparse import DEFAULT_PARAMS, SparseIndex
from ragcli.text import tokenize
from ragcli.types import Chunk, Document, Location

# No term is in more than a third of the documents, so every idf is positive and
# rank_bm25's epsilon floor for negative idf never applies.
CORPUS = [
    "The river carries silt to the delta where farmers plant rice.",
    "Rice paddies flood every spring; the farmers wade through the water.",
    "A delta forms where a slow river meets the sea and drops its sediment.",
    "Mountain goats climb cliffs that no predator can follow.",
    "Snow leopards hunt goats and sheep on steep mountain slopes at dusk.",
    "Lighthouses warned ships away from rocks before radar and satellites.",
    "The keeper climbed the lighthouse stairs to light the lamp at dusk.",
    "Satellites photograph the delta and measure how much silt the river moves.",
    "Bakers knead dough, let it rise overnight, and bake loaves at dawn.",
    "Sheep graze the meadow while the shepherd watches for leopards.",
]
QUERIES = [
    "river delta silt",
    "mountain goats",
    "lighthouse keeper lamp",
    "farmers rice water",
    "satellites photograph",
    "leopards hunting sheep at dusk",
    "bread dough rising",
]
OKAPI = {"method": "robertson", "k1": 1.5, "b": 0.75, "stemmer": "english", "stopwords": "en"}


# --- BM25 ---------------------------------------------------------------------------------


def test_tokenize_lowercases_stems_and_drops_stopwords():
    assert tokenize("The Farmers PLANTING rice, and the rivers flooded!") == [
        "farmer",
        "plant",
        "rice",
        "river",
        "flood",
    ]
    assert tokenize("a I x") == []  # one-letter words are not tokens


def test_corpus_keeps_every_idf_positive():
    docs = [set(tokenize(text, OKAPI)) for text in CORPUS]
    vocabulary = set().union(*docs)
    assert max(sum(term in doc for doc in docs) for term in vocabulary) * 2 < len(CORPUS)


def test_sparse_ranks_like_rank_bm25_okapi():
    corpus_tokens = [tokenize(text, OKAPI) for text in CORPUS]
    okapi = BM25Okapi(corpus_tokens, k1=OKAPI["k1"], b=OKAPI["b"])
    sparse = SparseIndex.build(list(range(100, 100 + len(CORPUS))), CORPUS, OKAPI)
    for query in QUERIES:
        tokens = list(dict.fromkeys(tokenize(query, OKAPI)))  # each term once
        expected = okapi.get_scores(tokens)
        got = sparse.scores(query)
        assert got.shape == expected.shape
        # bm25s's Robertson term weight leaves out BM25Okapi's constant (k1 + 1) factor.
        np.testing.assert_allclose(got * (OKAPI["k1"] + 1), expected, rtol=1e-5, atol=1e-6)
        order = sorted(range(len(CORPUS)), key=lambda i: (-expected[i], i))
        positive = [i for i in order if expected[i] > 0]
        ids, scores, _ = sparse.search(query, n=len(CORPUS))
        assert ids.tolist() == [100 + i for i in positive], query
        assert np.all(np.diff(scores) <= 0)


def test_sparse_round_trips_through_disk_without_pickle(tmp_path):
    sparse = SparseIndex.build([7, 3, 9, 1, 4, 8, 2, 6, 5, 0], CORPUS, OKAPI)
    sparse.save(tmp_path / "sparse")
    names = sorted(p.name for p in (tmp_path / "sparse").iterdir())
    assert all(name.endswith((".npy", ".json")) for name in names)
    assert npy_files_load_without_pickle(tmp_path / "sparse") == 7  # one segment, pairs too
    assert json.loads((tmp_path / "sparse" / "ragcli_params.json").read_text()) == OKAPI
    loaded = SparseIndex.load(tmp_path / "sparse")
    assert loaded.params == OKAPI
    assert loaded.row_ids.tolist() == [7, 3, 9, 1, 4, 8, 2, 6, 5, 0]
    for query in QUERIES:
        np.testing.assert_allclose(loaded.scores(query), sparse.scores(query), rtol=1e-6)
        assert loaded.search(query, 3)[0].tolist() == sparse.search(query, 3)[0].tolist()
    # row ids map rows back to chunk ids
    assert loaded.search("shepherd meadow", 1)[0].tolist() == [0]


@pytest.mark.slow  # a fresh interpreter
def test_reading_the_sidecar_needs_neither_bm25s_nor_scipy(tmp_path):
    # `import bm25s` (scipy, tqdm) was the largest import of a cold `rag search`.
    sparse = SparseIndex.build(range(len(CORPUS)), CORPUS)
    sparse.save(tmp_path / "sparse")
    saved = json.loads((tmp_path / "sparse" / "stopwords.json").read_text())
    assert "the" in saved and len(saved) > 20
    script = (
        "import sys; from pathlib import Path; from ragcli.store.sparse import SparseIndex; "
        f"index = SparseIndex.load(Path({str(tmp_path / 'sparse')!r})); "
        "ids, scores, _ = index.search('Goats and the meadow', 5); "
        "print(ids.tolist(), [m for m in ('bm25s', 'scipy') if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    want = sparse.search("Goats and the meadow", 5)[0].tolist()
    assert want and result.stdout.strip() == f"{want} []"


def test_sparse_search_keeps_positive_scores_and_applies_the_mask():
    sparse = SparseIndex.build(range(len(CORPUS)), CORPUS)
    assert sparse.params == DEFAULT_PARAMS
    ids, scores, rows = sparse.search("goats", 10)
    assert sorted(ids.tolist()) == [3, 4] and np.all(scores > 0) and len(rows) == len(CORPUS)
    mask = np.ones(len(CORPUS), dtype=np.float32)
    mask[3] = 0
    assert sparse.search("goats", 10, mask)[0].tolist() == [4]
    assert sparse.search("zzyzx", 10)[0].tolist() == []
    assert sparse.search("the and of", 10)[0].tolist() == []  # stopwords only


def test_empty_sparse_index_saves_loads_and_finds_nothing(tmp_path):
    SparseIndex.build([], []).save(tmp_path / "sparse")
    loaded = SparseIndex.load(tmp_path / "sparse")
    assert len(loaded) == 0
    assert loaded.search("anything", 5)[0].tolist() == []


# --- FAISS --------------------------------------------------------------------------------


def _unit(rows: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(rows, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_dense_keeps_ids_through_remove_write_and_mmap_read(tmp_path):
    vectors = _unit(6)
    index = dense.new_index(8)
    dense.add(index, np.arange(10, 16, dtype=np.int64), vectors)
    assert dense.remove(index, np.asarray([11, 13, 99])) == 2
    assert index.ntotal == 4
    dense.write_index(index, tmp_path / "dense.faiss")
    loaded = dense.read_index(tmp_path / "dense.faiss", mmap=True)
    assert loaded.ntotal == 4
    ids, scores = dense.search(loaded, vectors[2], 2)
    assert ids[0] == 12 and math.isclose(float(scores[0]), 1.0, rel_tol=1e-5)
    assert 11 not in dense.search(loaded, vectors[1], 4)[0]
    np.testing.assert_allclose(dense.vectors_for(loaded, np.asarray([15])), vectors[5:6])
    ids, _ = dense.search(loaded, vectors[2], 4, allowed=np.asarray([14, 15]))
    assert sorted(ids.tolist()) == [14, 15]
    assert dense.search(dense.new_index(8), vectors[0], 3)[0].tolist() == []


# --- catalog ------------------------------------------------------------------------------


def _chunk(doc_id: str, ordinal: int, text: str, chunk_id: int) -> Chunk:
    return Chunk(
        doc_id=doc_id,
        source=doc_id,
        title=doc_id,
        text=text,
        location=Location(page=None, heading=("Top", "Sub"), line_start=1, line_end=2),
        start=0,
        end=len(text),
        ordinal=ordinal,
        n_tokens=3,
        chunk_id=chunk_id,
    )


def _document(doc_id: str, text: str) -> Document:
    return Document(doc_id=doc_id, source=doc_id, kind="text", title=doc_id, text=text)


def test_catalog_adds_reads_and_removes_files(tmp_path):
    catalog = Catalog(tmp_path / "catalog.sqlite")
    assert catalog.next_chunk_id() == 0
    for n, name in enumerate(["a.txt", "b.txt"]):
        catalog.add_file(FileRecord(f"/p/{name}", name, "f" * 64, 10, 123), "now")
        chunks = [_chunk(name, i, f"{name} part {i}", 2 * n + i) for i in range(2)]
        catalog.add_document(_document(name, "text"), f"/p/{name}", chunks)
    catalog.commit()
    assert catalog.counts() == {"files": 2, "documents": 2, "chunks": 4}
    assert catalog.next_chunk_id() == 4
    assert catalog.chunk_ids_of_file("/p/b.txt") == [2, 3]
    got = catalog.chunks([3, 0, 42])
    assert sorted(got) == [0, 3]
    assert got[3].text == "b.txt part 1" and got[3].location.heading == ("Top", "Sub")
    catalog.remove_file("/p/a.txt")
    catalog.commit()
    assert catalog.counts() == {"files": 1, "documents": 1, "chunks": 2}
    assert not catalog.has_document("a.txt") and catalog.has_document("b.txt")
    assert [row[0] for row in catalog.iter_chunk_texts()] == [2, 3]
    catalog.close()
    readonly = Catalog(tmp_path / "catalog.sqlite", readonly=True)
    assert set(readonly.files()) == {"/p/b.txt"}
    readonly.close()


# --- generations and the lock ---------------------------------------------------------------


def _publish(index_dir: Path, marker: str) -> Path:
    """A generation published as LocalWriter.commit does, with the manifest whole."""
    live = current_generation(index_dir)
    tmp = start_generation(index_dir)
    (tmp / "data.txt").write_text(marker)
    manifest = {
        "marker": marker,
        "format_version": FORMAT_VERSION,
        "generation": generation_number(tmp),
        "previous": live.name if live is not None else None,
    }
    return publish_generation(index_dir, tmp, manifest)


def test_generations_publish_atomically_and_keep_one_previous(tmp_path):
    index_dir = tmp_path / "idx"
    index_dir.mkdir()
    assert current_generation(index_dir) is None
    for marker in ["one", "two", "three"]:
        final = _publish(index_dir, marker)
    assert final.name == "gen-000003"
    assert (index_dir / CURRENT_FILE).read_text() == "gen-000003\n"
    assert current_generation(index_dir) == final
    manifest = read_manifest(final)
    assert manifest["marker"] == "three" and manifest["generation"] == 3
    assert manifest["format_version"] == FORMAT_VERSION
    assert sorted(p.name for p in index_dir.iterdir() if p.is_dir()) == [
        "gen-000002",
        "gen-000003",
    ]


def test_stale_tmp_folders_are_removed_and_never_live(tmp_path):
    index_dir = tmp_path / "idx"
    index_dir.mkdir()
    _publish(index_dir, "one")
    killed = start_generation(index_dir)  # a writer that died here
    (killed / "partial").write_text("x")
    assert killed.name == "gen-000002.tmp"
    assert current_generation(index_dir).name == "gen-000001"
    remove_stale(index_dir)
    assert not killed.exists()
    start_generation(index_dir)
    again = start_generation(index_dir)  # each start clears the previous tmp
    assert [p.name for p in index_dir.glob("*.tmp")] == [again.name]


def test_current_pointing_nowhere_and_unknown_format_are_clear_errors(tmp_path):
    index_dir = tmp_path / "idx"
    index_dir.mkdir()
    (index_dir / CURRENT_FILE).write_text("gen-000005\n")
    with pytest.raises(IndexStateError, match="missing generation 'gen-000005'"):
        current_generation(index_dir)
    gen = index_dir / "gen-000005"
    gen.mkdir()
    (gen / "manifest.json").write_text(json.dumps({"format_version": 99}))
    with pytest.raises(IndexStateError, match="format 99 is not supported.*--rebuild"):
        read_manifest(current_generation(index_dir))
    (gen / "manifest.json").write_text("{not json")
    with pytest.raises(IndexStateError, match="unreadable manifest"):
        read_manifest(gen)


def test_write_lock_is_exclusive_and_released(tmp_path):
    index_dir = tmp_path / "idx"
    with WriteLock(index_dir):
        assert (index_dir / "lock").read_text() == str(os.getpid())
        with pytest.raises(IndexStateError) as info, WriteLock(index_dir):
            pass
        message = str(info.value)
        assert "another ingest is writing this index" in message and "\n" not in message
    # The lock made the folder and nothing was published: no empty index is left behind.
    assert not index_dir.exists()
    index_dir.mkdir()
    with WriteLock(index_dir):  # free again once the holder left
        pass
    assert (index_dir / "lock").read_text() == ""
