"""The BM25 sidecar: tokenisation, building, saving and scoring with bm25s.

Scores come from bm25s's precomputed sparse matrix (no Python loop over documents).
Files are numpy arrays plus JSON, loaded without pickle and memory-mapped for reading.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

# Anserini's defaults for BM25 on BEIR (k1=0.9, b=0.4) with Lucene's idf.
DEFAULT_PARAMS = {"method": "lucene", "k1": 0.9, "b": 0.4, "stemmer": "english", "stopwords": "en"}
_TOKEN = re.compile(r"(?u)\b\w\w+\b")
ROW_IDS_FILE = "row_ids.npy"
PARAMS_FILE = "ragcli_params.json"


@lru_cache(maxsize=4)
def _stemmer(language: str):
    import Stemmer

    return Stemmer.Stemmer(language)


@lru_cache(maxsize=4)
def _stopwords(name: str) -> frozenset[str]:
    if not name:
        return frozenset()
    from bm25s.stopwords import STOPWORDS_EN

    if name != "en":
        raise ValueError(f"unsupported stopword list {name!r}")
    return frozenset(STOPWORDS_EN)


def tokenize(text: str, params: dict | None = None) -> list[str]:
    """Lowercased word tokens of two or more characters, stopwords out, Snowball-stemmed."""
    params = params or DEFAULT_PARAMS
    stop = _stopwords(params.get("stopwords", ""))
    words = [word for word in _TOKEN.findall(text.lower()) if word not in stop]
    language = params.get("stemmer")
    return _stemmer(language).stemWords(words) if language and words else words


@dataclass
class SparseIndex:
    """A bm25s index over chunks; ``row_ids[i]`` is the chunk id of bm25s document ``i``."""

    retriever: object  # bm25s.BM25
    row_ids: np.ndarray
    params: dict

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

    @classmethod
    def load(cls, folder: Path) -> SparseIndex:
        import bm25s

        params = json.loads((folder / PARAMS_FILE).read_text())
        row_ids = np.load(folder / ROW_IDS_FILE, allow_pickle=False)
        if len(row_ids):
            retriever = bm25s.BM25.load(str(folder), mmap=True, show_progress=False)
        else:
            retriever = bm25s.BM25(method=params["method"], k1=params["k1"], b=params["b"])
        return cls(retriever, row_ids, params)

    def __len__(self) -> int:
        return len(self.row_ids)

    def scores(self, query: str, mask: np.ndarray | None = None) -> np.ndarray:
        """BM25 score of every indexed chunk for ``query`` (row order), masked rows zeroed."""
        if not len(self.row_ids):
            return np.zeros(0, dtype=np.float32)
        token_ids = self.retriever.get_tokens_ids(tokenize(query, self.params))
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
