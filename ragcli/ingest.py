"""Ingest: discover -> load -> chunk -> embed -> store, incrementally and atomically.

Each run compares the files under the given roots with the catalog: new files are added,
files whose content hash changed have their chunks replaced, files gone from a root are
removed, and the rest is left alone (their vectors are carried over, not re-embedded).
The result is written as a new generation (see ``ragcli.store.generations``); when
nothing changed no generation is written at all.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ragcli.config import Settings
from ragcli.errors import IndexStateError, LoadError, RagError
from ragcli.store import CATALOG_FILE, DENSE_FILE, SPARSE_DIR
from ragcli.store.catalog import Catalog, FileRecord
from ragcli.store.generations import (
    WriteLock,
    current_generation,
    generation_number,
    publish_generation,
    read_manifest,
    remove_stale,
    start_generation,
)
from ragcli.types import Chunk, Document

# progress(stage, done, total): stage is "load", "embed" or "write".
Progress = Callable[[str, int, int], None]


@dataclass
class IngestReport:
    index: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    chunks_added: int = 0
    chunks_removed: int = 0
    documents: int = 0
    chunks: int = 0
    generation: int | None = None
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["counts"] = {
            name: len(getattr(self, name))
            for name in ("added", "updated", "removed", "unchanged", "skipped")
        }
        return data


def index_text(title: str, text: str) -> str:
    """What gets embedded and BM25-indexed for a chunk: its document title, then its text.

    The title puts every chunk of a long document in context (a chunk from the middle of
    a paper still says which paper it is from).
    """
    if title and not text.startswith(title):
        return f"{title}\n{text}"
    return text


def expected_manifest(settings: Settings) -> dict[str, Any]:
    from ragcli.models import canonical_name
    from ragcli.store.sparse import DEFAULT_PARAMS

    model = canonical_name(settings.embed_model)
    return {
        "embed_model": model,
        "chunking": {"size": settings.chunk_size, "overlap": settings.chunk_overlap},
        "tokenizer": model,
        "bm25": DEFAULT_PARAMS,
    }


def check_compatible(manifest: dict[str, Any], settings: Settings, index_dir: Path) -> None:
    from ragcli.models import canonical_name

    wanted = expected_manifest(settings)
    found = dict(manifest)
    for key in ("embed_model", "tokenizer"):  # an alias names the same model
        if isinstance(found.get(key), str):
            found[key] = canonical_name(found[key])
    differences = [
        f"{key} {found.get(key)!r} (asked for {value!r})"
        for key, value in wanted.items()
        if found.get(key) != value
    ]
    if differences:
        raise IndexStateError(
            f"{index_dir}: index was built with different settings: {'; '.join(differences)}; "
            "use the index's settings, another --index, or --rebuild to rebuild it"
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _display_path(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()


def _under(path: str, roots: Sequence[Path]) -> bool:
    return any(path == str(root) or path.startswith(str(root) + os.sep) for root in roots)


class _Pipeline:
    """Lazily built chunker and encoder, shared by every file of one run."""

    def __init__(self, settings: Settings, encoder=None):
        self.settings = settings
        self._encoder = encoder
        self._chunker = None

    @property
    def encoder(self):
        if self._encoder is None:
            from ragcli.embed import Encoder

            self._encoder = Encoder(self.settings.embed_model, self.settings.embed_batch_size)
        return self._encoder

    @property
    def chunker(self):
        if self._chunker is None:
            from ragcli.chunk import Chunker, load_tokenizer, model_max_tokens
            from ragcli.models import resolve_model_path

            tokenizer = load_tokenizer(self.settings.embed_model)
            self._chunker = Chunker(
                tokenizer,
                chunk_size=self.settings.chunk_size,
                overlap=self.settings.chunk_overlap,
                max_tokens=model_max_tokens(resolve_model_path(self.settings.embed_model)),
            )
        return self._chunker


def ingest(
    index_dir: Path,
    roots: Sequence[Path],
    settings: Settings,
    *,
    base_dir: Path,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    rebuild: bool = False,
    progress: Progress | None = None,
    encoder=None,
) -> IngestReport:
    """Bring the index at ``index_dir`` up to date with the files under ``roots``.

    ``base_dir`` is what displayed paths and file document ids are relative to (the
    project folder holding ``.rag/``), so they do not depend on the working directory.
    """
    from ragcli.discover import discover
    from ragcli.load import load_file

    started = time.perf_counter()
    timings: dict[str, float] = {}
    roots = [Path(root).expanduser().resolve() for root in roots]
    for root in roots:
        if not root.exists():
            raise RagError(f"{root}: no such file or directory")
    report = IngestReport(index=str(index_dir))
    pipeline = _Pipeline(settings, encoder)

    def discover_all() -> list:
        return [discover(root, list(include or []), list(exclude or [])) for root in roots]

    tick = time.perf_counter()
    discoveries = None
    if not index_dir.exists():
        # A new index: find out before creating its folder (the lock lives in it) that
        # there is something to put in it, so a mistyped folder leaves no stray .rag/.
        discoveries = discover_all()
        if not any(found.files or found.skipped for found in discoveries):
            raise RagError(_nothing_found(roots, include, exclude))

    with WriteLock(index_dir):
        live = None if rebuild else current_generation(index_dir)
        manifest = read_manifest(live) if live else None
        if manifest:
            check_compatible(manifest, settings, index_dir)
        old = Catalog(live / CATALOG_FILE, readonly=True) if live else None
        known = old.files() if old else {}

        # 1. discover and classify ------------------------------------------------
        if discoveries is None:
            discoveries = discover_all()
        seen: set[str] = set()
        gone: list[str] = []
        changed: list[tuple[Path, FileRecord, bool]] = []  # (path, record, is_update)
        retouched: list[FileRecord] = []  # same content, new mtime
        for found in discoveries:
            for path_text, reason in found.skipped:
                source = _display_path(Path(path_text), base_dir)
                report.skipped.append({"path": source, "reason": reason})
            for path in found.files:
                key = str(path)
                if key in seen:
                    continue
                seen.add(key)
                source = _display_path(path, base_dir)
                previous = known.get(key)
                try:
                    stat = path.stat()
                    if previous and (previous.size, previous.mtime_ns) == (
                        stat.st_size,
                        stat.st_mtime_ns,
                    ):
                        report.unchanged.append(source)
                        continue
                    digest = _sha256(path)
                except OSError as err:
                    reason = (err.strerror or type(err).__name__).lower()  # as discover says it
                    report.skipped.append({"path": source, "reason": reason})
                    if previous:
                        gone.append(key)
                    continue
                record = FileRecord(key, source, digest, stat.st_size, stat.st_mtime_ns)
                if previous and previous.sha256 == digest:
                    report.unchanged.append(source)
                    retouched.append(record)
                else:
                    changed.append((path, record, previous is not None))
        # With --include/--exclude the run is about the selected files only: files the
        # filters leave out stay indexed unless they were deleted from disk.
        filtered = bool(include or exclude)
        gone.extend(
            path
            for path in known
            if _under(path, roots) and path not in seen and not (filtered and Path(path).exists())
        )
        timings["discover"] = time.perf_counter() - tick

        if not seen and not report.skipped and not gone:
            if old:
                old.close()
            raise RagError(_nothing_found(roots, include, exclude))

        if not changed and not gone and live is not None:
            # Files whose mtime alone changed are re-hashed next time: cheaper than
            # writing a whole generation to record new mtimes.
            return _keep_live(report, index_dir, live, old, started, timings)

        # 2. load and chunk changed files -----------------------------------------
        tick = time.perf_counter()
        loaded: list[tuple[FileRecord, list[Document]]] = []
        claimed: dict[str, str] = {}
        for number, (path, record, is_update) in enumerate(changed, 1):
            try:
                documents = load_file(path, _load_base(path, base_dir))
            except LoadError as err:
                report.skipped.append({"path": record.source, "reason": str(err)})
                documents = None
            except Exception as err:  # a loader bug must not stop the run
                report.skipped.append(
                    {"path": record.source, "reason": f"unexpected {type(err).__name__}: {err}"}
                )
                documents = None
            if documents is None:
                if is_update:
                    gone.append(str(path))
                continue
            kept = []
            for doc in documents:
                owner = claimed.get(doc.doc_id)
                if owner is None and old is not None and old.has_document(doc.doc_id):
                    owner_file = _file_of(old, doc.doc_id)
                    if owner_file != str(path) and owner_file not in gone:
                        owner = _display_path(Path(owner_file), base_dir)
                if owner is not None:
                    report.skipped.append(
                        {
                            "path": record.source,
                            "reason": f"duplicate document id {doc.doc_id!r} (already in {owner})",
                        }
                    )
                    continue
                claimed[doc.doc_id] = record.source
                kept.append(doc)
            loaded.append((record, kept))
            (report.updated if is_update else report.added).append(record.source)
            if progress:
                progress("load", number, len(changed))
        timings["load"] = time.perf_counter() - tick

        if not loaded and not gone and live is not None:
            # Every changed file failed to load (bad files seen before are re-read each
            # run): the index would not change, so no generation is written.
            return _keep_live(report, index_dir, live, old, started, timings)

        tick = time.perf_counter()
        all_docs = [doc for _, docs in loaded for doc in docs]
        chunks_by_doc: dict[str, list[Chunk]] = {doc.doc_id: [] for doc in all_docs}
        for chunk in pipeline.chunker.chunk_many(all_docs) if all_docs else []:
            chunks_by_doc[chunk.doc_id].append(chunk)
        timings["chunk"] = time.perf_counter() - tick

        # 3. write the new generation ---------------------------------------------
        tmp = start_generation(index_dir)
        try:
            catalog = _copy_catalog(old, tmp / CATALOG_FILE)
            from ragcli.store import dense

            dense_index = dense.read_index(live / DENSE_FILE) if live else None
            removed_ids: list[int] = []
            for path in gone:
                removed_ids.extend(catalog.chunk_ids_of_file(path))
                source = (
                    known[path].source if path in known else _display_path(Path(path), base_dir)
                )
                if path in known and source not in report.updated:
                    report.removed.append(source)
                catalog.remove_file(path)
            for record, _docs in loaded:
                if record.path in known:
                    removed_ids.extend(catalog.chunk_ids_of_file(record.path))
                    catalog.remove_file(record.path)
            now = datetime.now(UTC).isoformat(timespec="seconds")
            next_id = catalog.next_chunk_id()
            new_chunks: list[Chunk] = []
            for record, docs in loaded:
                catalog.add_file(record, now)
                for doc in docs:
                    chunks = chunks_by_doc[doc.doc_id]
                    for chunk in chunks:
                        chunk.chunk_id = next_id
                        next_id += 1
                    catalog.add_document(doc, record.path, chunks)
                    new_chunks.extend(chunks)
            for record in retouched:
                catalog.add_file(record, now)

            tick = time.perf_counter()
            texts = [index_text(chunk.title, chunk.text) for chunk in new_chunks]
            reporter = None
            if progress:
                done = [0]

                def reporter(n: int) -> None:
                    done[0] += n
                    progress("embed", done[0], len(texts))

            vectors = pipeline.encoder.encode(texts, progress=reporter) if texts else None
            timings["embed"] = time.perf_counter() - tick

            tick = time.perf_counter()
            if dense_index is None:
                dimension = vectors.shape[1] if vectors is not None else pipeline.encoder.dimension
            elif vectors is not None and vectors.shape[1] != dense_index.d:
                raise IndexStateError(f"{index_dir}: embedding dimension changed; use --rebuild")
            else:
                dimension = dense_index.d
            removed = np.asarray(removed_ids, dtype=np.int64)
            ids = np.asarray([chunk.chunk_id for chunk in new_chunks], dtype=np.int64)
            # Flat or HNSW by size; an HNSW index is rebuilt when chunks are removed.
            dense_index, report.chunks_removed = dense.update(
                dense_index, dimension, removed, ids, vectors
            )
            dense.write_index(dense_index, tmp / DENSE_FILE)
            report.chunks_added = len(new_chunks)
            catalog.commit()
            _build_sparse(catalog, tmp / SPARSE_DIR)
            counts = catalog.counts()
            catalog.close()
            manifest_out = {
                **expected_manifest(settings),
                "dimension": int(dense_index.d),
                "dense_index": dense.kind_of(dense_index),
                "counts": counts,
                "roots": sorted({*(manifest or {}).get("roots", []), *map(str, roots)}),
                "updated_at": now,
            }
            timings["write"] = time.perf_counter() - tick
            final = publish_generation(index_dir, tmp, manifest_out)
        except BaseException:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
            raise
        finally:
            if old:
                old.close()
        report.generation = generation_number(final)
        report.documents = counts["documents"]
        report.chunks = counts["chunks"]
        report.seconds = time.perf_counter() - started
        report.timings = timings
        return report


def _keep_live(report, index_dir: Path, live: Path, old: Catalog, started, timings) -> IngestReport:
    """The run changes nothing: report on the live generation and write none."""
    remove_stale(index_dir)  # folders left by a killed run go, as with any writer
    report.generation = generation_number(live)
    _finish(report, old, started, timings)
    return report


def _finish(report: IngestReport, catalog: Catalog | None, started: float, timings) -> None:
    if catalog is not None:
        counts = catalog.counts()
        report.documents, report.chunks = counts["documents"], counts["chunks"]
        catalog.close()
    report.seconds = time.perf_counter() - started
    report.timings = timings


def _nothing_found(roots: Sequence[Path], include, exclude) -> str:
    where = ", ".join(str(root) for root in roots)
    rules = " matching --include/--exclude" if include or exclude else ""
    return f"no supported files found{rules} under {where}"


def _load_base(path: Path, base_dir: Path) -> Path:
    try:
        path.relative_to(base_dir)
        return base_dir
    except ValueError:
        return path.parent


def _file_of(catalog: Catalog, doc_id: str) -> str:
    row = catalog.db.execute("SELECT file FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
    return row[0] if row else ""


def _copy_catalog(old: Catalog | None, target: Path) -> Catalog:
    if old is not None:
        destination = sqlite3.connect(target)
        old.db.backup(destination)
        destination.close()
    return Catalog(target)


def _build_sparse(catalog: Catalog, folder: Path) -> None:
    from ragcli.store.sparse import SparseIndex

    ids: list[int] = []
    texts: list[str] = []
    for chunk_id, title, text in catalog.iter_chunk_texts():
        ids.append(chunk_id)
        texts.append(index_text(title, text))
    SparseIndex.build(ids, texts).save(folder)
