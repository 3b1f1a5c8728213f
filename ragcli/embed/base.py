"""What every encoder offers: texts in, L2-normalised float32 vectors out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np


class Encoder(Protocol):
    """An embedding model, whichever backend runs it (sentence-transformers on torch,
    ONNX Runtime in float or int8, a pool of Ray actors).

    ``variant`` names the vectors it makes: ``"float"`` (torch, float ONNX and Ray agree
    to a cosine of 0.999, so any of them can extend an index) or ``"int8"``. An encoder
    whose model takes long to load may also have ``load()``, which loads it now; the
    index calls it in a background thread before the first query.
    """

    model_name: str
    variant: str

    @property
    def dimension(self) -> int: ...

    def encode(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Embeddings of ``texts`` in order, one row each; ``progress(n)`` after each
        group of n texts."""
        ...

    def encode_query(self, text: str) -> np.ndarray:
        """One query's embedding, with the query prompt (``encode`` gives documents the
        document prompt; ``encode_queries``, where there is one, embeds queries in a
        batch)."""
        ...
