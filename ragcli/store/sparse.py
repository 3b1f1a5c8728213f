"""The BM25 sidecar: building, saving and scoring with bm25s (terms from ragcli.text).

Scores come from bm25s's precomputed sparse matrix (no Python loop over documents).
Files are numpy arrays plus JSON, loaded without pickle and memory-mapped for reading.
bm25s builds and writes the index; reading it back for a search needs only numpy
(``_ScoreMatrix``), because ``import bm25s`` (scipy, tqdm) was the largest import of a
cold ``rag search``. The index keeps its own stopword list for the same reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ragcli.text import ANALYSER, stopword_list, tokenize

# Anserini's defaults for BM25 on BEIR (k1=0.9, b=0.4) with Lucene's idf.
DEFAULT_PARAMS = {"method": "lucene", "k1": 0.9, "b": 0.4, **ANALYSER}
ROW_IDS_FILE = "row_ids.npy"
PARAMS_FILE = "ragcli_params.json"
STOPWORDS_FILE = "stopwords.json"
# bm25s's file names; a method with a non-occurrence array (bm25l, bm25+) is read by bm25s.
_MATRIX_FILES = ("data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy")
_VOCAB_FILE = "vocab.index.json"
_NONOCCURRENCE_FILE = "nonoccurrence_array.index.npy"


class _ScoreMatrix:
    """The part of a saved ``bm25s.BM25`` a search uses, read with numpy alone."""

    def __init__(self, folder: Path):
        data, indices, indptr = (
            np.load(folder / name, mmap_mode="r", allow_pickle=False) for name in _MATRIX_FILES
        )
        self.data, self.indices, self.indptr = data, indices, indptr
        self.vocab_dict: dict[str, int] = json.loads((folder / _VOCAB_FILE).read_text())
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


@dataclass
class SparseIndex:
    """A bm25s index over chunks; ``row_ids[i]`` is the chunk id of bm25s document ``i``."""

    retriever: object  # bm25s.BM25 (built here) or _ScoreMatrix (loaded)
    row_ids: np.ndarray
    params: dict
    stopwords: frozenset[str] | None = None  # the index's saved list, if it has one

    @classmethod
    def build(
        cls, chunk_ids: Sequence[int], texts: Iterable[str], params: dict | None = None
    ) -> SparseIndex:
        import bm25s

        params = dict(params or DEFAULT_PARAMS)
        corpus_tokens = [tokenize(text, params) for text in texts]
        retriever = bm25s.BM25(method=params["method"], k1=params["k1"], b=params["b"])
        if corpus_tokens:
            retriever.index(corpus_tokens, show_progress=False)
        return cls(retriever, np.asarray(chunk_ids, dtype=np.int64), params)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        if len(self.row_ids):
            self.retriever.save(str(folder), show_progress=False)
        np.save(folder / ROW_IDS_FILE, self.row_ids, allow_pickle=False)
        (folder / PARAMS_FILE).write_text(json.dumps(self.params))
        stop = sorted(stopword_list(self.params.get("stopwords", "")))
        (folder / STOPWORDS_FILE).write_text(json.dumps(stop))

    @classmethod
    def load(cls, folder: Path) -> SparseIndex:
        params = json.loads((folder / PARAMS_FILE).read_text())
        row_ids = np.load(folder / ROW_IDS_FILE, allow_pickle=False)
        stop_file = folder / STOPWORDS_FILE
        stopwords = frozenset(json.loads(stop_file.read_text())) if stop_file.exists() else None
        if len(row_ids) and not (folder / _NONOCCURRENCE_FILE).exists():
            return cls(_ScoreMatrix(folder), row_ids, params, stopwords)
        import bm25s

        if len(row_ids):
            retriever = bm25s.BM25.load(str(folder), mmap=True, show_progress=False)
        else:
            retriever = bm25s.BM25(method=params["method"], k1=params["k1"], b=params["b"])
        return cls(retriever, row_ids, params, stopwords)

    def __len__(self) -> int:
        return len(self.row_ids)

    def scores(self, query: str, mask: np.ndarray | None = None) -> np.ndarray:
        """BM25 score of every indexed chunk for ``query`` (row order), masked rows zeroed."""
        if not len(self.row_ids):
            return np.zeros(0, dtype=np.float32)
        token_ids = self.retriever.get_tokens_ids(tokenize(query, self.params, self.stopwords))
        if not token_ids:
            return np.zeros(len(self.row_ids), dtype=np.float32)
        scores = self.retriever.get_scores_from_ids(token_ids)
        if mask is not None:
            scores = scores * mask
        return scores

    def search(
        self, query: str, n: int, mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Top ``n`` chunks with a positive score: (chunk ids, scores, all row scores)."""
        scores = self.scores(query, mask)
        positive = np.flatnonzero(scores > 0)
        if len(positive) > n:
            top = positive[np.argpartition(-scores[positive], n - 1)[:n]]
        else:
            top = positive
        # Ties broken by chunk id so results are deterministic.
        order = np.lexsort((self.row_ids[top], -scores[top]))
        top = top[order]
        return self.row_ids[top], scores[top], scores
