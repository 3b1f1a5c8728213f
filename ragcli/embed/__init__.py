"""The embed stage: texts to L2-normalised float32 vectors.

One :class:`Encoder` protocol (``base``), one module per backend
(``sentence_transformer``: torch in this process; ``onnx``: ONNX Runtime, float or int8,
with ``onnx_export`` making the exports; ``ray``: a pool of Ray actors; ``served``: an
Ollama or OpenAI-compatible server), ``spec`` (the prompts and Matryoshka dimensions every
backend applies), ``device`` (CPU or GPU) and one ``factory`` that chooses between them by name
(``ENCODERS``, a ``ragcli.registry.Registry``: a plugin registers its own backend there).
Importing this package imports no backend (and neither torch nor numpy): the backend
classes are imported when first named.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragcli.embed.base import Encoder
from ragcli.embed.factory import (
    AUTO,
    DEFAULT_BACKEND,
    EMBED_BACKENDS,
    ENCODERS,
    SERVED_VARIANTS,
    EncoderBackend,
    EncoderRequest,
    embed_variant,
    export_for_queries,
    ingest_encoder,
    onnx_cache_dir,
    onnx_or_torch,
    query_encoder,
    resolve_backend,
    torch_encoder,
)

if TYPE_CHECKING:
    from ragcli.embed.onnx import OnnxEncoder
    from ragcli.embed.ray import RayEncoder
    from ragcli.embed.sentence_transformer import SentenceTransformerEncoder

_BACKEND_CLASSES = {
    "OnnxEncoder": "ragcli.embed.onnx",
    "RayEncoder": "ragcli.embed.ray",
    "SentenceTransformerEncoder": "ragcli.embed.sentence_transformer",
}

__all__ = [
    "AUTO",
    "DEFAULT_BACKEND",
    "EMBED_BACKENDS",
    "ENCODERS",
    "SERVED_VARIANTS",
    "Encoder",
    "EncoderBackend",
    "EncoderRequest",
    "OnnxEncoder",
    "RayEncoder",
    "SentenceTransformerEncoder",
    "embed_variant",
    "export_for_queries",
    "ingest_encoder",
    "onnx_cache_dir",
    "onnx_or_torch",
    "query_encoder",
    "resolve_backend",
    "torch_encoder",
]


def __getattr__(name: str):
    if name in _BACKEND_CLASSES:
        import importlib

        return getattr(importlib.import_module(_BACKEND_CLASSES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
