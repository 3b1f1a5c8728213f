"""How an index's texts are embedded beyond the model itself: the query and document
prompts and the Matryoshka dimension, as one value every encoder applies.

Most current retrieval models expect a prompt before the text (e5: ``query: `` /
``passage: ``; nomic: ``search_query: `` / ``search_document: ``; bge: a query
instruction). sentence-transformers keeps them in the model's
``config_sentence_transformers.json`` (``prompts``, ``default_prompt_name``) and applies
them in ``encode_query`` / ``encode_document``; :func:`model_prompts` reads them the same
way. The prompts an index was built with are recorded in its manifest
(``query_prompt``, ``document_prompt``; absent = none), and so is ``dimensions``, so
its queries are always embedded as its documents were.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragcli.errors import IndexStateError, UsageError

if TYPE_CHECKING:
    import numpy as np

    from ragcli.config import Settings

ST_CONFIG_FILE = "config_sentence_transformers.json"
# The prompt names sentence-transformers' encode_document tries, in its order.
DOCUMENT_PROMPT_NAMES = ("document", "passage", "corpus")
MANIFEST_KEYS = ("query_prompt", "document_prompt", "dimensions")
SERVED_BACKENDS = ("ollama", "openai")  # embed_backend values computed by a server


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


def model_prompts(model_name: str) -> tuple[str, str]:
    """The model's own ``(query prompt, document prompt)``, as sentence-transformers'
    ``encode_query`` / ``encode_document`` choose them: the ``query`` prompt (the
    ``document``, ``passage`` or ``corpus`` one for documents), else the prompt named by
    ``default_prompt_name``, else none. ``("", "")`` when the config cannot be read."""
    config = _st_config(model_name)
    prompts = config.get("prompts")
    if not isinstance(prompts, dict):
        return "", ""
    prompts = {str(k): v for k, v in prompts.items() if isinstance(v, str)}
    default = prompts.get(str(config.get("default_prompt_name")), "")
    query = prompts.get("query", default)
    document = next((prompts[n] for n in DOCUMENT_PROMPT_NAMES if n in prompts), default)
    return query, document


def _st_config(model_name: str) -> dict:
    from ragcli.weights import _hub_file, resolve_model_path

    resolved = resolve_model_path(model_name)
    if Path(resolved).is_dir():
        path: Path | None = Path(resolved) / ST_CONFIG_FILE
    elif "/" in resolved and not resolved.startswith((".", "/", "~")):
        found = _hub_file(resolved, ST_CONFIG_FILE, required=False)
        path = Path(found) if found else None
    else:  # a served model's name (nomic-embed-text): no sentence-transformers config
        path = None
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path else {}
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


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


def chunking_model(settings: Settings) -> str:
    """The model whose tokenizer cuts the chunks: the embedding model, or for a served
    model that is not a Hugging Face model on this machine (``nomic-embed-text``), the
    default model's (packaged, so chunking works offline)."""
    from ragcli.weights import DEFAULT_EMBED_MODEL, canonical_name, local_model

    model = canonical_name(settings.embed_model)
    if settings.embed_backend in SERVED_BACKENDS and not local_model(model).available:
        return DEFAULT_EMBED_MODEL
    return model


def chunk_token_limit(settings: Settings, tokenizer) -> int | None:
    """The most tokens a chunk may take, special tokens included: the model's
    ``max_seq_length`` less the document prompt's tokens (the prompt is embedded with
    each chunk). None when unknown (a served model: the server truncates)."""
    from ragcli.weights import model_max_tokens, resolve_model_path

    model = chunking_model(settings)
    if model != settings.embed_model and settings.embed_backend in SERVED_BACKENDS:
        return None
    limit = model_max_tokens(resolve_model_path(model))
    prompt = new_index_spec(settings).document_prompt
    if limit is not None and prompt:
        limit -= len(tokenizer.encode(prompt, add_special_tokens=False).ids)
    return limit


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
