"""The rerank stage: a sentence-transformers CrossEncoder rescoring fused candidates."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ragcli.errors import RagError
from ragcli.models import resolve_model_path


class Reranker:
    def __init__(self, model_name: str, batch_size: int = 16):
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        try:
            from sentence_transformers import CrossEncoder

            self.model = CrossEncoder(resolve_model_path(model_name), device="cpu")
        except Exception as err:  # offline, no cache, bad folder: all mean "no reranker"
            message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise RagError(f"cannot load reranker {model_name!r}: {message}") from None
        self.model_name = model_name
        self.batch_size = batch_size

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        if not passages:
            return np.zeros(0, dtype=np.float32)
        pairs = [(query, passage) for passage in passages]
        scores = self.model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False)
        return np.asarray(scores, dtype=np.float32).reshape(len(passages), -1)[:, -1]
