"""The one place that chooses an encoder: for ingest, for queries, and where the ONNX
exports live.

Backends (``embed_backend``) and the vectors they make: ``torch`` (sentence-transformers,
in this process or, with ``engine = "ray"``, on Ray actors), ``onnx`` (the same vectors
from ONNX Runtime), ``onnx-int8`` (int8 vectors, a different index) and
``onnx-int8-fused`` (int8 over ONNX Runtime's fused transformer graph: the default for a
new index, ``auto``; docs/benchmarks.md "Ingest at the machine's limit"), and the served
ones, ``ollama`` and ``openai`` (``ragcli.embed.served``: the vectors of that server's
model, a variant of their own). Queries are
embedded as the index's chunks were: with ONNX Runtime when the model is exported (no
torch import), else with sentence-transformers. The backends are registered by name in
``ENCODERS`` (``EncoderBackend``: the variant and its two encoders), where a plugin adds its
own. Importing this module imports no backend.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragcli.config import Settings, cache_dir
from ragcli.embed.base import Encoder
from ragcli.embed.device import check_device
from ragcli.embed.spec import EmbedSpec, check_query_spec, index_spec, new_index_spec
from ragcli.errors import IndexStateError, RagError, UsageError
from ragcli.registry import Registry
from ragcli.weights import SERVED_BACKENDS

SERVED_VARIANTS = SERVED_BACKENDS  # the served backends name their own variants
# ``auto``: a new index gets DEFAULT_BACKEND; an existing one keeps the backend of its
# own vectors (float indexes of older versions go on with torch).
AUTO = "auto"
DEFAULT_BACKEND = "onnx-int8-fused"

Warn = Callable[[str], None]


@dataclass(frozen=True)
class EncoderRequest:
    """What an embedding backend makes an encoder from."""

    settings: Settings
    spec: EmbedSpec  # the index's prompts and dimensions (``ragcli.embed.spec``)
    manifest: Mapping[str, Any]  # the index's manifest, empty for a new index
    warn: Warn
    backend: str  # the registered name the encoder is made for
    loaded: Encoder | None = None  # a sentence-transformers encoder already in memory


@dataclass(frozen=True)
class EncoderBackend:
    """An embedding backend (``embed_backend = NAME``): the vectors it makes (the
    manifest's ``embed_variant``), and its encoder for an ingest and for queries."""

    variant: str
    for_ingest: Callable[[EncoderRequest], Encoder]
    for_queries: Callable[[EncoderRequest], Encoder]


ENCODERS: Registry[EncoderBackend] = Registry(
    "embed backend", group="ragcli.encoders", special=(AUTO,)
)
"""Embedding backends by name (registered at the end of this module)."""


def embed_variant(backend: str) -> str:
    """The vectors an embedding backend makes: ``float`` (torch and ONNX agree to a
    cosine of 0.999, so either can extend an index) or ``int8``."""
    return ENCODERS.get(DEFAULT_BACKEND if backend == AUTO else backend).variant


def backend_of_variant(variant: str) -> str | None:
    """The first backend registered that makes ``variant`` vectors (``float``: torch)."""
    for entries in (ENCODERS.registered, lambda: [ENCODERS.entry(name) for name in ENCODERS]):
        for entry in entries():
            if entry.load().variant == variant:
                return entry.name
    return None


def resolve_backend(
    settings: Settings, manifest: Mapping[str, Any] | None, warn: Warn | None = None
) -> str:
    """The backend an ingest embeds with: ``settings.embed_backend`` itself, or for
    ``auto`` the one of the index's own vectors; a new index gets ``DEFAULT_BACKEND``
    when its export can be made (made now if missing), else torch."""
    backend = settings.embed_backend
    if backend != AUTO:
        return ENCODERS.canonical(backend)  # a UsageError for an unknown name
    if manifest:
        return backend_of_variant(manifest.get("embed_variant", "float")) or "torch"
    if settings.engine != "local":
        return "torch"
    import importlib.util

    if importlib.util.find_spec("onnxruntime") is None:
        return "torch"
    from ragcli.embed.onnx_export import ensure_export
    from ragcli.weights import canonical_name

    model = canonical_name(settings.embed_model)
    variant = embed_variant(DEFAULT_BACKEND)
    usable = ensure_export(model, onnx_cache_dir(model), variant=variant, warn=warn)
    return DEFAULT_BACKEND if usable else "torch"


def onnx_cache_dir(model: str) -> Path:
    """The folder of ``model``'s ONNX export: ``<cache>/onnx/<model-slug>/``."""
    from ragcli.embed.onnx import model_slug

    return cache_dir() / "onnx" / model_slug(model)


def ingest_encoder(
    settings: Settings,
    *,
    warn: Warn,
    loaded: Encoder | None = None,
    manifest: Mapping[str, Any] | None = None,
) -> Encoder:
    """The encoder ingest embeds chunks with, from ``embed_backend`` and ``engine``
    (``auto`` resolved against ``manifest``, the index's, None for a new index).

    ``loaded`` is a sentence-transformers encoder already made for this model, reused
    for a local torch ingest when it has the index's prompts. An ONNX backend exports the
    model first if needed, and is a RagError when that cannot be done (ingest never falls
    back to other vectors). Every encoder applies the index's prompts and dimensions
    (``ragcli.embed.spec``).
    """
    check_device(settings.device)
    if manifest and _other_model(manifest, settings):
        # The run refuses these settings (ingest.manifest.check_compatible) before it
        # embeds anything: make no export for a model the index does not use.
        return torch_encoder(manifest, settings)
    spec = index_spec(settings, manifest)
    backend = resolve_backend(settings, manifest, warn)
    request = EncoderRequest(settings, spec, manifest or {}, warn, backend, loaded)
    return ENCODERS.get(backend).for_ingest(request)


def _torch_for_ingest(request: EncoderRequest) -> Encoder:
    """sentence-transformers in this process, or on Ray actors (``engine = "ray"``)."""
    settings, spec, loaded = request.settings, request.spec, request.loaded
    if settings.engine == "ray":
        from ragcli.embed.ray import RayEncoder

        return RayEncoder(
            settings.embed_model,
            settings.embed_batch_size,
            address=settings.ray_address,
            warn=request.warn,
            spec=spec,
        )
    if settings.engine != "local":
        raise UsageError(f"unknown engine {settings.engine!r}: choose local or ray")
    if loaded is not None and getattr(loaded, "spec", None) == spec:
        return loaded
    return _torch(settings.embed_model, settings, spec)


def _in_this_process(settings: Settings) -> None:
    if settings.engine != "local":
        raise UsageError(f"--engine {settings.engine} embeds with torch only")


def _onnx_for_ingest(request: EncoderRequest) -> Encoder:
    _in_this_process(request.settings)
    variant = embed_variant(request.backend)
    return _onnx_ingest_encoder(
        request.settings, request.backend, variant, request.warn, request.spec
    )


def _served_for_ingest(request: EncoderRequest) -> Encoder:
    _in_this_process(request.settings)
    return served_encoder(request.backend, request.settings, request.spec, request.manifest)


def _other_model(manifest: Mapping[str, Any], settings: Settings) -> bool:
    from ragcli.weights import canonical_name

    indexed = manifest.get("embed_model")
    return bool(indexed) and canonical_name(indexed) != canonical_name(settings.embed_model)


def _onnx_ingest_encoder(
    settings: Settings, backend: str, variant: str, warn: Warn, spec: EmbedSpec
) -> Encoder:
    from ragcli.embed.onnx import OnnxEncoder
    from ragcli.weights import canonical_name

    model = canonical_name(settings.embed_model)
    encoder = onnx_or_torch(
        model,
        onnx_cache_dir(model),
        variant=variant,
        batch_size=settings.embed_batch_size,
        warn=warn,
        spec=spec,
        device=settings.device,
    )
    if not isinstance(encoder, OnnxEncoder) or encoder.variant != variant:
        raise RagError(f"{model}: cannot make its {backend} encoder (see above)")
    return encoder


def served_encoder(
    backend: str, settings: Settings, spec: EmbedSpec, manifest: Mapping[str, Any] | None
) -> Encoder:
    """The encoder of an embedding server: ``embed_base_url`` from the settings, else the
    one the index was built with, else the backend's usual address."""
    from ragcli.embed.served import CONCURRENCY, ServedEncoder

    manifest = manifest or {}
    return ServedEncoder(
        backend,
        manifest.get("embed_model") or settings.embed_model,
        settings.embed_base_url or manifest.get("embed_base_url"),
        spec=spec,
        batch_size=settings.embed_batch_size,
        concurrency=settings.embed_workers or CONCURRENCY,
        expected_dimension=manifest.get("dimension"),
    )


def torch_encoder(manifest: Mapping[str, Any], settings: Settings) -> Encoder:
    """The sentence-transformers encoder of the index's model, prompts and dimensions (the
    settings' for an index not made yet); the model is loaded on first use."""
    model = manifest.get("embed_model") or settings.embed_model
    return _torch(model, settings, index_spec(settings, manifest), manifest.get("dimension"))


def _torch(model: str, settings: Settings, spec: EmbedSpec, dimension: int | None = None):
    from ragcli.embed.sentence_transformer import SentenceTransformerEncoder

    return SentenceTransformerEncoder(
        model, settings.embed_batch_size, spec, settings.device, expected_dimension=dimension
    )


def query_encoder(
    manifest: Mapping[str, Any],
    settings: Settings,
    *,
    warn: Warn,
    loaded: Encoder | None = None,
) -> Encoder:
    """The encoder for an index's queries: they are embedded as its chunks were, with
    the manifest's query prompt and dimensions (a setting asking for others, or a
    ``loaded`` encoder with others, is an IndexStateError: ``check_query_spec``).

    ONNX Runtime over the export of the manifest's model and variant (exported now if
    missing: this imports torch once); ``loaded``, a sentence-transformers encoder
    already in memory, is used instead for float vectors.
    """
    check_device(settings.device)
    variant = manifest.get("embed_variant", "float")
    backend = backend_of_variant(variant)
    if backend is None:
        raise IndexStateError(
            f"the index's vectors are {variant!r}, which no embed backend makes "
            "(a plugin that is not installed?)"
        )
    spec = index_spec(settings, manifest)
    request = EncoderRequest(settings, spec, manifest, warn, backend, loaded)
    return ENCODERS.get(backend).for_queries(request)


def _served_for_queries(request: EncoderRequest) -> Encoder:
    check_query_spec(request.manifest, request.settings, None)
    return served_encoder(request.backend, request.settings, request.spec, request.manifest)


def _float_for_queries(request: EncoderRequest) -> Encoder:
    if request.loaded is not None:  # torch is loaded already
        check_query_spec(request.manifest, request.settings, request.loaded)
        return request.loaded
    return _onnx_for_queries(request)


def _onnx_for_queries(request: EncoderRequest) -> Encoder:
    """ONNX Runtime over the export of the index's model and variant, else torch."""
    manifest, settings = request.manifest, request.settings
    model = manifest.get("embed_model") or settings.embed_model
    encoder = onnx_or_torch(
        model,
        onnx_cache_dir(model),
        variant=embed_variant(request.backend),
        batch_size=settings.embed_batch_size,
        warn=request.warn,
        spec=request.spec,
        device=settings.device,
        expected_dimension=manifest.get("dimension"),
    )
    check_query_spec(manifest, settings, encoder)
    return encoder


def onnx_or_torch(
    model_name: str,
    folder: str | os.PathLike,
    *,
    variant: str = "float",
    export: bool = True,
    batch_size: int = 64,
    warn: Warn | None = None,
    spec: EmbedSpec | None = None,
    device: str = "auto",
    expected_dimension: int | None = None,
) -> Encoder:
    """An :class:`~ragcli.embed.onnx.OnnxEncoder` over the export in ``folder`` when it is
    there (or, with ``export``, can be made now: this imports torch once), else the
    sentence-transformers encoder.

    ``variant`` is ``"float"`` (matches sentence-transformers) or ``"int8"``; when the
    int8 model cannot be made, the float one is used if it is there. ``spec``: the
    prompts and dimensions (None: the model's own prompts, as for a new index).
    """
    if spec is None:
        spec = new_index_spec(Settings(embed_model=model_name))
    options = {"spec": spec, "device": device, "expected_dimension": expected_dimension}
    import importlib.util

    from ragcli.embed.onnx import MODEL_FILES

    if variant not in MODEL_FILES:
        raise ValueError(f"variant must be one of {sorted(MODEL_FILES)}")
    folder = Path(folder)
    if importlib.util.find_spec("onnxruntime") is not None:
        from ragcli.embed.onnx import OnnxEncoder, is_exported

        if export:
            from ragcli.embed.onnx_export import ensure_export

            usable = ensure_export(model_name, folder, variant=variant, warn=warn)
        else:
            usable = is_exported(folder, model_name, variant)
        if usable:
            return OnnxEncoder(folder, variant, batch_size, **options)
        if variant != "float" and is_exported(folder, model_name, "float"):
            return OnnxEncoder(folder, "float", batch_size, **options)
    from ragcli.embed.sentence_transformer import SentenceTransformerEncoder

    return SentenceTransformerEncoder(model_name, batch_size, **options)


def export_for_queries(manifest: Mapping[str, Any], *, warn: Warn) -> bool:
    """After an ingest: make the ONNX export the index's queries will use, unless it is
    there; True when it is usable. Never raises over the export (see ``ensure_export``)."""
    from ragcli.embed.onnx_export import ensure_export

    model = manifest["embed_model"]
    variant = manifest.get("embed_variant", "float")
    if variant in SERVED_VARIANTS:  # the server embeds the queries too
        return False
    return ensure_export(model, onnx_cache_dir(model), variant=variant, warn=warn)


def _register_builtins() -> None:
    for name, variant, ingest, queries, description in (
        ("torch", "float", _torch_for_ingest, _float_for_queries, "sentence-transformers (torch)"),
        ("onnx", "float", _onnx_for_ingest, _float_for_queries, "ONNX Runtime, float vectors"),
        ("onnx-int8", "int8", _onnx_for_ingest, _onnx_for_queries, "ONNX Runtime, int8 vectors"),
        ("onnx-int8-fused", "int8-fused", _onnx_for_ingest, _onnx_for_queries,
         "int8 over ONNX Runtime's fused transformer graph"),
        ("ollama", "ollama", _served_for_ingest, _served_for_queries, "an Ollama server's model"),
        ("openai", "openai", _served_for_ingest, _served_for_queries,
         "an OpenAI-compatible /v1/embeddings server"),
    ):  # fmt: skip
        ENCODERS.register(name, EncoderBackend(variant, ingest, queries), description=description)


_register_builtins()
EMBED_BACKENDS = {entry.name: entry.target.variant for entry in ENCODERS.registered()}
"""The built-in backends and the vectors each makes."""
