"""Settings from defaults, config files and ``RAG_*`` environment variables.

Precedence, lowest first: built-in defaults, the user file
(``$XDG_CONFIG_HOME/ragcli/config.toml``), the project file (``ragcli.toml`` next to the
``.rag/`` folder, or in the working directory), ``RAG_<NAME>`` environment variables,
then command-line flags (applied by the CLI with ``Settings.with_overrides``).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ragcli.errors import UsageError
from ragcli.types import SearchFilter, SearchParams
from ragcli.weights import DEFAULT_EMBED_MODEL, DEFAULT_RERANK_MODEL

PROJECT_CONFIG_NAME = "ragcli.toml"


@dataclass(frozen=True)
class Settings:
    # ingest
    embed_model: str = DEFAULT_EMBED_MODEL
    chunk_size: int = 200  # word pieces of the embedding model's tokenizer
    chunk_overlap: int = 32
    embed_batch_size: int = 64
    # what ingest embeds with: torch (sentence-transformers), onnx (the same model under
    # ONNX Runtime, same vectors) or onnx-int8 (quantised: faster, nDCG@10 within 0.01)
    embed_backend: str = "torch"
    engine: str = "local"  # local | ray: where ingest embeds (docs/scale-out.md)
    ray_address: str | None = None  # Ray cluster for --engine ray; None = $RAY_ADDRESS or local
    # where the index lives: None/"local" = .rag/<name>/; milvus://HOST:PORT or milvus-lite:PATH
    store: str | None = None
    # search
    k: int = 5
    mode: str = "hybrid"  # dense | sparse | hybrid
    alpha: float = 0.7  # dense weight: 1 = pure dense, 0 = pure BM25 (docs/retrieval.md)
    fusion: str = "minmax"  # minmax | rrf
    pool_factor: int = 5  # each side returns pool_factor * k candidates before fusion
    rerank: bool = True
    rerank_model: str = DEFAULT_RERANK_MODEL
    rerank_depth: int = 20  # fused candidates the cross-encoder scores
    # generation
    llm: str | None = None  # claude | ollama | openai | extractive; None = auto
    llm_model: str | None = None
    base_url: str | None = None
    temperature: float = 0.0
    max_tokens: int = 1024
    max_context_tokens: int = 3000
    prompt_template: str | None = None  # path to a user template file

    def with_overrides(self, **values: Any) -> Settings:
        """A copy with the given non-None values replaced (flags the user did pass)."""
        given = {key: value for key, value in values.items() if value is not None}
        return dataclasses.replace(self, **given)

    def search_params(self, filters: SearchFilter | None = None) -> SearchParams:
        """The retrieval settings as one ``SearchParams`` value."""
        return SearchParams(
            k=self.k,
            mode=self.mode,
            alpha=self.alpha,
            fusion=self.fusion,
            pool_factor=self.pool_factor,
            rerank=self.rerank,
            rerank_model=self.rerank_model,
            rerank_depth=self.rerank_depth,
            filters=filters or SearchFilter(),
        )


SEARCH_FIELDS = tuple(f.name for f in fields(SearchParams) if f.name != "filters")


def _coerce(name: str, raw: Any, target: type | str, origin: str) -> Any:
    kind = target if isinstance(target, str) else target.__name__
    try:
        if "bool" in kind:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if "int" in kind:
            return int(raw)
        if "float" in kind:
            return float(raw)
        return str(raw)
    except (TypeError, ValueError):
        raise UsageError(f"{origin}: {name} = {raw!r} is not a valid {kind}") from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"{path}: invalid TOML: {err}") from None
    except OSError as err:
        raise UsageError(f"{path}: cannot read config: {err.strerror}") from None
    return data


def cache_dir() -> Path:
    """ragcli's per-user cache (model exports, remote stores' local state):
    ``$RAG_CACHE_DIR``, else ``$XDG_CACHE_HOME/ragcli`` (``~/.cache/ragcli``)."""
    if os.environ.get("RAG_CACHE_DIR"):
        return Path(os.environ["RAG_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ragcli"


def user_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ragcli" / "config.toml"


def load_settings(project_dir: Path | None = None, env: dict[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    known = {f.name: f.type for f in fields(Settings)}
    values: dict[str, Any] = {}
    candidates = [user_config_path()]
    if project_dir is not None:
        candidates.append(project_dir / PROJECT_CONFIG_NAME)
    for path in candidates:
        if not path.is_file():
            continue
        for name, raw in _read_toml(path).items():
            key = name.replace("-", "_")
            if key not in known:
                raise UsageError(f"{path}: unknown setting {name!r}")
            values[key] = _coerce(key, raw, known[key], str(path))
    for key, kind in known.items():
        raw = env.get(f"RAG_{key.upper()}")
        if raw is not None and raw != "":
            values[key] = _coerce(key, raw, kind, f"RAG_{key.upper()}")
    return Settings(**values)
