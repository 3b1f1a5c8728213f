"""What an index's manifest records about how it was built, and the check that a run's
settings match it (so one index never mixes two models' vectors or two chunkings)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ragcli.chunk import chunking_model
from ragcli.config import Settings
from ragcli.embed import embed_variant
from ragcli.embed.spec import MANIFEST_KEYS, new_index_spec
from ragcli.errors import IndexStateError


def expected_manifest(settings: Settings) -> dict[str, Any]:
    """How an index built with ``settings`` makes its vectors and chunks: what ingest
    hands the store writer, which adds what it stores itself (BM25 params, dimension,
    counts, ...: ``ragcli.store.base.manifest_of``)."""
    from ragcli.weights import canonical_name

    model = canonical_name(settings.embed_model)
    # Float vectors (torch or ONNX) leave the key out, so the manifests and eval-index
    # keys of existing indexes stay as they were.
    variant = embed_variant(settings.embed_backend)
    return {
        **({"embed_variant": variant} if variant != "float" else {}),
        "embed_model": model,
        "chunking": {"size": settings.chunk_size, "overlap": settings.chunk_overlap},
        "tokenizer": canonical_name(chunking_model(settings)),
        # the prompts and Matryoshka dimensions, only when there are any (ragcli.embed.spec)
        **new_index_spec(settings).manifest_fields(),
        # OCR stays on for an index built with it (Index.ingest), so its images stay
        **({"ocr": True} if settings.ocr else {}),
        **_server(settings, variant),
    }


def _server(settings: Settings, variant: str) -> dict[str, Any]:
    """Where a served index's vectors come from (no credentials: ``display_url``), so its
    queries go there too unless ``embed_base_url`` says otherwise."""
    from ragcli.embed import SERVED_VARIANTS

    if variant not in SERVED_VARIANTS:
        return {}
    from ragcli.embed.served import default_base_url, display_url

    return {"embed_base_url": display_url(settings.embed_base_url or default_base_url(variant))}


def check_compatible(manifest: dict[str, Any], settings: Settings, index_dir: Path | str) -> None:
    from ragcli.weights import canonical_name

    wanted = expected_manifest(settings)
    wanted.pop("ocr", None)  # OCR may be turned on for an existing index
    wanted.pop("embed_base_url", None)  # the same model may be served from elsewhere
    found = dict(manifest)
    for key in ("embed_model", "tokenizer"):  # an alias names the same model
        if isinstance(found.get(key), str):
            found[key] = canonical_name(found[key])
    wanted.setdefault("embed_variant", "float")
    found.setdefault("embed_variant", "float")
    for key in MANIFEST_KEYS:  # absent = no prompt, the model's own dimensions
        absent = None if key == "dimensions" else ""
        wanted.setdefault(key, absent)
        found.setdefault(key, absent)
    differences = [
        f"{key} {found.get(key)!r} (asked for {value!r})"
        for key, value in wanted.items()
        if found.get(key) != value
    ]
    if differences:
        raise IndexStateError(
            f"{index_dir}: index was built with different settings: {'; '.join(differences)}; "
            "use the index's settings, another --index, or --rebuild to rebuild it"
        )
