"""The store stage: where chunks, vectors and BM25 live, behind one interface.

``ragcli.store.base`` defines what readers and writers provide; ``local`` is the default
store (``.rag/<name>/``: SQLite catalog + FAISS + bm25s, docs/index-format.md) and
``milvus`` keeps the index in a Milvus collection (docs/scale-out.md).
"""

from __future__ import annotations

import hashlib

from ragcli.store.catalog import CATALOG_FILE
from ragcli.store.dense import DENSE_FILE
from ragcli.store.local import SPARSE_DIR, LocalStore

Store = LocalStore  # the name earlier versions used

__all__ = ["Store", "LocalStore", "CATALOG_FILE", "DENSE_FILE", "SPARSE_DIR"]


def display_uri(uri: str) -> str:
    """The store URI without credentials, for messages."""
    from ragcli.store.milvus import parse_store_uri

    return parse_store_uri(uri).display


def store_location(uri: str, collection: str, base_dir=None) -> str:
    """A folder name for this machine's caches of one store collection (a Lite path is
    resolved first, so two projects' ``milvus-lite:./index.db`` do not share it)."""
    from ragcli.store.milvus import parse_store_uri

    target = parse_store_uri(uri, base_dir)
    where = f"{target.client_uri}/{target.db_name}#{target.collection or collection}"
    digest = hashlib.sha256(where.encode()).hexdigest()[:16]
    return f"{collection}-{digest}"
