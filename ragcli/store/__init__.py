"""The store stage: where chunks, vectors and BM25 live, behind one interface.

``ragcli.store.base`` defines what readers and writers provide; ``local`` is the default
store (``.rag/<name>/``: SQLite catalog + FAISS + bm25s, docs/index-format.md) and
``milvus`` keeps the index in a Milvus collection (docs/scale-out.md). Callers choose
one with a store URI: None or ``"local"`` for the folder ``path``, else a Milvus URI
(``path`` is then unused); the URI's scheme names the kind of store in ``STORES``, where
a plugin registers its own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragcli.registry import Registry

if TYPE_CHECKING:
    from ragcli.store.base import StoreReader, StoreWriter


@dataclass(frozen=True)
class StoreKind:
    """A kind of store (``STORES``): how to open its reader and writer, and whether an
    index is there. Each takes ``(path, uri, collection=..., base_dir=...)``; the
    writer also ``rebuild``."""

    open_reader: Callable[..., StoreReader]
    open_writer: Callable[..., StoreWriter]
    exists: Callable[..., bool]


def _local_reader(path: Path, uri: str | None, **_where: Any) -> StoreReader:
    from ragcli.store.local import LocalStore

    return LocalStore(path)


def _local_writer(path: Path, uri: str | None, *, rebuild: bool = False, **_where: Any):
    from ragcli.store.local import LocalWriter

    return LocalWriter(path, rebuild=rebuild)


def _local_exists(path: Path, uri: str | None, **_where: Any) -> bool:
    from ragcli.store.generations import index_present

    return index_present(path)


def _milvus_reader(path: Path, uri: str, *, collection: str, base_dir: Path | None):
    from ragcli.store.milvus import MilvusStore

    return MilvusStore.open(uri, collection, base_dir=base_dir)


def _milvus_writer(
    path: Path, uri: str, *, collection: str, base_dir: Path | None, rebuild: bool = False
) -> StoreWriter:
    from ragcli.store.milvus import MilvusWriter

    return MilvusWriter.open(uri, collection, base_dir=base_dir, rebuild=rebuild)


def _opens(path: Path, uri: str, *, collection: str, base_dir: Path | None) -> bool:
    """Whether a reader opens (a Milvus store is opened to find out)."""
    from ragcli.errors import IndexStateError

    try:
        reader = STORES.get(store_name(uri)).open_reader(
            path, uri, collection=collection, base_dir=base_dir
        )
    except IndexStateError:
        return False
    reader.close()
    return True


STORES: Registry[StoreKind] = Registry("store", group="ragcli.stores")
"""Kinds of store by the scheme of their URI (``milvus://...`` is ``milvus``)."""
STORES.register(
    "local",
    StoreKind(_local_reader, _local_writer, _local_exists),
    description="a folder: SQLite catalog, FAISS and bm25s (docs/index-format.md)",
)
STORES.register(
    "milvus",
    StoreKind(_milvus_reader, _milvus_writer, _opens),
    description="a Milvus collection, on a server or in Milvus Lite (docs/scale-out.md)",
    aliases=("milvus+https", "milvus-lite"),
)


def store_name(uri: str | None) -> str:
    """The ``STORES`` name of a store URI: ``local`` for None, else its scheme; a scheme
    no store has is a ``UsageError`` (the Milvus URI parser's, which says what to use)."""
    if uri is None or uri == "local":
        return "local"
    scheme = uri.partition(":")[0]
    if scheme not in STORES:
        from ragcli.store.milvus import parse_store_uri

        parse_store_uri(uri)  # invalid store URI '...': use milvus://HOST:PORT[/DB], ...
    return STORES.canonical(scheme)


def open_reader(
    path: Path, uri: str | None = None, *, collection: str, base_dir: Path | None
) -> StoreReader:
    """The StoreReader of an index; ``IndexStateError`` if there is none yet."""
    kind = STORES.get(store_name(uri))
    return kind.open_reader(path, uri, collection=collection, base_dir=base_dir)


def open_writer(
    path: Path,
    uri: str | None = None,
    *,
    collection: str,
    base_dir: Path | None,
    rebuild: bool = False,
) -> StoreWriter:
    """An unopened StoreWriter (``with open_writer(...) as writer: ...``)."""
    kind = STORES.get(store_name(uri))
    return kind.open_writer(path, uri, collection=collection, base_dir=base_dir, rebuild=rebuild)


def store_exists(
    path: Path, uri: str | None = None, *, collection: str, base_dir: Path | None
) -> bool:
    """Whether the index has been written (a Milvus store is opened to find out)."""
    kind = STORES.get(store_name(uri))
    return kind.exists(path, uri, collection=collection, base_dir=base_dir)


def display_location(path: Path, uri: str | None, collection: str) -> str:
    """An index as users name it: its folder, or the store URI and collection."""
    if store_name(uri) == "local":
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
