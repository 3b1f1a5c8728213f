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
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ragcli.config import Settings
from ragcli.embed import embed_variant
from ragcli.errors import IndexStateError, LoadError, RagError
from ragcli.store.base import StoreWriter
from ragcli.store.catalog import FileRecord
from ragcli.text import index_text
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


def expected_manifest(settings: Settings) -> dict[str, Any]:
    from ragcli.store.sparse import DEFAULT_PARAMS
    from ragcli.weights import canonical_name

    model = canonical_name(settings.embed_model)
    # Float vectors (torch or ONNX) leave the key out, so the manifests and eval-index
    # keys of existing indexes stay as they were.
    variant = embed_variant(settings.embed_backend)
    return {
        **({"embed_variant": variant} if variant != "float" else {}),
        "embed_model": model,
        "chunking": {"size": settings.chunk_size, "overlap": settings.chunk_overlap},
        "tokenizer": model,
        "bm25": DEFAULT_PARAMS,
    }


def check_compatible(manifest: dict[str, Any], settings: Settings, index_dir: Path | str) -> None:
    from ragcli.weights import canonical_name

    wanted = expected_manifest(settings)
    found = dict(manifest)
    for key in ("embed_model", "tokenizer"):  # an alias names the same model
        if isinstance(found.get(key), str):
            found[key] = canonical_name(found[key])
    wanted.setdefault("embed_variant", "float")
    found.setdefault("embed_variant", "float")
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
            from ragcli.embed import SentenceTransformerEncoder

            self._encoder = SentenceTransformerEncoder(
                self.settings.embed_model, self.settings.embed_batch_size
            )
        return self._encoder

    @property
    def chunker(self):
        if self._chunker is None:
            from ragcli.chunk import Chunker
            from ragcli.weights import load_tokenizer, model_max_tokens, resolve_model_path

            tokenizer = load_tokenizer(self.settings.embed_model)
            self._chunker = Chunker(
                tokenizer,
                chunk_size=self.settings.chunk_size,
                overlap=self.settings.chunk_overlap,
                max_tokens=model_max_tokens(resolve_model_path(self.settings.embed_model)),
            )
        return self._chunker


def ingest(
    target: Path | StoreWriter,
    roots: Sequence[Path],
    settings: Settings,
    *,
    base_dir: Path,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    rebuild: bool = False,
    progress: Progress | None = None,
    encoder=None,
    exists: bool | None = None,
) -> IngestReport:
    """Bring an index up to date with the files under ``roots``.

    ``target`` is a local index folder or an unopened ``StoreWriter`` (a Milvus one, say;
    ``rebuild`` applies to folders, a writer is opened with its own). ``exists`` says
    whether the index is there already (worked out for folders), so a mistyped folder
    does not create an empty index. ``base_dir`` is what displayed paths and file
    document ids are relative to (the project folder holding ``.rag/``), so they do not
    depend on the working directory.
    """
    from ragcli.discover import discover

    if isinstance(target, str | os.PathLike):
        from ragcli.store.generations import current_generation
        from ragcli.store.local import LocalWriter

        folder = Path(target)
        if exists is None:
            exists = not rebuild and folder.exists() and current_generation(folder) is not None
        writer: StoreWriter = LocalWriter(folder, rebuild=rebuild)
    else:
        writer = target
        exists = True if exists is None else exists

    started = time.perf_counter()
    timings: dict[str, float] = {}
    roots = [Path(root).expanduser().resolve() for root in roots]
    for root in roots:
        if not root.exists():
            raise RagError(f"{root}: no such file or directory")
    report = IngestReport(index=getattr(writer, "display", None) or str(writer))
    pipeline = _Pipeline(settings, encoder)

    tick = time.perf_counter()
    discoveries = [discover(root, list(include or []), list(exclude or [])) for root in roots]
    if not exists and not any(found.files or found.skipped for found in discoveries):
        raise RagError(_nothing_found(roots, include, exclude))

    with writer:
        manifest = writer.manifest
        if manifest:
            check_compatible(manifest, settings, report.index)
        known = writer.files()

        # 1. classify what discovery found ---------------------------------------
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
            raise RagError(_nothing_found(roots, include, exclude))

        if not changed and not gone and manifest is not None:
            # Files whose mtime alone changed are re-hashed next time: cheaper than
            # writing a whole generation to record new mtimes.
            return _keep_live(report, manifest, started, timings)

        # 2. load and chunk changed files -----------------------------------------
        tick = time.perf_counter()
        loaded = _load_changed(changed, writer, gone, base_dir, report, progress)
        timings["load"] = time.perf_counter() - tick

        if not loaded and not gone and manifest is not None:
            # Every changed file failed to load (bad files seen before are re-read each
            # run): the index would not change, so nothing is written.
            return _keep_live(report, manifest, started, timings)

        tick = time.perf_counter()
        all_docs = [doc for _, docs in loaded for doc in docs]
        chunks_by_doc: dict[str, list[Chunk]] = {doc.doc_id: [] for doc in all_docs}
        for chunk in pipeline.chunker.chunk_many(all_docs) if all_docs else []:
            chunks_by_doc[chunk.doc_id].append(chunk)
        next_id = writer.next_chunk_id()
        new_chunks: list[Chunk] = []
        for _record, docs in loaded:
            for doc in docs:
                for chunk in chunks_by_doc[doc.doc_id]:
                    chunk.chunk_id = next_id
                    next_id += 1
                    new_chunks.append(chunk)
        timings["chunk"] = time.perf_counter() - tick

        # 3. embed: everything is computed before the store is touched ------------
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
        if vectors is not None and writer.dimension and vectors.shape[1] != writer.dimension:
            raise IndexStateError(f"{report.index}: embedding dimension changed; use --rebuild")

        # 4. write ------------------------------------------------------------------
        tick = time.perf_counter()
        for path in gone:
            report.chunks_removed += writer.remove_file(path)
            source = known[path].source if path in known else _display_path(Path(path), base_dir)
            if path in known and source not in report.updated:
                report.removed.append(source)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        offset = 0
        for number, (record, docs) in enumerate(loaded, 1):
            if record.path in known:
                report.chunks_removed += writer.remove_file(record.path)
            pairs = [(doc, chunks_by_doc[doc.doc_id]) for doc in docs]
            count = sum(len(chunks) for _, chunks in pairs)
            part = vectors[offset : offset + count] if vectors is not None else None
            writer.add_file(record, pairs, _rows(part, writer), now)
            offset += count
            if progress:
                progress("write", number, len(loaded))
        for record in retouched:
            writer.touch_file(record, now)
        report.chunks_added = len(new_chunks)
        if vectors is not None:
            dimension = vectors.shape[1]
        else:
            dimension = writer.dimension or pipeline.encoder.dimension
        generation = writer.commit(
            {
                **expected_manifest(settings),
                "dimension": int(dimension),
                "roots": sorted({*(manifest or {}).get("roots", []), *map(str, roots)}),
                "updated_at": now,
            }
        )
        timings["write"] = time.perf_counter() - tick
        counts = writer.manifest["counts"]
    report.generation = generation
    report.documents = counts["documents"]
    report.chunks = counts["chunks"]
    report.seconds = time.perf_counter() - started
    report.timings = timings
    return report


def _rows(part: np.ndarray | None, writer) -> np.ndarray:
    """The file's vectors; a run without new chunks has none at all."""
    return part if part is not None else np.zeros((0, writer.dimension or 0), dtype=np.float32)


def _load_changed(changed, writer, gone, base_dir, report, progress):
    """Load each changed file; a document id another file already holds is skipped."""
    from ragcli.load import load_file

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
            if owner is None:
                owner_file = writer.file_of_document(doc.doc_id)
                if owner_file and owner_file != str(path) and owner_file not in gone:
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
    return loaded


def _keep_live(report, manifest: dict[str, Any], started, timings) -> IngestReport:
    """The run changes nothing: report on the live index and write nothing."""
    counts = manifest.get("counts", {})
    report.generation = manifest.get("generation")
    report.documents = counts.get("documents", 0)
    report.chunks = counts.get("chunks", 0)
    report.seconds = time.perf_counter() - started
    report.timings = timings
    return report


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
