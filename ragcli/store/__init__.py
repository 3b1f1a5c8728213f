"""The store stage: where chunks, vectors and BM25 live, behind one interface.

``ragcli.store.base`` defines what readers and writers provide; ``local`` is the default
store (``.rag/<name>/``: SQLite catalog + FAISS + bm25s, docs/index-format.md) and
``milvus`` keeps the index in a Milvus collection (docs/scale-out.md). Callers choose
one with a store URI: None or ``"local"`` for the folder ``path``, else a Milvus URI
(``path`` is then unused).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ragcli.store.base import StoreReader, StoreWriter


def _is_local(uri: str | None) -> bool:
    return uri is None or uri == "local"


def open_reader(
    path: Path, uri: str | None = None, *, collection: str, base_dir: Path | None
) -> StoreReader:
    """The StoreReader of an index; ``IndexStateError`` if there is none yet."""
    if _is_local(uri):
        from ragcli.store.local import LocalStore

        return LocalStore(path)
    from ragcli.store.milvus import MilvusStore

    return MilvusStore.open(uri, collection, base_dir=base_dir)


def open_writer(
    path: Path,
    uri: str | None = None,
    *,
    collection: str,
    base_dir: Path | None,
    rebuild: bool = False,
) -> StoreWriter:
    """An unopened StoreWriter (``with open_writer(...) as writer: ...``)."""
    if _is_local(uri):
        from ragcli.store.local import LocalWriter

        return LocalWriter(path, rebuild=rebuild)
    from ragcli.store.milvus import MilvusWriter

    return MilvusWriter.open(uri, collection, base_dir=base_dir, rebuild=rebuild)


def store_exists(
    path: Path, uri: str | None = None, *, collection: str, base_dir: Path | None
) -> bool:
    """Whether the index has been written (a Milvus store is opened to find out)."""
    if _is_local(uri):
        from ragcli.store.generations import index_present

        return index_present(path)
    from ragcli.errors import IndexStateError

    try:
        reader = open_reader(path, uri, collection=collection, base_dir=base_dir)
    except IndexStateError:
        return False
    reader.close()
    return True


def display_location(path: Path, uri: str | None, collection: str) -> str:
    """An index as users name it: its folder, or the store URI and collection."""
    if _is_local(uri):
        return str(path)
    return f"{display_uri(uri)} (collection {collection})"


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
