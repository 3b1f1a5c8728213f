"""The Python API: open an index, ingest into it, search it.

    from ragcli import Index
    index = Index.locate()                 # .rag/ found by walking up, like .git
    index.ingest(["docs"])
    hits = index.search("how are workers scheduled?", k=5)   # ragcli.types.Hit, best first
The CLI is a thin layer over this class, and this class over the stages: it only wires.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from ragcli import freshness
from ragcli.config import Settings, load_settings
from ragcli.errors import OnceWarner, warn
from ragcli.store import display_location, open_writer, store_exists
from ragcli.store.handle import ReaderHandle
from ragcli.store.locate import collection_name, locate, project_of
from ragcli.types import SEARCH_FIELDS, Hit, SearchFilter, SearchParams


class Index:
    """One index: a local ``.rag/<name>/`` folder, or a Milvus collection (``store_uri``).
    ``path`` is a local folder: the index, or for Milvus this machine's answer cache and
    chat history. ``warn`` receives each warning line (once per Index)."""

    def __init__(
        self,
        path: Path,
        settings: Settings | None = None,
        base_dir: Path | None = None,
        store_uri: str | None = None,
        collection: str | None = None,
    ):
        self.path = Path(path).expanduser().resolve()
        self.base_dir = base_dir or project_of(self.path)
        self.settings = settings or load_settings(self.base_dir)
        self.store_uri = store_uri
        self.collection = collection or collection_name(None)
        # the store's reader, opened on first use, reopened after a newer generation
        self.reader = ReaderHandle(self.path, store_uri, self.collection, self.base_dir)
        self.warn: Callable[[str], None] = warn
        self._warn_once = OnceWarner(lambda message: self.warn(message))

    @classmethod
    def locate(
        cls,
        index: str | os.PathLike | None = None,
        name: str | None = None,
        cwd: Path | None = None,
        create: bool = False,
        store: str | None = None,
    ) -> Index:
        """The index to use: a Milvus ``store`` URI (or the setting, $RAG_STORE); else ``index``
        (or $RAG_INDEX); else ``.rag/<name>`` found walking up from ``cwd`` (or ``create``d)."""
        found = locate(index, name, cwd, create, store)
        return cls(found.path, None, found.base_dir, found.uri, found.collection)

    @property
    def location(self) -> str:
        """The index as users name it: its folder, or the store URI and collection."""
        return display_location(self.path, self.store_uri, self.collection)

    def ingest(
        self,
        paths: Sequence[str | os.PathLike],
        include: Sequence[str] | None = None,
        exclude: Sequence[str] | None = None,
        rebuild: bool = False,
        progress=None,
        follow_links: bool = False,
    ):
        """Bring the index up to date with ``paths`` (``ragcli.ingest.ingest``)."""
        from ragcli.ingest import ingest

        self.reader.close()
        report = ingest(
            self.writer(rebuild=rebuild), [Path(p) for p in paths], self.settings,
            base_dir=self.base_dir, include=include, exclude=exclude, follow_links=follow_links,
            progress=progress, loaded=self.__dict__.get("encoder"), warn=self._warn_once,
        )  # fmt: skip
        self.reader.close()
        return report

    def writer(self, rebuild: bool = False):
        """An unopened StoreWriter for this index (``with index.writer() as w: ...``)."""
        return open_writer(self.path, self.store_uri, **self.reader.where, rebuild=rebuild)

    @property
    def store(self):
        """The StoreReader of this index (ragcli.store.base), opened on first use."""
        return self.reader.get()

    def fresh_store(self):
        """The store, reopened first if another process published a newer generation."""
        return self.reader.fresh()

    def exists(self) -> bool:
        return store_exists(self.path, self.store_uri, **self.reader.where)

    def get(self, spec: str, **options: Any):
        """One indexed document or a line/page range of it (``ragcli.documents.get``)."""
        from ragcli import documents

        return documents.get(self.fresh_store(), spec, **options)

    def multi_get(self, specs: Sequence[str] | str, **options: Any):
        """Several indexed documents by glob or list (``ragcli.documents.multi_get``)."""
        from ragcli import documents

        return documents.multi_get(self.fresh_store(), specs, **options)

    @cached_property
    def encoder(self):
        from ragcli.embed import torch_encoder

        return torch_encoder(self.store.manifest if self.exists() else {}, self.settings)

    @cached_property
    def query_encoder(self):
        """Embeds queries with ONNX Runtime (no torch import) once the model is exported."""
        from ragcli.embed import query_encoder

        manifest = self.store.manifest if self.exists() else {}
        loaded = self.__dict__.get("encoder")
        return query_encoder(manifest, self.settings, warn=self._warn_once, loaded=loaded)

    @cached_property
    def rerankers(self):
        """The cross-encoders this Index has loaded (``ragcli.rerank.Rerankers``)."""
        from ragcli.rerank import Rerankers

        return Rerankers(self._warn_once)

    def search(
        self,
        query: str,
        k: int | None = None,
        *,
        mode: str | None = None,
        alpha: float | None = None,
        name_alpha: float | None = None,
        fusion: str | None = None,
        pool_factor: int | None = None,
        rerank: bool | None = None,
        rerank_model: str | None = None,
        rerank_depth: int | None = None,
        min_score: float | None = None,
        searches: Sequence[Any] | None = None,
        filters: SearchFilter | None = None,
        params: SearchParams | None = None,
    ) -> list[Hit]:
        """Top ``k`` chunks for ``query``: ``params`` whole, or unset options from the
        settings. The keywords are the search options (``ragcli.types.SearchOptions``);
        ``searches`` are sub-queries (``{"type": "lex"|"vec"|"hyde", "query": ...}``)
        fused with ``query``, which may then be empty."""
        if params is None:
            options = {name: value for name, value in locals().items() if name in SEARCH_FIELDS}
            params = self.settings.with_overrides(**options).search_params(filters)
        from ragcli.retrieve import search_index

        store, encoder = self.fresh_store(), lambda: self.query_encoder
        return search_index(store, query, params, encoder, lambda: self.rerankers, self._warn_once)

    def status(self) -> dict[str, Any]:
        """What `rag status` shows (``ragcli.status.index_status``)."""
        from ragcli.status import index_status

        return index_status(self.fresh_store(), self.settings, self.location, self.freshness())

    def file_list(self) -> dict[str, Any]:
        """Indexed and skipped files (``documents.file_list``; skipped None: unrecorded)."""
        from ragcli.ingest.skipped import load_skipped

        skipped = load_skipped(self.path) if self.store_uri is None else None
        from ragcli.documents import file_list

        return file_list(self.fresh_store(), skipped)

    def freshness(self, wait: float | None = None) -> dict[str, Any]:
        """Files changed, new or gone since this Index's generation (``ragcli.freshness``)."""
        store = self.reader.opened or self.fresh_store()
        return freshness.report(store, **({} if wait is None else {"wait": wait}))

    def start_freshness_check(self) -> None:
        """Begin ``freshness()``'s check in the background (`rag search` reports it later)."""
        self.freshness(wait=0)

    def check(self) -> dict[str, Any]:
        """Verify every file of a local index and its previous generation (``store.check``)."""
        from ragcli.store.check import check_index

        return {"index": self.location, **check_index(self.path, self.store_uri)}
