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

from ragcli.errors import UsageError, require_utf8
from ragcli.types import (  # noqa: F401 (SEARCH_FIELDS: re-exported)
    SEARCH_FIELDS,
    SEARCH_OPTIONS,
    SearchFilter,
    SearchOptions,
    SearchParams,
)
from ragcli.weights import DEFAULT_EMBED_MODEL

PROJECT_CONFIG_NAME = "ragcli.toml"
# Search options of one query only (``setting=False``): no config file or RAG_* sets them.
PER_QUERY = frozenset(name for name, option in SEARCH_OPTIONS.items() if not option.setting)


@dataclass(frozen=True)
class Settings(SearchOptions):
    """Every setting: the search options (``SearchOptions``, declared in ragcli.types)
    and the ingest and generation settings below."""

    # ingest
    embed_model: str = DEFAULT_EMBED_MODEL
    chunk_size: int = 200  # word pieces of the embedding model's tokenizer
    chunk_overlap: int = 32
    embed_batch_size: int = 64
    # what ingest embeds with: auto (a new index: onnx-int8-fused; an existing one: the
    # backend of its own vectors), torch (sentence-transformers), onnx (the same model
    # under ONNX Runtime, same vectors), onnx-int8 or onnx-int8-fused (quantised, faster)
    embed_backend: str = "auto"
    # processes that embed at ingest with an int8 backend, one thread each: 0 = one per
    # CPU this process may use, 1 = in this process (ragcli.embed.pool)
    embed_workers: int = 0
    # put before each query / chunk when embedding; None = the model's own prompts (its
    # config_sentence_transformers.json), "" = none. An index keeps the ones it was built with
    query_prompt: str | None = None
    document_prompt: str | None = None
    dimensions: int | None = None  # Matryoshka models: cut vectors to this size, renormalised
    # the server of embed_backend = ollama | openai; None = http://127.0.0.1:11434 (Ollama),
    # $OPENAI_BASE_URL or https://api.openai.com/v1 (OpenAI). The key comes from
    # $RAG_EMBED_API_KEY or $OPENAI_API_KEY only, never from a setting
    embed_base_url: str | None = None
    device: str = "auto"  # auto | cpu | cuda: where torch and ONNX Runtime embed
    engine: str = "local"  # local | ray: where ingest embeds (docs/scale-out.md)
    ray_address: str | None = None  # Ray cluster for --engine ray; None = $RAY_ADDRESS or local
    # where the index lives: None/"local" = .rag/<name>/; milvus://HOST:PORT or milvus-lite:PATH
    store: str | None = None
    ocr: bool = False  # read scanned PDF pages and images of text (the ocr extra)
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
        for key, value in given.items():
            check_range(key, value, flag_name(key))
        return dataclasses.replace(self, **given)

    def search_params(self, filters: SearchFilter | None = None) -> SearchParams:
        """The retrieval settings as one ``SearchParams`` value."""
        options = {name: getattr(self, name) for name in SEARCH_FIELDS}
        return SearchParams(**options, filters=filters or SearchFilter())


# Allowed ranges of the numeric settings: (lowest, highest), None = unbounded; the search
# options' come from their declaration (ragcli.types.SearchOptions).
RANGES: dict[str, tuple[float | None, float | None]] = {
    "chunk_size": (1, None),
    "chunk_overlap": (0, None),
    "embed_batch_size": (1, None),
    "embed_workers": (0, None),
    "dimensions": (1, None),
    **{
        option.name: (option.low, option.high)
        for option in SEARCH_OPTIONS.values()
        if (option.low, option.high) != (None, None)
    },
    "temperature": (0.0, 2.0),
    "max_tokens": (1, None),
    "max_context_tokens": (1, None),
}
_FLAG_NAMES = {"llm_model": "--model"}


def flag_name(key: str) -> str:
    if key in SEARCH_OPTIONS:
        return SEARCH_OPTIONS[key].flag
    return _FLAG_NAMES.get(key, "--" + key.replace("_", "-"))


def check_range(name: str, value: Any, origin: str) -> None:
    """A ``UsageError`` naming ``origin`` when a numeric setting is out of its range."""
    if name not in RANGES or isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    low, high = RANGES[name]
    if value != value or value in (float("inf"), float("-inf")):
        raise UsageError(f"{origin}: {name} = {value!r} is not a finite number")
    if low is not None and value < low:
        bound = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise UsageError(f"{origin}: {name} = {value!r} is out of range; it must be {bound}")
    if high is not None and value > high:
        bound = f"between {low:g} and {high:g}" if low is not None else f"at most {high:g}"
        raise UsageError(f"{origin}: {name} = {value!r} is out of range; it must be {bound}")


def _kind(target: type | str) -> str:
    return target if isinstance(target, str) else target.__name__


def _parse_text(raw: str, kind: str) -> Any:
    """An environment variable's text as the setting's type (ValueError if it is not)."""
    if "bool" in kind:
        text = raw.strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off"}:
            return False
        raise ValueError(raw)
    if "int" in kind:
        return int(raw)
    if "float" in kind:
        return float(raw)
    return raw


def _typed_toml(raw: Any, kind: str) -> Any:
    """A TOML value of the setting's type, strictly: 2.5 is no int, true is no number."""
    if "bool" in kind:
        ok = isinstance(raw, bool)
    elif "int" in kind:
        ok = isinstance(raw, int) and not isinstance(raw, bool)
    elif "float" in kind:
        ok = isinstance(raw, (int, float)) and not isinstance(raw, bool)
        raw = float(raw) if ok else raw
    else:
        ok = isinstance(raw, str)
    if not ok:
        raise ValueError(raw)
    return raw


def _coerce(name: str, raw: Any, target: type | str, origin: str, text: bool = False) -> Any:
    """``raw`` as the setting's type, range-checked: a TOML value, or with ``text`` an
    environment variable's text."""
    kind = _kind(target)
    try:
        value = _parse_text(raw, kind) if text and "str" not in kind else raw
        value = _typed_toml(value, kind)
    except (TypeError, ValueError):
        expected = {"bool": "boolean", "int": "integer", "float": "number", "str": "string"}
        wanted = next((v for k, v in expected.items() if k in kind), kind)
        raise UsageError(f"{origin}: {name} = {raw!r} is not a valid {wanted}") from None
    check_range(name, value, origin)
    return value


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"{path}: invalid TOML: {err}") from None
    except UnicodeDecodeError as err:
        line = err.object[: err.start].count(b"\n") + 1
        raise UsageError(f"{path}: line {line}: not valid UTF-8") from None
    except OSError as err:
        raise UsageError(f"{path}: cannot read config: {err.strerror}") from None
    return data


def _is_config_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError as err:  # e.g. a config folder the user may not enter
        raise UsageError(f"{path}: cannot read config: {err.strerror}") from None


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
    """Settings from the config files and ``RAG_*`` variables (see the module docstring);
    a bad value is a ``UsageError`` naming the file or the variable."""
    env = os.environ if env is None else env
    known = {f.name: f.type for f in fields(Settings) if f.name not in PER_QUERY}
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    candidates = [user_config_path()]
    if project_dir is not None:
        candidates.append(project_dir / PROJECT_CONFIG_NAME)
    for path in candidates:
        if not _is_config_file(path):
            continue
        for name, raw in _read_toml(path).items():
            key = name.replace("-", "_")
            if key not in known:
                raise UsageError(f"{path}: unknown setting {name!r}")
            values[key] = _coerce(key, raw, known[key], str(path))
            origins[key] = str(path)
    for key, kind in known.items():
        variable = f"RAG_{key.upper()}"
        raw = env.get(variable)
        if raw is not None and raw != "":
            require_utf8(raw, variable)
            values[key] = _coerce(key, raw, kind, variable, text=True)
            origins[key] = variable
    _warn_unknown_variables(env, known)
    _check_overlap(values, origins)
    return Settings(**values)


# RAG_* variables read elsewhere than here (paths, secrets, the daemon's marker).
OTHER_VARIABLES = frozenset({
    "RAG_CACHE_DIR", "RAG_DIR", "RAG_INDEX", "RAG_INDEX_NAME", "RAG_SERVE_TOKEN",
    "RAG_SERVE_DAEMON", "RAG_MILVUS_USER", "RAG_MILVUS_PASSWORD", "RAG_MILVUS_TOKEN",
    "RAG_EMBED_API_KEY",
})  # fmt: skip
_WARNED: set[str] = set()


def _warn_unknown_variables(env, known) -> None:
    """An unknown ``RAG_*`` variable (``RAG_TOP_K``) is named, as an unknown key of a
    config file is, but as a warning: it would be ignored, and environments are shared."""
    import difflib

    from ragcli.errors import warn

    names = [f"RAG_{key.upper()}" for key in known]
    for variable in sorted(env):
        if not variable.startswith("RAG_") or variable in _WARNED:
            continue
        if variable in OTHER_VARIABLES or variable[4:].lower() in known:
            continue
        _WARNED.add(variable)
        close = difflib.get_close_matches(variable, names, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        warn(f"{variable}: unknown setting, ignored{hint}")


def _check_overlap(values: dict[str, Any], origins: dict[str, str]) -> None:
    size = values.get("chunk_size", Settings.chunk_size)
    overlap = values.get("chunk_overlap", Settings.chunk_overlap)
    if overlap >= size:
        origin = origins.get("chunk_overlap") or origins.get("chunk_size", "settings")
        raise UsageError(
            f"{origin}: chunk_overlap ({overlap}) must be smaller than chunk_size ({size})"
        )
