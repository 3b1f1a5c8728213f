"""What `rag status` reports about an index: its store (generation, size, counts,
kinds, roots), how its texts are embedded, reranking, the search settings in effect
and its freshness. The facade passes the open store and its settings in."""

from __future__ import annotations

from typing import Any

from ragcli.config import Settings
from ragcli.types import SEARCH_OPTIONS

# The search settings `rag status` reports (after config files, environment and flags).
STATUS_SEARCH_KEYS = tuple(name for name, option in SEARCH_OPTIONS.items() if option.status)


def index_status(
    store, settings: Settings, location: str, freshness: dict[str, Any]
) -> dict[str, Any]:
    """The ``rag status`` record of the index ``store`` reads (``location``: as users
    name it)."""
    from ragcli.embed.status import embedding_status
    from ragcli.rerank import status as rerank_status

    manifest, where = store.manifest, store.describe()
    return {
        "index": location,
        **{key: value for key, value in where.items() if key != "index"},
        **{key: manifest.get(key) for key in ("generation", "embed_model", "dimension")},
        "embedding": embedding_status(manifest, settings),
        **{key: manifest.get(key) for key in ("chunking", "bm25", "counts")},
        "kinds": store.kinds(),
        "roots": manifest.get("roots", []),
        "updated_at": manifest.get("updated_at"),
        "rerank": rerank_status(settings.rerank_model, settings.rerank),
        "search": {key: getattr(settings, key) for key in STATUS_SEARCH_KEYS},
        "freshness": freshness,
    }
