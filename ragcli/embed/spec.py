"""How an index's texts are embedded beyond the model itself: the query and document
prompts and the Matryoshka dimension, as one value every encoder applies.

Most current retrieval models expect a prompt before the text (e5: ``query: `` /
``passage: ``; nomic: ``search_query: `` / ``search_document: ``; bge: a query
instruction). sentence-transformers keeps them in the model's
``config_sentence_transformers.json`` (``prompts``, ``default_prompt_name``) and applies
them in ``encode_query`` / ``encode_document``; ``ragcli.weights.model_prompts`` reads
them the same way. The prompts an index was built with are recorded in its manifest
(``query_prompt``, ``document_prompt``; absent = none), and so is ``dimensions``, so
its queries are always embedded as its documents were.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from ragcli.errors import IndexStateError, UsageError
from ragcli.weights import model_prompts

if TYPE_CHECKING:
    import numpy as np

    from ragcli.config import Settings

MANIFEST_KEYS = ("query_prompt", "document_prompt", "dimensions")


@dataclass(frozen=True)
class EmbedSpec:
    """The prompts put before queries and documents, and the dimension vectors are cut to
    (None: the model's own), then L2-normalised again."""

    query_prompt: str = ""
    document_prompt: str = ""
    dimensions: int | None = None

    def documents(self, texts: Sequence[str]) -> list[str]:
        prompt = self.document_prompt
        return [prompt + text for text in texts] if prompt else list(texts)

    def query(self, text: str) -> str:
        return self.query_prompt + text

    def finish(self, vectors: np.ndarray) -> np.ndarray:
        """``vectors`` cut to ``dimensions`` and normalised again (unchanged without)."""
        if self.dimensions is None or vectors.shape[1] == self.dimensions:
            return vectors
        return truncate(vectors, self.dimensions)

    def dimension_of(self, model_dimension: int) -> int:
        """The vector size this spec gives for a model of ``model_dimension``."""
        if self.dimensions is None:
            return model_dimension
        if self.dimensions > model_dimension:
            raise UsageError(
                f"dimensions = {self.dimensions} is more than the embedding model's "
                f"{model_dimension}; choose at most {model_dimension}"
            )
        return self.dimensions

    def manifest_fields(self) -> dict[str, Any]:
        """What the manifest records: only what is set, so an index built without
        prompts or dimensions has the manifest it always had."""
        return {key: value for key, value in asdict(self).items() if value not in ("", None)}

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> EmbedSpec:
        return cls(**json.loads(text))

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any] | None) -> EmbedSpec:
        manifest = manifest or {}
        return cls(
            query_prompt=str(manifest.get("query_prompt") or ""),
            document_prompt=str(manifest.get("document_prompt") or ""),
            dimensions=manifest.get("dimensions"),
        )


NO_SPEC = EmbedSpec()


def truncate(vectors: np.ndarray, dimensions: int) -> np.ndarray:
    """The first ``dimensions`` of each row, L2-normalised (Matryoshka truncation)."""
    import numpy as np

    cut = np.asarray(vectors[:, :dimensions], dtype=np.float32)
    norms = np.linalg.norm(cut, axis=1, keepdims=True)
    return np.ascontiguousarray(cut / np.maximum(norms, 1e-12), dtype=np.float32)


def new_index_spec(settings: Settings) -> EmbedSpec:
    """The spec of a new index: the prompts the settings give (``query_prompt``,
    ``document_prompt``; an empty string is no prompt), else the model's own."""
    query, document = settings.query_prompt, settings.document_prompt
    if query is None or document is None:
        own_query, own_document = model_prompts(settings.embed_model)
        query = own_query if query is None else query
        document = own_document if document is None else document
    return EmbedSpec(query, document, settings.dimensions)


def index_spec(settings: Settings, manifest: Mapping[str, Any] | None) -> EmbedSpec:
    """The spec an ingest embeds with: the index's own for an existing index (a setting
    that differs is refused by ``ingest.check_compatible``), else ``new_index_spec``."""
    if not manifest:
        return new_index_spec(settings)
    return EmbedSpec.from_manifest(manifest)


def settings_with_spec(settings: Settings, spec: EmbedSpec) -> Settings:
    """``settings`` with unset prompts and dimensions taken from ``spec``."""
    from dataclasses import replace

    return replace(
        settings,
        query_prompt=spec.query_prompt if settings.query_prompt is None else settings.query_prompt,
        document_prompt=(
            spec.document_prompt if settings.document_prompt is None else settings.document_prompt
        ),
        dimensions=spec.dimensions if settings.dimensions is None else settings.dimensions,
    )


def check_query_spec(manifest: Mapping[str, Any], settings: Settings, encoder) -> None:
    """IndexStateError unless queries are embedded as the index's documents were: the
    settings' query prompt (when set) and the encoder's prompt and dimensions must be the
    manifest's."""
    if not manifest:  # no index yet: nothing to match
        return
    check_search_settings(manifest, settings)
    built = EmbedSpec.from_manifest(manifest)
    spec = getattr(encoder, "spec", None)
    if spec is None:
        return
    if spec.query_prompt != built.query_prompt:
        raise IndexStateError(_refusal("query_prompt", built.query_prompt, spec.query_prompt))
    if spec.dimensions != built.dimensions:
        raise IndexStateError(_refusal("dimensions", built.dimensions, spec.dimensions))


def check_search_settings(manifest: Mapping[str, Any], settings: Settings) -> None:
    """IndexStateError when a query setting asks for other prompts or dimensions than
    the index's documents were embedded with."""
    built = EmbedSpec.from_manifest(manifest)
    for name in ("query_prompt", "dimensions"):
        asked = getattr(settings, name)
        if asked is not None and asked != getattr(built, name):
            raise IndexStateError(_refusal(name, getattr(built, name), asked))


def check_dimension(got: int, expected: int | None, source: str) -> None:
    """IndexStateError (one line) when ``source`` makes vectors of another size than the
    index holds."""
    if expected is not None and got != expected:
        raise IndexStateError(
            f"the index holds {expected}-dimensional vectors but {source} makes {got}-"
            "dimensional ones; use the index's model and dimensions, or rebuild it "
            "(rag ingest --rebuild)"
        )


def _refusal(what: str, built: Any, asked: Any) -> str:
    return (
        f"the index's documents were embedded for queries with {what} {built!r}, not "
        f"{asked!r}; leave {what} unset to use the index's"
    )
