"""The embedding model an ingest runs with: the settings made concrete for the index
once (backend, prompts, dimensions, server, OCR), the encoder made from them, and the
warnings about it (a corpus an English-only model will match poorly)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from ragcli.config import Settings

Warn = Callable[[str], None]


def resolved_settings(settings: Settings, manifest: Mapping[str, Any] | None, warn: Warn):
    """The settings with ``embed_backend = auto`` made concrete for this index (the one
    place the backend is resolved: an ``auto`` new index may export its ONNX model
    here), unset prompts and dimensions those of the index (a new one: the model's) and
    the index's embedding server unless the settings name one."""
    from ragcli.embed import resolve_backend
    from ragcli.embed.spec import index_spec, settings_with_spec

    settings = replace(settings, embed_backend=resolve_backend(settings, manifest, warn))
    settings = settings_with_spec(settings, index_spec(settings, manifest))
    if manifest and not settings.embed_base_url and manifest.get("embed_base_url"):
        settings = replace(settings, embed_base_url=manifest["embed_base_url"])
    return settings


def with_index_ocr(settings: Settings, manifest: Mapping[str, Any] | None) -> Settings:
    """OCR kept on for an index built with it, so a later plain ``rag ingest`` does not
    drop the images it read."""
    if manifest and manifest.get("ocr") and not settings.ocr:
        return replace(settings, ocr=True)
    return settings


def exports_model(settings: Settings, manifest: Mapping[str, Any] | None) -> bool:
    """Whether resolving the settings and making the encoder will first export the
    embedding model to ONNX for this machine (once per model and machine, in the
    user's cache): the wait ingest shows as "prepare"."""
    import importlib.util

    from ragcli.embed import AUTO, DEFAULT_BACKEND, EMBED_BACKENDS

    if settings.engine != "local" or importlib.util.find_spec("onnxruntime") is None:
        return False
    backend = settings.embed_backend
    if backend == AUTO:
        variant = (manifest or {}).get("embed_variant") or EMBED_BACKENDS[DEFAULT_BACKEND]
    else:
        variant = EMBED_BACKENDS.get(backend, "float")
    if backend == "torch" or (backend == AUTO and variant == "float" and manifest):
        return False
    from ragcli.embed import onnx_cache_dir
    from ragcli.embed.onnx import is_exported
    from ragcli.weights import canonical_name

    model = canonical_name(settings.embed_model)
    return not is_exported(onnx_cache_dir(model), model, variant)


class TextSample:
    """Up to ``size`` texts evenly spaced over all those offered (every ``stride``-th
    one, the stride doubling whenever the sample fills), for the language check."""

    def __init__(self, size: int = 200):
        self.size = size
        self.stride = 1
        self.seen = 0
        self.texts: list[str] = []

    def offer(self, text: str) -> None:
        if self.seen % self.stride == 0:
            self.texts.append(text)
            if len(self.texts) > self.size:
                self.texts = self.texts[::2]
                self.stride *= 2
        self.seen += 1


def warn_about_language(sample: TextSample, model: str, warn: Warn) -> None:
    """Warn when the sampled chunks are mostly not English and ``model`` is English-only."""
    from ragcli.text import language_hint
    from ragcli.weights import english_only, language_warning

    if not sample.texts or not english_only(model):
        return
    language = language_hint("\n".join(sample.texts))
    if language:
        warn(language_warning("the text just ingested", language, model))
