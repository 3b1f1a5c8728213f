"""The sentence-transformers encoder: the model run by torch, in this process.

sentence-transformers (and torch) are imported only when a model is first used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property

import numpy as np

from ragcli.embed.spec import NO_SPEC, EmbedSpec, check_dimension
from ragcli.weights import canonical_name, load_sentence_transformers


class SentenceTransformerEncoder:
    """The :class:`ragcli.embed.base.Encoder` that runs the model with sentence-transformers.

    ``spec``'s prompts are given to sentence-transformers as ``prompt`` (an empty one too,
    so a model's ``default_prompt_name`` never applies behind the index's back);
    ``expected_dimension``, the index's, is checked against every query vector.
    """

    variant = "float"

    def __init__(
        self,
        model_name: str,
        batch_size: int = 64,
        spec: EmbedSpec = NO_SPEC,
        device: str = "auto",
        expected_dimension: int | None = None,
    ):
        self.model_name = canonical_name(model_name)
        self.batch_size = batch_size
        self.spec = spec
        self.device = device
        self.expected_dimension = expected_dimension

    @cached_property
    def model(self):
        from ragcli.embed.device import torch_device

        device = torch_device(self.device)
        return load_sentence_transformers(
            "SentenceTransformer", self.model_name, "embedding model", device=device
        )

    @property
    def dimension(self) -> int:
        return self.spec.dimension_of(embedding_dimension(self.model))

    @property
    def max_seq_length(self) -> int:
        return int(self.model.max_seq_length)

    def encode(
        self,
        texts: Sequence[str],
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Embeddings of ``texts``, L2-normalised; ``progress(n)`` after each group of n."""
        return self.spec.finish(self._encode(texts, self.spec.document_prompt, progress))

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode_queries([text])[0]

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Queries in one batch, with the query prompt (``encode`` is for documents)."""
        vectors = self.spec.finish(self._encode(texts, self.spec.query_prompt))
        check_dimension(vectors.shape[1], self.expected_dimension, self.model_name)
        return vectors

    def _encode(
        self, texts: Sequence[str], prompt: str, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, embedding_dimension(self.model)), dtype=np.float32)
        group = self.batch_size * 16
        parts = []
        for start in range(0, len(texts), group):
            batch = list(texts[start : start + group])
            parts.append(
                self.model.encode(
                    batch,
                    prompt=prompt,
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            )
            if progress:
                progress(len(batch))
        return np.ascontiguousarray(np.vstack(parts), dtype=np.float32)


def embedding_dimension(model) -> int:
    """The vector size of a loaded SentenceTransformer (the method's name changed in 5.x)."""
    getter = (
        getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    )
    return int(getter())
