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
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ragcli.config import Settings, cache_dir, load_settings
from ragcli.errors import RagError, UsageError
from ragcli.types import Hit, SearchFilter, SearchParams

RAG_DIR = ".rag"
DEFAULT_NAME = "default"


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
        self.path = Path(path).expanduser().resolve()
        if base_dir is None:
            parent = self.path.parent
            base_dir = parent.parent if parent.name == RAG_DIR else parent
        self.base_dir = base_dir
        self.settings = settings or load_settings(base_dir)
        self.store_uri = store_uri
        self.collection = collection or collection_name(DEFAULT_NAME)
        self._warned: set[str] = set()
        self._encoder_warmed = False  # the query encoder's background load was started
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
        cwd = (cwd or Path.cwd()).resolve()
        if index is not None and store is not None:
            raise UsageError("give either --index or --store, not both")
        rag_dir = find_rag_dir(cwd)
        project = rag_dir.parent if rag_dir is not None else cwd
        explicit = index or os.environ.get("RAG_INDEX")
        if store is None and not explicit:
            store = load_settings(project).store  # the config files or $RAG_STORE
        name = name or os.environ.get("RAG_INDEX_NAME")
        if name and ("/" in name or name.startswith(".")):
            raise UsageError(f"invalid index name {name!r}: use letters, digits, - and _")
        if store and store != "local":
            from ragcli.store import store_location

            collection = collection_name(name)
            return cls(
                cache_dir() / "stores" / store_location(store, collection, project),
                base_dir=project,
                store_uri=store,
                collection=collection,
            )
        if explicit:
            if name:
                raise UsageError("give either --index or --name, not both")
            return cls(Path(explicit))
        if rag_dir is None:
            if not create:
                raise RagError(
                    f"no {RAG_DIR}/ index found in {cwd} or its parents "
                    "(run `rag ingest PATH` first, or pass --index)"
                )
            rag_dir = cwd / RAG_DIR
        return cls(rag_dir / (name or DEFAULT_NAME))

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
    ):
        from ragcli.ingest import ingest

        self._close_store()
        exists = not rebuild and self.exists()
        report = ingest(
            self.path if self.store_uri is None else self.writer(rebuild=rebuild),
            [Path(p) for p in paths],
            self.settings,
            base_dir=self.base_dir,
            include=include,
            exclude=exclude,
            rebuild=rebuild,
            progress=progress,
            encoder=self._ingest_encoder(),
            exists=exists,
        )
        self._close_store()
        if report.chunks:
            from ragcli.onnx_encoder import ensure_export

            manifest = self.store.manifest
            model = manifest["embed_model"]
            variant = manifest.get("embed_variant", "float")
            ensure_export(model, onnx_cache_dir(model), variant=variant, warn=self._warn_once)
        return report

    def writer(self, rebuild: bool = False):
        """An unopened StoreWriter for this index (``with index.writer() as w: ...``)."""
        from ragcli.store import open_writer

        return open_writer(
            self.path,
            self.store_uri,
            collection=self.collection,
            base_dir=self.base_dir,
            rebuild=rebuild,
        )

    def _ingest_encoder(self):
        from ragcli.ingest import embed_variant

        backend = self.settings.embed_backend
        variant = embed_variant(backend)
        if backend != "torch":
            if self.settings.engine != "local":
                raise UsageError(f"--engine {self.settings.engine} embeds with torch only")
            from ragcli.onnx_encoder import query_encoder
            from ragcli.weights import canonical_name

            model = canonical_name(self.settings.embed_model)
            encoder = query_encoder(
                model,
                onnx_cache_dir(model),
                variant=variant,
                batch_size=self.settings.embed_batch_size,
                warn=self._warn_once,
            )
            if getattr(encoder, "variant", None) != variant:
                raise RagError(f"{model}: cannot make its {backend} encoder (see above)")
            return encoder
        if self.settings.engine == "ray":
            from ragcli.embed_ray import RayEncoder

            return RayEncoder(
                self.settings.embed_model,
                self.settings.embed_batch_size,
                address=self.settings.ray_address,
                warn=self._warn_once,
            )
        if self.settings.engine != "local":
            raise UsageError(f"unknown engine {self.settings.engine!r}: choose local or ray")
        return self.__dict__.get("encoder")

    def _close_store(self) -> None:
        store = self.__dict__.pop("store", None)
        if store is not None:
            store.close()

    # reading ------------------------------------------------------------------
    @cached_property
    def store(self):
        """The StoreReader of this index (ragcli.store.base)."""
        from ragcli.store import open_reader

        return open_reader(
            self.path, self.store_uri, collection=self.collection, base_dir=self.base_dir
        )

    @cached_property
    def encoder(self):
        from ragcli.embed import Encoder

        model = self.store.manifest["embed_model"] if self.exists() else self.settings.embed_model
        return Encoder(model, self.settings.embed_batch_size)

    @cached_property
    def query_encoder(self):
        """Embeds queries with ONNX Runtime (no torch import) once the model is exported.

        The export lives in the user's cache, one per model, made at the first ingest.
        """
        from ragcli.onnx_encoder import query_encoder

        manifest = self.store.manifest if self.exists() else {}
        variant = manifest.get("embed_variant", "float")
        if "encoder" in self.__dict__ and variant == "float":  # torch is loaded already
            return self.encoder
        model = manifest.get("embed_model") or self.settings.embed_model
        return query_encoder(
            model,
            onnx_cache_dir(model),
            variant=variant,  # queries embedded as the chunks were
            batch_size=self.settings.embed_batch_size,
            warn=self._warn_once,
        )

    def exists(self) -> bool:
        from ragcli.store import store_exists

        return store_exists(
            self.path, self.store_uri, collection=self.collection, base_dir=self.base_dir
        )

    def reranker(self, model_name: str):
        """The cross-encoder, or None (with one warning) when it cannot be loaded."""
        cache = self.__dict__.setdefault("_rerankers", {})
        if model_name not in cache:
            from ragcli.rerank import Reranker

            try:
                cache[model_name] = Reranker(model_name)
            except RagError as err:
                self._warn_once(f"{err}; results are not reranked")
                cache[model_name] = None
        return cache[model_name]

    def _default_warn(self, message: str) -> None:
        from ragcli.render import warn

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
        fusion: str | None = None,
        pool_factor: int | None = None,
        rerank: bool | None = None,
        rerank_model: str | None = None,
        rerank_depth: int | None = None,
        filters: SearchFilter | None = None,
        params: SearchParams | None = None,
    ) -> list[Hit]:
        """Top ``k`` chunks for ``query``: ``params`` whole, or unset options from the
        settings."""
        from ragcli import retrieve

        if params is None:
            params = self.settings.with_overrides(
                k=k,
                mode=mode,
                alpha=alpha,
                fusion=fusion,
                pool_factor=pool_factor,
                rerank=rerank,
                rerank_model=rerank_model,
                rerank_depth=rerank_depth,
            ).search_params(filters)
        s = params
        filters = params.filters
        retrieve.validate(s.mode, s.fusion, s.alpha)
        if s.k < 1:
            raise UsageError(f"k must be at least 1, got {s.k}")
        if not query.strip():
            raise UsageError("empty query")
        store = self.store
        if store.n_chunks == 0:
            return []
        restriction = store.restrict(filters or SearchFilter())
        if restriction is not None and restriction.empty:
            return []
        pool = max(s.k * s.pool_factor, s.k)
        if s.rerank:
            pool = max(pool, s.rerank_depth)

        candidates = self._candidates(query, s.mode, pool, s.alpha, s.fusion, restriction)
        depth = max(s.rerank_depth, s.k) if s.rerank else s.k
        hits = self._to_hits(candidates[:depth])
        if s.rerank and hits:
            hits = self._rerank(query, hits, s.rerank_model)
        hits = hits[: s.k]
        for rank, hit in enumerate(hits, 1):
            hit.rank = rank
        return hits

    def _candidates(self, query, mode, pool, alpha, fusion, restriction):
        from ragcli import retrieve

        store = self.store
        empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
        dense_ids, dense_scores = empty
        sparse_ids, sparse_scores = empty
        query_vector = None
        warm_up = None
        if mode in ("dense", "hybrid") and not self._encoder_warmed:
            # Creating the ONNX Runtime session is the longest step of a cold search
            # (~0.25 s) and onnxruntime releases the GIL while it works, so the encoder
            # loads in a background thread while BM25 and FAISS load and search here.
            warm_up = _Background(getattr(self.query_encoder, "load", None))
            self._encoder_warmed = True
        if mode in ("sparse", "hybrid"):
            sparse_ids, sparse_scores = store.sparse_search(query, pool, restriction)
        if mode in ("dense", "hybrid"):
            if warm_up is not None:
                warm_up.wait()  # an error there is raised again here, by encode_query
            query_vector = self.query_encoder.encode_query(query)
            dense_ids, dense_scores = store.dense_search(query_vector, pool, restriction)
        if mode == "dense":
            return [
                retrieve.Candidate(int(i), dense=float(v), fused=float(v))
                for i, v in zip(dense_ids, dense_scores, strict=True)
            ]
        if mode == "sparse":
            return [
                retrieve.Candidate(int(i), sparse=float(v), fused=float(v))
                for i, v in zip(sparse_ids, sparse_scores, strict=True)
            ]
        return retrieve.fuse(
            dense_ids,
            dense_scores,
            sparse_ids,
            sparse_scores,
            lambda ids: store.dense_scores(ids, query_vector),
            lambda ids: store.sparse_scores(ids, query),
            alpha,
            fusion,
        )

    def _to_hits(self, candidates) -> list[Hit]:
        chunks = self.store.chunks([c.chunk_id for c in candidates])
        hits = []
        for candidate in candidates:
            chunk = chunks.get(candidate.chunk_id)
            if chunk is None:
                continue
            hits.append(
                Hit(
                    rank=0,
                    score=candidate.fused,
                    chunk=chunk,
                    dense=candidate.dense,
                    sparse=candidate.sparse,
                    fused=candidate.fused,
                )
            )
        return hits

    def _rerank(self, query: str, hits: list[Hit], model_name: str) -> list[Hit]:
        from ragcli.text import index_text

        reranker = self.reranker(model_name)
        if reranker is None:
            return hits
        scores = reranker.score(query, [index_text(h.chunk.title, h.chunk.text) for h in hits])
        for hit, score in zip(hits, scores, strict=True):
            hit.rerank = float(score)
            hit.score = float(score)
        return sorted(hits, key=lambda h: (-h.rerank, h.chunk.chunk_id))

    def status(self) -> dict[str, Any]:
        store = self.store
        manifest = store.manifest
        where = store.describe()
        return {
            "index": self.location,
            **{key: value for key, value in where.items() if key != "index"},
            "generation": manifest.get("generation"),
            "embed_model": manifest.get("embed_model"),
            "dimension": manifest.get("dimension"),
            "chunking": manifest.get("chunking"),
            "bm25": manifest.get("bm25"),
            "counts": manifest.get("counts"),
            "kinds": store.kinds(),
            "roots": manifest.get("roots", []),
            "updated_at": manifest.get("updated_at"),
        }


class _Background:
    """Runs callables in one daemon thread; ``wait`` joins it. Exceptions are dropped:
    the caller redoes the work in its own thread (cached properties), where they raise."""

    def __init__(self, *tasks: Callable[[], Any] | None):
        import threading

        self._tasks = [task for task in tasks if task is not None]
        self._thread = threading.Thread(target=self._run, name="rag-warm-up", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import contextlib

        for task in self._tasks:
            with contextlib.suppress(Exception):  # redone, and raised, by the caller
                task()

    def wait(self) -> None:
        self._thread.join()


def onnx_cache_dir(model: str) -> Path:
    from ragcli.onnx_encoder import model_slug

    return cache_dir() / "onnx" / model_slug(model)
