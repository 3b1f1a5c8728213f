"""The Python API: open an index, ingest into it, search it.

    from ragcli import Index
    index = Index.locate()                 # .rag/ found by walking up, like .git
    index.ingest(["docs"])
    for hit in index.search("how are workers scheduled?", k=5):
        print(hit.rank, hit.score, hit.chunk.source, hit.chunk.location.describe())

The CLI is a thin layer over this class.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from ragcli.config import Settings, load_settings
from ragcli.types import SEARCH_FIELDS, SEARCH_OPTIONS, Hit, SearchFilter, SearchParams

# The search settings `rag status` reports (after config files, environment and flags).
STATUS_SEARCH_KEYS = tuple(name for name, option in SEARCH_OPTIONS.items() if option.status)


class Index:
    """One index: a local ``.rag/<name>/`` folder, or a Milvus collection (``store_uri``).

    ``path`` is always a local folder: the index itself for the local store, and for a
    Milvus store the place for this machine's answer cache and chat history.
    """

    def __init__(
        self,
        path: Path,
        settings: Settings | None = None,
        base_dir: Path | None = None,
        store_uri: str | None = None,
        collection: str | None = None,
    ):
        from ragcli.store.locate import collection_name, project_of

        self.path = Path(path).expanduser().resolve()
        self.base_dir = base_dir or project_of(self.path)
        self.settings = settings or load_settings(self.base_dir)
        self.store_uri = store_uri
        self.collection = collection or collection_name(None)
        self._warned: set[str] = set()
        self.warn: Callable[[str], None] = self._default_warn

    @classmethod
    def locate(
        cls,
        index: str | os.PathLike | None = None,
        name: str | None = None,
        cwd: Path | None = None,
        create: bool = False,
        store: str | None = None,
    ) -> Index:
        """The index to use: ``store`` (or the ``store`` setting / $RAG_STORE) when it is a
        Milvus URI; else ``index`` (or $RAG_INDEX) if given; else ``.rag/<name>`` found by
        walking up from ``cwd``; ``create`` puts a new ``.rag/`` in ``cwd``."""
        from ragcli.store.locate import locate

        where = locate(index, name, cwd, create, store)
        return cls(
            where.path, base_dir=where.base_dir, store_uri=where.uri, collection=where.collection
        )

    @property
    def location(self) -> str:
        """The index as users name it: its folder, or the store URI and collection."""
        if self.store_uri is None:
            return str(self.path)
        from ragcli.store import display_uri

        return f"{display_uri(self.store_uri)} (collection {self.collection})"

    # ingest -------------------------------------------------------------------
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

        self._close_store()
        report = ingest(
            self.writer(rebuild=rebuild),
            [Path(p) for p in paths],
            self.settings,
            base_dir=self.base_dir,
            include=include,
            exclude=exclude,
            follow_links=follow_links,
            progress=progress,
            loaded=self.__dict__.get("encoder"),
            warn=self._warn_once,
        )
        self._close_store()
        return report

    def writer(self, rebuild: bool = False):
        """An unopened StoreWriter for this index (``with index.writer() as w: ...``)."""
        from ragcli.store import open_writer

        return open_writer(self.path, self.store_uri, **self._where, rebuild=rebuild)

    def _close_store(self) -> None:
        store = self.__dict__.pop("store", None)
        if store is not None:
            store.close()

    # reading ------------------------------------------------------------------
    def fresh_store(self):
        """The store, reopened first when another process has published a newer
        generation since it was opened (one ``stat`` of ``CURRENT``), so a long-lived
        Index never answers from a superseded generation; the old one is closed.
        Not for concurrent use: callers sharing an Index across threads serialise."""
        if self.store_uri is not None:
            return self.store
        marker = self._current_marker()
        if "store" in self.__dict__ and marker != self.__dict__.get("_store_marker"):
            self._close_store()
        if "store" not in self.__dict__:
            self._store_marker = marker  # taken before opening: a later publish is seen
        return self.store

    def _current_marker(self) -> tuple[int, int, int] | None:
        from ragcli.store.generations import CURRENT_FILE

        try:
            info = os.stat(self.path / CURRENT_FILE)
        except FileNotFoundError:
            return None
        return info.st_ino, info.st_mtime_ns, info.st_size

    def get(self, spec: str, **options: Any):
        """One indexed document or a line/page range of it (``ragcli.documents.get``)."""
        from ragcli import documents

        return documents.get(self.fresh_store(), spec, **options)

    def multi_get(self, specs: Sequence[str] | str, **options: Any):
        """Several indexed documents by glob or list (``ragcli.documents.multi_get``)."""
        from ragcli import documents

        return documents.multi_get(self.fresh_store(), specs, **options)

    @cached_property
    def store(self):
        """The StoreReader of this index (ragcli.store.base)."""
        from ragcli.store import open_reader

        return open_reader(self.path, self.store_uri, **self._where)

    @cached_property
    def encoder(self):
        from ragcli.embed import torch_encoder

        return torch_encoder(self.store.manifest if self.exists() else {}, self.settings)

    @cached_property
    def query_encoder(self):
        """Embeds queries with ONNX Runtime (no torch import) once the model is exported.

        The export lives in the user's cache, one per model, made at the first ingest.
        """
        from ragcli.embed import query_encoder

        return query_encoder(
            self.store.manifest if self.exists() else {},
            self.settings,
            warn=self._warn_once,
            loaded=self.__dict__.get("encoder"),
        )

    def exists(self) -> bool:
        from ragcli.store import store_exists

        return store_exists(self.path, self.store_uri, **self._where)

    @property
    def _where(self) -> dict[str, Any]:
        return {"collection": self.collection, "base_dir": self.base_dir}

    def _default_warn(self, message: str) -> None:
        from ragcli.errors import warn

        warn(message)

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            self.warn(message)

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
        filters: SearchFilter | None = None,
        params: SearchParams | None = None,
    ) -> list[Hit]:
        """Top ``k`` chunks for ``query``: ``params`` whole, or unset options from the
        settings. The keywords are the search options (``ragcli.types.SearchOptions``)."""
        if params is None:
            given = locals()
            options = {name: given[name] for name in SEARCH_FIELDS}
            params = self.settings.with_overrides(**options).search_params(filters)
        from dataclasses import replace

        from ragcli import retrieve

        rerank_step = None
        if params.rerank is not False:
            rerank_step = self._rerankers.rerank(params.rerank_model, params.rerank is True)
        params = replace(params, rerank=rerank_step is not None)
        store = self.fresh_store()
        if params.mode != "sparse":
            self._check_query_language(query, store.manifest.get("embed_model") or "")
        return retrieve.search(store, query, params, lambda: self.query_encoder, rerank_step)

    def _check_query_language(self, query: str, model: str) -> None:
        from ragcli.text import language_hint
        from ragcli.weights import english_only, language_warning

        language = language_hint(query) if english_only(model) else None
        if language and "query-language" not in self._warned:
            self._warned.add("query-language")  # once per command, whatever the language
            self.warn(language_warning("the query", language, model))

    @cached_property
    def _rerankers(self):
        from ragcli.rerank import Rerankers

        return Rerankers(self._warn_once)

    def status(self) -> dict[str, Any]:
        from ragcli.rerank import status as rerank_status

        store = self.fresh_store()
        manifest = store.manifest
        where = store.describe()
        return {
            "index": self.location,
            **{key: value for key, value in where.items() if key != "index"},
            "generation": manifest.get("generation"),
            "embed_model": manifest.get("embed_model"),
            "dimension": manifest.get("dimension"),
            "embedding": self._embedding_status(manifest),
            "chunking": manifest.get("chunking"),
            "bm25": manifest.get("bm25"),
            "counts": manifest.get("counts"),
            "kinds": store.kinds(),
            "roots": manifest.get("roots", []),
            "updated_at": manifest.get("updated_at"),
            "rerank": rerank_status(self.settings.rerank_model, self.settings.rerank),
            "search": {key: getattr(self.settings, key) for key in STATUS_SEARCH_KEYS},
            "freshness": self.freshness(),
        }

    def file_list(self) -> dict[str, Any]:
        """``{"indexed": [{"path", "kinds", "documents"}], "skipped": [{"path", "reason"}]
        or None}``: the indexed files from the store, the skipped ones as the last
        ingest recorded them (None: not recorded, e.g. a Milvus store)."""
        from ragcli.ingest.skipped import load_skipped

        by_file: dict[str, dict[str, Any]] = {}
        for info in self.fresh_store().documents():
            entry = by_file.setdefault(
                info.source, {"path": info.source, "kinds": [], "documents": 0}
            )
            entry["documents"] += 1
            if info.kind not in entry["kinds"]:
                entry["kinds"].append(info.kind)
        skipped = load_skipped(self.path) if self.store_uri is None else None
        return {"indexed": sorted(by_file.values(), key=lambda e: e["path"]), "skipped": skipped}

    def _embedding_status(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """How the index's texts are embedded: backend, prompts, dimensions, server or
        device (the device from the settings, the driver and the installed packages)."""
        from ragcli.embed import SERVED_VARIANTS
        from ragcli.embed.device import describe
        from ragcli.embed.spec import MANIFEST_KEYS

        variant = manifest.get("embed_variant", "float")
        info: dict[str, Any] = {
            "variant": variant,
            **{key: manifest[key] for key in MANIFEST_KEYS if key in manifest},
        }
        if variant in SERVED_VARIANTS:
            from ragcli.embed.served import display_url

            url = self.settings.embed_base_url or manifest.get("embed_base_url")
            info["server"] = display_url(url) if url else None
        else:
            info["device"] = describe(self.settings.device)
        return info

    def freshness(self, wait: float | None = None) -> dict[str, Any]:
        """How many indexed files changed, appeared or vanished in the ingested folders
        since the generation this Index answers from (``ragcli.freshness``: sizes and
        mtimes only, cached for a couple of seconds)."""
        from ragcli import freshness

        store = self.__dict__.get("store") or self.fresh_store()
        return freshness.report(store, **({} if wait is None else {"wait": wait}))

    def start_freshness_check(self) -> None:
        """Begin ``freshness()``'s check in the background now, so a one-shot command
        that reports it later (`rag search`) does not wait for it."""
        from ragcli import freshness

        freshness.report(self.fresh_store(), wait=0)

    def check(self) -> dict[str, Any]:
        """Verify every file of a local index (checksums, SQLite, FAISS, BM25) and its
        previous generation: ``{"ok", "problems": [one line each], "generation", ...}``."""
        if self.store_uri is not None:
            from ragcli.errors import UsageError

            raise UsageError("--check verifies a local index; a Milvus store keeps its own")
        from ragcli.store.check import check_index

        return {"index": self.location, **check_index(self.path)}
