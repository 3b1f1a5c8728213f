"""Eval indexes: where a BEIR corpus is indexed for ``rag eval``, building or reusing it,
and the indexes a run searches (:class:`Target`).

The one module of :mod:`ragcli.evaluate` that opens indexes through the
:class:`ragcli.index.Index` facade (an evaluation builds and searches whole indexes).
A BEIR corpus gets ``<eval root>/<collection>-<hash>/``: the eval root is ``.rag/eval/``
of the project found from the working directory, else ``eval/`` in ragcli's cache
folder (:func:`ragcli.config.cache_dir`); the hash covers the corpus path, size and
mtime and the ingest settings.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragcli.config import Settings, cache_dir, load_settings
from ragcli.errors import RagError, UsageError
from ragcli.evaluate.datasets import BeirCollection

MIN_CHUNK_FACTOR = 2
MAX_CHUNK_FACTOR = 5


def eval_root(cwd: Path | None = None) -> Path:
    """``.rag/eval`` of the project found from ``cwd``, else ``eval/`` in the cache folder."""
    from ragcli.store.locate import find_rag_dir

    rag_dir = find_rag_dir((cwd or Path.cwd()).resolve())
    if rag_dir is not None:
        return rag_dir / "eval"
    return cache_dir() / "eval"


def collection_name(folder: Path) -> str:
    """``scifact`` for ``.../scifact/beir``, else the folder's own name."""
    folder = folder.resolve()
    name = (
        folder.parent.name if folder.name.lower() == "beir" and folder.parent.name else folder.name
    )
    cleaned = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name).strip("-.")
    return cleaned or "collection"


def eval_index_dir(corpus_path: Path, settings: Settings, root: Path, name: str) -> Path:
    """``root/<name>-<hash>``: the hash covers the corpus file and the ingest settings
    that need new vectors (not the BM25 params: an ingest rebuilds that side in place)."""
    from ragcli.ingest import expected_manifest

    corpus_path = corpus_path.resolve()
    stat = corpus_path.stat()
    key = json.dumps(
        {
            "corpus": str(corpus_path),
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "ingest": expected_manifest(settings),
        },
        sort_keys=True,
    )
    return root / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


class QueryVectorCache:
    """Wraps an Encoder so each distinct query is embedded once (``prime`` in batches).

    The dense query vector does not depend on alpha, fusion, k or reranking, so a sweep
    embeds its questions once instead of once per row. Everything else is delegated.
    """

    def __init__(self, encoder: Any):
        self._inner = encoder
        self._vectors: dict[str, Any] = {}
        self.hits = 0
        self.misses = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def encode_query(self, text: str) -> Any:
        vector = self._vectors.get(text)
        if vector is None:
            self.misses += 1
            vector = self._inner.encode_query(text)
            self._vectors[text] = vector
        else:
            self.hits += 1
        return vector

    def prime(self, texts: Sequence[str]) -> int:
        """Embed the texts not cached yet in one batched call; returns how many."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            # queries, not documents: the query prompt (ragcli.embed.spec)
            batch = getattr(self._inner, "encode_queries", None)
            vectors = batch(missing) if batch else [self._inner.encode_query(t) for t in missing]
            for text, vector in zip(missing, vectors, strict=True):
                self._vectors[text] = vector
        return len(missing)

    def describe(self) -> dict[str, int]:
        return {"embedded": len(self._vectors), "reused": self.hits, "one_by_one": self.misses}


@dataclass
class Target:
    """One index the questions run against (one per swept chunk size)."""

    index: Any  # ragcli.index.Index
    chunk_size: int | None
    built: dict[str, Any] | None = None  # ingest summary for eval indexes
    chunk_factor: int = MIN_CHUNK_FACTOR
    doc_ids: set[str] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)
    files: dict[str, str] = field(default_factory=dict)  # absolute file path -> its source
    roots: list[Path] = field(default_factory=list)  # the folders and files ingested
    _real: dict[str, str] | None = field(default=None, repr=False)

    def scan(self) -> None:
        """Read the index's document ids, sources, files and ingest roots, and its chunks
        per document."""
        store = self.index.store
        for doc in store.documents():
            self.doc_ids.add(doc.doc_id)
            self.sources.add(doc.source)
            self.files.setdefault(doc.file, doc.source)
        self.roots = [Path(root) for root in store.manifest.get("roots", [])]
        counts = store.counts()
        if counts["documents"]:
            ratio = math.ceil(counts["chunks"] / counts["documents"])
            self.chunk_factor = max(MIN_CHUNK_FACTOR, min(MAX_CHUNK_FACTOR, ratio))

    def source_of(self, relevant: str, question_dir: Path) -> str | None:
        """The index's name for a relevant id: the id itself when it is a document id or a
        source; else the source of the indexed file it names as a path relative to the
        question file's folder, or else to an ingested folder, or else the one indexed
        file whose path ends with it; None when it names no indexed file (or several)."""
        if relevant in self.doc_ids or relevant in self.sources:
            return relevant
        for base in (question_dir, *self.roots):
            source = self._indexed_file(base / relevant)
            if source is not None:
                return source
        return self._only_file_ending_with(relevant)

    def _only_file_ending_with(self, relevant: str) -> str | None:
        parts = Path(os.path.normpath(relevant)).parts
        if not parts or Path(relevant).is_absolute() or ".." in parts:
            return None
        tail = os.sep + os.path.join(*parts)
        found = {src for file, src in self.files.items() if file.endswith(tail)}
        return found.pop() if len(found) == 1 else None

    def _indexed_file(self, path: Path) -> str | None:
        """The source of ``path`` if it is an indexed file (compared with links resolved)."""
        source = self.files.get(os.path.normpath(path))
        if source is None and self.files:
            source = self._real_files().get(os.path.realpath(path))
        return source

    def _real_files(self) -> dict[str, str]:
        if self._real is None:
            self._real = {os.path.realpath(file): src for file, src in self.files.items()}
        return self._real

    def info(self) -> dict[str, Any]:
        """The index's entry in the report's ``indexes``."""
        info = {"path": self.index.location, "chunk_size": self.chunk_size}
        info["chunk_factor"] = self.chunk_factor
        if self.built:
            info.update(self.built)
        else:
            info["reused"] = True
        return info


def _check_ingested(collection: BeirCollection, report: Any) -> None:
    for skip in report.skipped:
        raise UsageError(f"{collection.corpus_path}: cannot index {skip['path']}: {skip['reason']}")
    if report.documents == 0:
        raise UsageError(f"{collection.corpus_path}: no documents were indexed")


def prepare_beir_index(
    collection: BeirCollection,
    settings: Settings,
    root: Path,
    progress: Any = None,
) -> Target:
    """The eval index of a BEIR corpus, built or brought up to date (usually a no-op)."""
    from ragcli.index import Index

    path = eval_index_dir(
        collection.corpus_path, settings, root, collection_name(collection.folder)
    )
    index = Index(path, settings=settings, base_dir=collection.corpus_path.parent.resolve())
    existed = index.exists()
    started = time.perf_counter()
    report = index.ingest([collection.corpus_path], progress=progress)
    seconds = time.perf_counter() - started
    _check_ingested(collection, report)
    built = {
        "path": str(path),
        "reused": existed and not (report.added or report.updated or report.removed),
        "added": list(report.added),
        "updated": list(report.updated),
        "unchanged": list(report.unchanged),
        "generation": report.generation,
        "documents": report.documents,
        "chunks": report.chunks,
        "seconds": round(seconds, 3),
        "corpus": collection.corpus_path.name,
    }
    return Target(index=index, chunk_size=settings.chunk_size, built=built)


def beir_targets(
    collection: BeirCollection,
    sweep: dict[str, list[Any]],
    overrides: dict[str, Any],
    cwd: Path,
    ingest_progress: Any,
) -> tuple[dict[int | None, Target], Settings]:
    """One eval index per swept chunk size, and the run's base settings."""
    root = eval_root(cwd)
    project_dir = root.parent.parent if root.parent.name == ".rag" else cwd
    base = load_settings(project_dir).with_overrides(**overrides)
    targets: dict[int | None, Target] = {}
    for size in sweep.get("chunk_size", [base.chunk_size]):
        settings = base.with_overrides(chunk_size=size)
        if settings.chunk_overlap >= settings.chunk_size:
            settings = settings.with_overrides(chunk_overlap=settings.chunk_size // 4)
        targets[size] = prepare_beir_index(collection, settings, root, ingest_progress)
    return targets, base


def located_target(
    sweep: dict[str, list[Any]],
    overrides: dict[str, Any],
    cwd: Path,
    where: dict[str, Any],
) -> tuple[dict[int | None, Target], Settings]:
    """The existing index a question set runs against (``where``: index, name, store)."""
    from ragcli.index import Index

    if "chunk_size" in sweep:
        raise UsageError(
            "--chunk-size sweeps need --beir (a question set runs against an existing index)"
        )
    idx = Index.locate(cwd=cwd, **where)
    if not idx.exists():
        raise RagError(f"{idx.location}: the index is empty (run `rag ingest PATH` first)")
    idx.settings = idx.settings.with_overrides(**overrides)
    return {None: Target(index=idx, chunk_size=None)}, idx.settings
