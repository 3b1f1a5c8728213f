"""Reading the BM25 sidecar of format-1 indexes: one bm25s index (``scipy`` CSC arrays).

Indexes written before BM25 went into segments (``ragcli.store.sparse``) keep a bm25s
folder: precomputed scores per (term, chunk), read here with numpy alone (``import
bm25s`` was the largest import of a cold ``rag search``); the next ingest that changes
such an index rebuilds its sidecar as segments.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

ROW_IDS_FILE = "row_ids.npy"
# bm25s's file names; a method with a non-occurrence array (bm25l, bm25+) is read by bm25s.
MATRIX_FILES = ("data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy")
VOCAB_FILE = "vocab.index.json"
NONOCCURRENCE_FILE = "nonoccurrence_array.index.npy"


class ScoreMatrix:
    """The part of a saved ``bm25s.BM25`` a search uses, read with numpy alone."""

    def __init__(self, folder: Path):
        data, indices, indptr = (
            np.load(folder / name, mmap_mode="r", allow_pickle=False) for name in MATRIX_FILES
        )
        self.data, self.indices, self.indptr = data, indices, indptr
        self.vocab_dict: dict[str, int] = json.loads((folder / VOCAB_FILE).read_text())
        self.num_docs = int(json.loads((folder / "params.index.json").read_text())["num_docs"])

    def get_tokens_ids(self, tokens: list[str]) -> list[int]:
        return [self.vocab_dict[token] for token in tokens if token in self.vocab_dict]

    def get_scores_from_ids(self, token_ids: list[int]) -> np.ndarray:
        # bm25s's own summation: each query token adds its column of precomputed scores.
        scores = np.zeros(self.num_docs, dtype=np.float32)
        for token in token_ids:
            start, end = int(self.indptr[token]), int(self.indptr[token + 1])
            np.add.at(scores, self.indices[start:end], self.data[start:end])
        return scores


def is_legacy(folder: Path) -> bool:
    return (folder / ROW_IDS_FILE).exists()


def load_retriever(folder: Path, params: dict, n_rows: int):
    """A ``ScoreMatrix`` or, for methods with a non-occurrence array, a ``bm25s.BM25``."""
    if n_rows and not (folder / NONOCCURRENCE_FILE).exists():
        return ScoreMatrix(folder)
    import bm25s

    if n_rows:
        return bm25s.BM25.load(str(folder), mmap=True, show_progress=False)
    return bm25s.BM25(method=params["method"], k1=params["k1"], b=params["b"])
