"""The rerank stage: a sentence-transformers CrossEncoder rescoring fused candidates."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

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
