"""Which index a command means: a local ``.rag/<name>/`` folder found like ``.git``, a
folder named by ``--index``/``$RAG_INDEX``, or a Milvus collection named by a store URI."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ragcli.config import cache_dir, load_settings
from ragcli.errors import RagError, UsageError

RAG_DIR = ".rag"
DEFAULT_NAME = "default"


@dataclass(frozen=True)
class Address:
    """Where an index lives. ``path`` is always a local folder: the index itself for the
    local store, and for a Milvus store the place of this machine's caches."""

    path: Path
    base_dir: Path | None = None  # the project: where ragcli.toml is read
    uri: str | None = None  # None: the local store
    collection: str | None = None


def collection_name(index_name: str | None) -> str:
    """The Milvus collection of a named index: ``ragcli_<name>``."""
    return f"ragcli_{(index_name or DEFAULT_NAME).replace('-', '_')}"


def find_rag_dir(start: Path) -> Path | None:
    """The nearest ``.rag/`` folder at or above ``start``."""
    for folder in (start, *start.parents):
        candidate = folder / RAG_DIR
        if candidate.is_dir():
            return candidate
    return None


def project_of(index_dir: Path) -> Path:
    """The project folder of an index folder: the parent of its ``.rag/``."""
    parent = index_dir.parent
    return parent.parent if parent.name == RAG_DIR else parent


def locate(
    index: str | os.PathLike | None,
    name: str | None,
    cwd: Path | None,
    create: bool,
    store: str | None,
) -> Address:
    """See ``Index.locate``."""
    cwd = (cwd or Path.cwd()).resolve()
    if index is not None and store is not None:
        raise UsageError("give either --index or --store, not both")
    rag_dir = find_rag_dir(cwd)
    project = rag_dir.parent if rag_dir is not None else cwd
    explicit = index or os.environ.get("RAG_INDEX")
    if store is None and not explicit:
        store = load_settings(project).store  # the config files or $RAG_STORE
    name = _checked_name(name or os.environ.get("RAG_INDEX_NAME"))
    if store and store != "local":
        return _remote(store, name, project)
    if explicit:
        if name:
            raise UsageError("give either --index or --name, not both")
        return Address(Path(explicit))
    if rag_dir is None:
        if not create:
            raise RagError(
                f"no {RAG_DIR}/ index found in {cwd} or its parents "
                "(run `rag ingest PATH` first, or pass --index)"
            )
        rag_dir = cwd / RAG_DIR
    return Address(rag_dir / (name or DEFAULT_NAME))


def _checked_name(name: str | None) -> str | None:
    if name and ("/" in name or name.startswith(".")):
        raise UsageError(f"invalid index name {name!r}: use letters, digits, - and _")
    return name


def _remote(store: str, name: str | None, project: Path) -> Address:
    from ragcli.store import store_location

    collection = collection_name(name)
    folder = cache_dir() / "stores" / store_location(store, collection, project)
    return Address(folder, base_dir=project, uri=store, collection=collection)
