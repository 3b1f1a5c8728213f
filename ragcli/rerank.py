"""The rerank stage: a sentence-transformers CrossEncoder rescoring fused candidates."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ragcli.errors import RagError
from ragcli.text import index_text
from ragcli.types import Hit
from ragcli.weights import load_sentence_transformers


class Reranker:
    def __init__(self, model_name: str, batch_size: int = 16):
        self.model = load_sentence_transformers("CrossEncoder", model_name, "reranker")
        self.model_name = model_name
        self.batch_size = batch_size

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        if not passages:
            return np.zeros(0, dtype=np.float32)
        pairs = [(query, passage) for passage in passages]
        scores = self.model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False)
        return np.asarray(scores, dtype=np.float32).reshape(len(passages), -1)[:, -1]


def rerank_hits(reranker: Reranker, query: str, hits: list[Hit]) -> list[Hit]:
    """``hits`` rescored by the cross-encoder (as indexed: title, then text), best first."""
    scores = reranker.score(query, [index_text(h.chunk.title, h.chunk.text) for h in hits])
    for hit, score in zip(hits, scores, strict=True):
        hit.rerank = float(score)
        hit.score = float(score)
    return sorted(hits, key=lambda h: (-h.rerank, h.chunk.chunk_id))


class Rerankers:
    """Cross-encoders loaded once each; one that cannot load is remembered as None and
    reported once through ``warn``."""

    def __init__(self, warn: Callable[[str], None]):
        self.warn = warn
        self._loaded: dict[str, Reranker | None] = {}

    def get(self, model_name: str) -> Reranker | None:
        if model_name not in self._loaded:
            try:
                self._loaded[model_name] = Reranker(model_name)
            except RagError as err:
                self.warn(f"{err}; results are not reranked")
                self._loaded[model_name] = None
        return self._loaded[model_name]

    def rerank(self, model_name: str) -> Callable[[str, list[Hit]], list[Hit]]:
        """The rerank step for ``retrieve.search``: a no-op when the model cannot load."""

        def step(query: str, hits: list[Hit]) -> list[Hit]:
            reranker = self.get(model_name)
            return hits if reranker is None else rerank_hits(reranker, query, hits)

        return step
