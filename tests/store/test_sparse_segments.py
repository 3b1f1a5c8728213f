"""BM25 in segments: the same scores as one index built from scratch, before and after a
merge, with deletions; bm25s as the reference; format-1 (bm25s) sidecars still read and
migrated by the next ingest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import bm25s
import numpy as np
import pytest
from helpers_ingest import add_made_up_file

import ragcli.store.sparse as sparse
from ragcli.store.sparse import SparseIndex, SparseWriter, merge_plan
from ragcli.text import tokenize

DOCS = Path(__file__).resolve().parents[2] / "docs"
QUERIES = [
    "dense index search",
    "chunk tokens model",
    "generation manifest atomic",
    "rerank cross encoder",
    "the of and",  # stopwords only
    "segments segments merge",  # a repeated term counts twice, as in bm25s
]


def corpus() -> list[str]:
    """Real prose: the lines of this repository's docs (a few thousand, varied lengths)."""
    lines = []
    for path in sorted(DOCS.glob("*.md")):
        lines.extend(line for line in path.read_text().splitlines() if len(line) > 20)
    return lines


def test_scores_equal_bm25s_lucene():
    texts = corpus()
    index = SparseIndex.build(range(len(texts)), texts)
    reference = bm25s.BM25(method="lucene", k1=0.9, b=0.4)
    reference.index([tokenize(text) for text in texts], show_progress=False)
    for query in QUERIES:
        tokens = tokenize(query)
        if not tokens:
            assert not index.scores(query).any()
            continue
        expected = reference.get_scores(tokens)
        np.testing.assert_allclose(index.scores(query), expected, rtol=1e-5, atol=1e-6)


def _write_generations(tmp_path: Path, texts: list[str], removed: set[int]) -> SparseIndex:
    """Generation 1 holds the first 60% of ``texts``; generation 2 removes ``removed``
    and adds the rest, in several writer batches."""
    split = len(texts) * 6 // 10
    first = SparseWriter(tmp_path / "g1", None)
    for chunk_id in range(split):
        first.add(chunk_id, texts[chunk_id])
    first.finish().save(tmp_path / "g1")
    second = SparseWriter(tmp_path / "g2", tmp_path / "g1")
    second.remove(sorted(removed))
    for chunk_id in range(split, len(texts)):
        second.add(chunk_id, texts[chunk_id])
    second.finish().save(tmp_path / "g2")
    return SparseIndex.load(tmp_path / "g2")


@pytest.mark.parametrize("merges", [False, True], ids=["before merge", "after merge"])
def test_segments_with_deletions_score_as_a_full_rebuild(tmp_path, monkeypatch, merges):
    texts = corpus()
    monkeypatch.setattr(sparse, "FLUSH_ROWS", 200)
    monkeypatch.setattr(sparse, "MERGE_FACTOR", 3 if merges else 10_000)
    monkeypatch.setattr(sparse, "EXPUNGE_SHARE", 0.5 if merges else 1.0)
    removed = set(range(5, len(texts) * 6 // 10, 7))
    loaded = _write_generations(tmp_path, texts, removed)
    kept = [i for i in range(len(texts)) if i not in removed]
    full = SparseIndex.build(kept, [texts[i] for i in kept])
    split = len(texts) * 6 // 10  # ceil(rows / 200) segments a generation
    flushed = -(-split // 200) + -(-(len(texts) - split) // 200)
    if merges:
        assert len(loaded.segments) < flushed
    else:
        assert len(loaded.segments) == flushed and all(len(s.deleted) for s in loaded.segments[:2])
    assert loaded.row_ids.tolist() == kept
    for query in QUERIES:
        np.testing.assert_allclose(loaded.scores(query), full.scores(query), rtol=0, atol=1e-6)
        assert loaded.search(query, 10)[0].tolist() == full.search(query, 10)[0].tolist()
    # The previous generation is untouched by the next one's deletions and merges.
    first = SparseIndex.load(tmp_path / "g1")
    assert len(first) == len(texts) * 6 // 10 and not any(len(s.deleted) for s in first.segments)


def test_merge_policy_merges_the_last_run_of_one_size():
    assert merge_plan([50_000] * 9) is None
    assert merge_plan([50_000] * 10) == (0, 10)
    assert merge_plan([500_000, *[50_000] * 10]) == (1, 11)
    assert merge_plan([500_000] * 10) is None  # above MAX_MERGE_ROWS: left as they are
    assert merge_plan([500_000, 3_000, 2_000, *[1_000] * 8]) == (1, 11)  # small ones: one class


def test_a_segment_emptied_by_deletions_goes(tmp_path):
    texts = corpus()[:50]
    first = SparseWriter(tmp_path / "g1", None)
    for chunk_id, text in enumerate(texts):
        first.add(chunk_id, text)
    first.finish().save(tmp_path / "g1")
    second = SparseWriter(tmp_path / "g2", tmp_path / "g1")
    second.remove(range(50))
    second.finish().save(tmp_path / "g2")
    loaded = SparseIndex.load(tmp_path / "g2")
    assert len(loaded) == 0 and loaded.segments == []
    assert loaded.search("index", 5)[0].tolist() == []
    assert sorted(p.name for p in (tmp_path / "g2").iterdir()) == [
        "ragcli_params.json",
        "segments.json",
        "stopwords.json",
    ]


def write_format_1_sidecar(folder: Path, chunk_ids, texts) -> None:
    """A BM25 sidecar as ragcli wrote it before segments: bm25s's own files, row ids."""
    params = dict(sparse.DEFAULT_PARAMS)
    retriever = bm25s.BM25(method=params["method"], k1=params["k1"], b=params["b"])
    retriever.index([tokenize(text, params) for text in texts], show_progress=False)
    folder.mkdir(parents=True)
    retriever.save(str(folder), show_progress=False)
    np.save(folder / "row_ids.npy", np.asarray(chunk_ids, dtype=np.int64), allow_pickle=False)
    (folder / "ragcli_params.json").write_text(json.dumps(params))
    stop = sorted(sparse.stopword_list(params["stopwords"]))
    (folder / "stopwords.json").write_text(json.dumps(stop))


def test_a_format_1_sidecar_is_read_and_migrated(tmp_path):
    texts = corpus()[:300]
    write_format_1_sidecar(tmp_path / "old", range(300), texts)
    old = SparseIndex.load(tmp_path / "old")
    new = SparseIndex.build(range(300), texts)
    for query in QUERIES:
        np.testing.assert_allclose(old.scores(query), new.scores(query), rtol=1e-5, atol=1e-6)
    # A writer does not build on a format-1 folder: it starts empty and is fed the chunks.
    writer = SparseWriter(tmp_path / "next", None)
    for chunk_id, text in enumerate(texts):
        writer.add(chunk_id, text)
    writer.finish().save(tmp_path / "next")
    migrated = SparseIndex.load(tmp_path / "next")
    assert migrated.row_ids.tolist() == old.row_ids.tolist()


def test_a_format_1_index_is_searched_and_the_next_ingest_writes_format_2(tmp_path):
    from ragcli.store.generations import FORMAT_VERSION
    from ragcli.store.local import LocalStore, LocalWriter
    from ragcli.store.verify import write_checksums
    from ragcli.text import index_text

    texts = corpus()[:40]
    index_dir = tmp_path / "idx"
    with LocalWriter(index_dir) as writer:
        for n, text in enumerate(texts[:30]):
            add_made_up_file(writer, n, text)
        writer.commit({}, dimension=8)
    # Made into what ragcli wrote before segments: format 1, a bm25s sidecar.
    gen = index_dir / "gen-000001"
    for path in (gen / "sparse").iterdir():
        path.unlink()
    (gen / "sparse").rmdir()
    write_format_1_sidecar(
        gen / "sparse", range(30), [index_text(f"f{n}.txt", t) for n, t in enumerate(texts[:30])]
    )
    manifest = json.loads((gen / "manifest.json").read_text())
    (gen / "manifest.json").write_text(json.dumps({**manifest, "format_version": 1}))
    write_checksums(gen)

    store = LocalStore(index_dir)
    assert store.sparse_search("dense index search", 5)[0].tolist()
    before = store.sparse_search("dense index search", 5)
    store.close()
    with LocalWriter(index_dir) as writer:
        writer.remove_file("/p/f3.txt")
        for n, text in enumerate(texts[30:], 30):
            add_made_up_file(writer, n, text)
        writer.commit({}, dimension=8)
    gen = index_dir / "gen-000002"
    assert json.loads((gen / "manifest.json").read_text())["format_version"] == FORMAT_VERSION
    assert (gen / "sparse" / "segments.json").is_file()
    kept = [n for n in range(40) if n != 3]
    full = SparseIndex.build(kept, [index_text(f"f{n}.txt", texts[n]) for n in kept])
    migrated = SparseIndex.load(gen / "sparse")
    assert migrated.row_ids.tolist() == kept
    for query in QUERIES:
        np.testing.assert_allclose(migrated.scores(query), full.scores(query), atol=1e-6)
    assert len(before[0])


def strip_pair_files(folder: Path) -> None:
    """Make ``folder``'s segments what ragcli wrote before pair files existed."""
    for path in [*folder.glob("*.codes.npy"), *folder.glob("*.pairs.npy")]:
        path.unlink()
    listing = json.loads((folder / "segments.json").read_text())
    for entry in listing["segments"]:
        del entry["pairs"]
    (folder / "segments.json").write_text(json.dumps(listing))


@pytest.mark.parametrize("method", sparse.METHODS)
def test_pair_weights_score_exactly_as_weights_per_posting(tmp_path, monkeypatch, method):
    texts = corpus()
    monkeypatch.setattr(sparse, "FLUSH_ROWS", 500)
    params = {**sparse.DEFAULT_PARAMS, "method": method}
    writer = SparseWriter(tmp_path / "g1", None, params)
    for chunk_id, text in enumerate(texts):
        writer.add(chunk_id, text)
    writer.remove(range(0, len(texts), 9))  # deletions in flushed segments
    writer.finish().save(tmp_path / "g1")
    with_pairs = SparseIndex.load(tmp_path / "g1")
    assert len(with_pairs.segments) > 1 and any(len(s.deleted) for s in with_pairs.segments)
    assert all(s.codes is not None for s in with_pairs.segments)
    shutil.copytree(tmp_path / "g1", tmp_path / "old")
    strip_pair_files(tmp_path / "old")
    per_posting = SparseIndex.load(tmp_path / "old")
    assert all(s.codes is None for s in per_posting.segments)
    for query in QUERIES:
        np.testing.assert_array_equal(with_pairs.scores(query), per_posting.scores(query))


def test_segments_without_pair_files_gain_them_at_the_next_ingest(tmp_path, monkeypatch):
    texts = corpus()
    monkeypatch.setattr(sparse, "FLUSH_ROWS", 400)
    first = SparseWriter(tmp_path / "g1", None)
    for chunk_id in range(1000):
        first.add(chunk_id, texts[chunk_id])
    first.finish().save(tmp_path / "g1")
    strip_pair_files(tmp_path / "g1")
    second = SparseWriter(tmp_path / "g2", tmp_path / "g1")
    second.remove(range(0, 1000, 5))
    for chunk_id in range(1000, len(texts)):
        second.add(chunk_id, texts[chunk_id])
    second.finish().save(tmp_path / "g2")
    loaded = SparseIndex.load(tmp_path / "g2")
    entries = json.loads((tmp_path / "g2" / "segments.json").read_text())["segments"]
    assert all("pairs" in entry for entry in entries)
    assert all((tmp_path / "g2" / f"{e['name']}.codes.npy").is_file() for e in entries)
    assert all(s.codes is not None for s in loaded.segments)
    assert not list((tmp_path / "g1").glob("*.codes.npy"))  # the previous one untouched
    kept = [i for i in range(len(texts)) if i >= 1000 or i % 5]
    full = SparseIndex.build(kept, [texts[i] for i in kept])
    assert loaded.row_ids.tolist() == kept
    for query in QUERIES:
        np.testing.assert_allclose(loaded.scores(query), full.scores(query), rtol=0, atol=1e-6)


@pytest.mark.parametrize("dense_keys", [True, False], ids=["table of keys", "np.unique"])
def test_pair_codes_give_back_each_postings_tf_and_length(monkeypatch, dense_keys):
    monkeypatch.setattr(sparse, "_PAIR_BLOCK", 1000)  # several blocks
    if not dense_keys:
        monkeypatch.setattr(sparse, "_DENSE_PAIR_KEYS", 0)
    texts = corpus()
    segment = SparseIndex.build(range(len(texts)), texts).segments[0]
    codes, pairs = sparse.pair_codes(segment.tfs, segment.rows, segment.lengths)
    assert len(segment.tfs) > 3 * 1000 and codes.dtype == np.uint16
    assert len(np.unique(pairs, axis=0)) == len(pairs)
    np.testing.assert_array_equal(pairs[codes, 0], segment.tfs)
    np.testing.assert_array_equal(pairs[codes, 1], segment.lengths[segment.rows])


def test_a_pair_file_of_the_wrong_shape_is_refused(tmp_path):
    texts = corpus()[:200]
    writer = SparseWriter(tmp_path / "g1", None)
    for chunk_id, text in enumerate(texts):
        writer.add(chunk_id, text)
    writer.finish().save(tmp_path / "g1")
    codes = tmp_path / "g1" / "seg-000001.codes.npy"
    np.save(codes, np.load(codes)[:-1], allow_pickle=False)
    with pytest.raises(ValueError, match="seg-000001"):
        SparseIndex.load(tmp_path / "g1")
