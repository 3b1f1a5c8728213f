"""A reader's BM25 scores of a chunk do not depend on what was searched before, or on
another thread searching at the same time: ``LocalStore`` keeps row scores keyed by the
query, unfiltered, and filters a copy."""

from __future__ import annotations

import threading

import numpy as np
from helpers_ingest import add_made_up_file

from ragcli.store.local import LocalStore, LocalWriter
from ragcli.types import SearchFilter

TEXTS = [
    "river delta silt and floods",
    "mountain glacier ice",
    "river otters in the delta",
    "desert dunes and wind",
    "the river runs to the sea",
]


def build(tmp_path):
    index_dir = tmp_path / "idx"
    with LocalWriter(index_dir) as writer:
        for n, text in enumerate(TEXTS):
            add_made_up_file(writer, n, text)
        writer.commit({}, dimension=8)
    return index_dir


def test_scores_after_a_filtered_search_are_the_unfiltered_ones(tmp_path):
    index_dir = build(tmp_path)
    everyone = np.arange(len(TEXTS), dtype=np.int64)
    fresh = LocalStore(index_dir)
    expected = fresh.sparse_scores(everyone, "river delta")
    fresh.close()
    assert np.count_nonzero(expected) == 3
    store = LocalStore(index_dir)
    only_f0 = store.restrict(SearchFilter(paths=["f0.txt"]))
    ids, _ = store.sparse_search("river delta", 5, only_f0)
    assert ids.tolist() == [0]
    # the other side's candidates, outside the filter, still get their real score
    assert np.array_equal(store.sparse_scores(everyone, "river delta"), expected)
    ids, scores = store.sparse_search("river delta", 5)  # and the search, unfiltered again
    assert sorted(ids.tolist()) == [0, 2, 4]
    assert np.allclose(sorted(scores), sorted(expected[expected > 0]))
    store.close()


def test_two_threads_searching_one_reader_each_get_their_own_query(tmp_path):
    index_dir = build(tmp_path)
    everyone = np.arange(len(TEXTS), dtype=np.int64)
    queries = ["river delta", "glacier ice", "desert wind", "sea"]
    store = LocalStore(index_dir)
    expected = {q: store.sparse_scores(everyone, q).copy() for q in queries}
    store.close()
    store = LocalStore(index_dir)
    wrong: list[str] = []

    def work(query: str) -> None:
        for _ in range(200):
            store.sparse_search(query, 3)
            if not np.array_equal(store.sparse_scores(everyone, query), expected[query]):
                wrong.append(query)

    threads = [threading.Thread(target=work, args=(q,)) for q in queries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.close()
    assert not wrong
