"""The rerank stage: a sentence-transformers CrossEncoder rescoring fused candidates."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ragcli.errors import RagError
from ragcli.text import index_text
from ragcli.types import Hit
from ragcli.weights import load_sentence_transformers, local_model


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
    reported once through ``warn``.

    A search that did not ask for reranking (the default) reranks only when the model is
    already on this machine (``weights.local_model``: a few ``stat`` calls); otherwise it
    runs without, quietly (``rag status`` says so), and never imports torch.
    """

    def __init__(self, warn: Callable[[str], None], load: Callable[[str], Reranker] = Reranker):
        self.warn = warn
        self.load = load
        self._loaded: dict[str, Reranker | None] = {}
        self.problems: dict[str, str] = {}  # why a model could not load, by name

    def get(self, model_name: str) -> Reranker | None:
        if model_name not in self._loaded:
            try:
                self._loaded[model_name] = self.load(model_name)
            except RagError as err:
                self.warn(f"{err}; results are not reranked")
                self._loaded[model_name] = None
                self.problems[model_name] = str(err)
        return self._loaded[model_name]

    def rerank(
        self, model_name: str, explicit: bool = True
    ) -> Callable[[str, list[Hit]], list[Hit]] | None:
        """The rerank step for ``retrieve.search``, or None to search without reranking
        (``explicit`` False and the model absent). The model loads at its first use, and
        the step is a no-op when it cannot load."""
        if not explicit and not local_model(model_name).available:
            return None

        def step(query: str, hits: list[Hit]) -> list[Hit]:
            reranker = self.get(model_name)
            return hits if reranker is None else rerank_hits(reranker, query, hits)

        return step

    def for_params(self, params) -> Callable[[str, list[Hit]], list[Hit]] | None:
        """The rerank step a search with ``params`` (``types.SearchParams``) runs: none
        when ``rerank`` is False; when unset (None), only if the model is here."""
        if params.rerank is False:
            return None
        return self.rerank(params.rerank_model, params.rerank is True)


def unavailable(model_name: str) -> str | None:
    """Why ``model_name`` cannot rerank here without fetching anything, or None when it
    can. Only ``stat`` calls: neither torch nor the model is loaded."""
    found = local_model(model_name)
    if not found.available:
        return f"the rerank model {model_name} is not on this machine ({found.where})"
    return None


def status(model_name: str, enabled: bool | None) -> dict[str, object]:
    """The rerank entry of ``rag status``: the model, whether searches use it, and why."""
    found = local_model(model_name)
    if enabled is False:
        use = "off (rerank = false)"
    elif found.available:
        use = "on"
    else:
        use = (
            "off: not on this machine (--rerank fetches it)"
            if enabled is None
            else "on, fetched at first search"
        )
    return {"model": model_name, "available": found.available, "where": found.where, "use": use}
