"""The run: load and chunk the changed files, embed the new chunks, write through a
StoreWriter. Everything is computed before the store is touched."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ragcli.config import Settings
from ragcli.errors import IndexStateError, LoadError, RagError
from ragcli.ingest.manifest import check_compatible, expected_manifest
from ragcli.ingest.plan import Change, Plan, display_path, plan_changes
from ragcli.store.base import StoreWriter
from ragcli.store.catalog import FileRecord
from ragcli.text import index_text
from ragcli.types import Chunk, Document

# progress(stage, done, total): stage is "load", "chunk" (documents split), "embed" or
# "write".
Progress = Callable[[str, int, int], None]

Loaded = list[tuple[FileRecord, list[Document]]]


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


def ingest(
    target: Path | StoreWriter,
    roots: Sequence[Path],
    settings: Settings,
    *,
    base_dir: Path,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    rebuild: bool = False,
    follow_links: bool = False,
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
    depend on the working directory; files outside it go by their absolute path.
    Symlinks that resolve outside ``roots`` are skipped unless ``follow_links``.
    """
    from ragcli.discover import discover

    writer, exists = _writer_for(target, rebuild, exists)
    run = _Run(writer, settings, base_dir, progress, encoder)
    roots = _existing_roots(roots)
    nothing_found = RagError(_nothing_found(roots, include, exclude))
    tick = time.perf_counter()
    rules = {"include": list(include or []), "exclude": list(exclude or [])}
    discoveries = [
        discover(root, **rules, roots=roots, follow_links=follow_links) for root in roots
    ]
    if not exists and not any(map(_found_something, discoveries)):
        raise nothing_found
    with writer:
        manifest = writer.manifest
        settings = run.resolve_backend(manifest)
        if manifest:
            check_compatible(manifest, settings, run.report.index)
        known = writer.files()
        plan = plan_changes(discoveries, known, roots, base_dir, filtered=bool(include or exclude))
        run.timings["discover"] = time.perf_counter() - tick
        if not plan.seen and not plan.gone and not any(map(_found_something, discoveries)):
            raise nothing_found
        run.report.unchanged.extend(plan.unchanged)
        run.report.skipped.extend(plan.skipped)
        repairing = getattr(writer, "repairing", None)  # a damaged live generation
        if not plan.changed and not plan.gone and manifest is not None and not repairing:
            # Files whose mtime alone changed are re-hashed next time: cheaper than
            # writing a whole generation to record new mtimes.
            return run.keep_live(manifest)
        loaded = run.load(plan)
        if not loaded and not plan.gone and manifest is not None and not repairing:
            # Every changed file failed to load (bad files seen before are re-read each
            # run): the index would not change, so nothing is written.
            return run.keep_live(manifest)
        chunks_by_doc, new_chunks = run.chunk(loaded)
        vectors = run.embed(new_chunks)
        generation = run.write(plan, known, loaded, chunks_by_doc, vectors, manifest, roots)
        counts = writer.manifest["counts"]
    return run.finish(generation, counts)


def _writer_for(
    target: Path | StoreWriter, rebuild: bool, exists: bool | None
) -> tuple[StoreWriter, bool]:
    """The writer of ``target`` and whether its index is there already."""
    if not isinstance(target, str | os.PathLike):
        return target, True if exists is None else exists
    from ragcli.store.generations import index_present
    from ragcli.store.local import LocalWriter

    folder = Path(target)
    if exists is None:
        exists = not rebuild and index_present(folder)
    return LocalWriter(folder, rebuild=rebuild), exists


def _existing_roots(roots: Sequence[Path]) -> list[Path]:
    resolved = [Path(root).expanduser().resolve() for root in roots]
    for root in resolved:
        if not root.exists():
            raise RagError(f"{root}: no such file or directory")
    return resolved


class _Pipeline:
    """Lazily built chunker and encoder, shared by every file of one run."""

    def __init__(self, settings: Settings, encoder=None):
        self.settings = settings
        self._encoder = encoder
        self._chunker = None

    @property
    def encoder(self):
        if self._encoder is None:
            from ragcli.embed import ingest_encoder
            from ragcli.errors import warn

            self._encoder = ingest_encoder(self.settings, warn=warn)
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


class _Run:
    """The steps of one ingest into an open writer, each timed into ``timings``."""

    def __init__(self, writer: StoreWriter, settings: Settings, base_dir: Path, progress, encoder):
        self.started = time.perf_counter()
        self.writer = writer
        self.settings = settings
        self.base_dir = base_dir
        self.progress: Progress | None = progress
        self.pipeline = _Pipeline(settings, encoder)
        self.report = IngestReport(index=getattr(writer, "display", None) or str(writer))
        self.timings: dict[str, float] = {}

    def resolve_backend(self, manifest: Mapping[str, Any] | None) -> Settings:
        """The settings with ``embed_backend = auto`` made concrete for this index."""
        from dataclasses import replace

        from ragcli.embed import resolve_backend
        from ragcli.errors import warn

        backend = resolve_backend(self.settings, manifest, warn)
        self.settings = self.pipeline.settings = replace(self.settings, embed_backend=backend)
        return self.settings

    def load(self, plan: Plan) -> Loaded:
        """Load each changed file. A file that fails to load, or holds a document id
        another file already has, is skipped and not recorded (so the next run retries
        it); if it was indexed before it joins ``plan.gone``."""
        from ragcli.load import load_file

        tick = time.perf_counter()
        loaded: Loaded = []
        claimed: dict[str, str] = {}  # document id -> where it is (display path, line)
        for number, change in enumerate(plan.changed, 1):
            try:
                documents = load_file(change.path, self.base_dir)
                self._check_ids(change, documents, claimed, plan)
            except LoadError as err:
                self.report.skipped.append({"path": change.record.source, "reason": str(err)})
                if change.is_update:
                    plan.gone.append(str(change.path))
                continue
            claimed.update({doc.doc_id: _place(change.record.source, doc) for doc in documents})
            loaded.append((change.record, documents))
            (self.report.updated if change.is_update else self.report.added).append(
                change.record.source
            )
            if self.progress:
                self.progress("load", number, len(plan.changed))
        self.timings["load"] = time.perf_counter() - tick
        return loaded

    def _check_ids(
        self, change: Change, documents: list[Document], claimed: dict[str, str], plan: Plan
    ) -> None:
        """``LoadError`` naming both places when a document id is another file's."""
        for doc in documents:
            owner = claimed.get(doc.doc_id)
            if owner is None:
                owner_file = self.writer.file_of_document(doc.doc_id)
                if owner_file and owner_file != str(change.path) and owner_file not in plan.gone:
                    owner = display_path(Path(owner_file), self.base_dir)
            if owner is not None:
                here = f"line {doc.metadata['line']}" if "line" in doc.metadata else "here"
                raise LoadError(f"duplicate document id {doc.doc_id!r}: {here}, and in {owner}")

    def chunk(self, loaded: Loaded) -> tuple[dict[str, list[Chunk]], list[Chunk]]:
        """The chunks of each loaded document, numbered on from the writer's next id."""
        tick = time.perf_counter()
        all_docs = [doc for _, docs in loaded for doc in docs]
        chunks_by_doc: dict[str, list[Chunk]] = {doc.doc_id: [] for doc in all_docs}
        for chunk in self._chunks(all_docs):
            chunks_by_doc[chunk.doc_id].append(chunk)
        next_id = self.writer.next_chunk_id()
        new_chunks: list[Chunk] = []
        for _record, docs in loaded:
            for doc in docs:
                for chunk in chunks_by_doc[doc.doc_id]:
                    chunk.chunk_id = next_id
                    next_id += 1
                    new_chunks.append(chunk)
        self.report.chunks_added = len(new_chunks)
        self.timings["chunk"] = time.perf_counter() - tick
        return chunks_by_doc, new_chunks

    def _chunks(self, docs: list[Document]):
        """The chunker's chunks of ``docs``; ``progress("chunk", documents done, total)``
        as each document's chunks begin, so the split is never a silent minute."""
        if not docs:
            return
        progress, total = self.progress, len(docs)
        if progress:
            progress("chunk", 0, total)
        done, current = 0, None
        for chunk in self.pipeline.chunker.iter_chunks(docs):
            if chunk.doc_id != current:
                current, done = chunk.doc_id, done + 1
                if progress and (done % 64 == 0 or done == total):
                    progress("chunk", done, total)
            yield chunk
        if progress:
            progress("chunk", total, total)

    def embed(self, new_chunks: list[Chunk]) -> np.ndarray | None:
        tick = time.perf_counter()
        texts = [index_text(chunk.title, chunk.text) for chunk in new_chunks]
        reporter = None
        if self.progress:
            progress, done = self.progress, [0]

            def reporter(n: int) -> None:
                done[0] += n
                progress("embed", done[0], len(texts))

        vectors = self.pipeline.encoder.encode(texts, progress=reporter) if texts else None
        self.timings["embed"] = time.perf_counter() - tick
        dimension = self.writer.dimension
        if vectors is not None and dimension and vectors.shape[1] != dimension:
            message = f"{self.report.index}: embedding dimension changed; use --rebuild"
            raise IndexStateError(message)
        return vectors

    def write(
        self,
        plan: Plan,
        known: Mapping[str, FileRecord],
        loaded: Loaded,
        chunks_by_doc: dict[str, list[Chunk]],
        vectors: np.ndarray | None,
        manifest: dict[str, Any] | None,
        roots: Sequence[Path],
    ) -> int:
        """Remove what is gone, add what was loaded, commit; the new generation."""
        tick = time.perf_counter()
        writer, report = self.writer, self.report
        for path in plan.gone:
            report.chunks_removed += writer.remove_file(path)
            if path in known and known[path].source not in report.updated:
                report.removed.append(known[path].source)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        self._add_files(known, loaded, chunks_by_doc, vectors, now)
        for record in plan.retouched:
            writer.touch_file(record, now)
        if vectors is not None:
            dimension = vectors.shape[1]
        else:
            dimension = writer.dimension or self.pipeline.encoder.dimension
        generation = writer.commit(
            {
                **expected_manifest(self.settings),
                "dimension": int(dimension),
                "roots": sorted({*(manifest or {}).get("roots", []), *map(str, roots)}),
                "updated_at": now,
            }
        )
        self.timings["write"] = time.perf_counter() - tick
        return generation

    def _add_files(self, known, loaded: Loaded, chunks_by_doc, vectors, now: str) -> None:
        writer = self.writer
        offset = 0
        for number, (record, docs) in enumerate(loaded, 1):
            if record.path in known:
                self.report.chunks_removed += writer.remove_file(record.path)
            pairs = [(doc, chunks_by_doc[doc.doc_id]) for doc in docs]
            count = sum(len(chunks) for _, chunks in pairs)
            part = vectors[offset : offset + count] if vectors is not None else None
            writer.add_file(record, pairs, _rows(part, writer), now)
            offset += count
            if self.progress:
                self.progress("write", number, len(loaded))

    def keep_live(self, manifest: dict[str, Any]) -> IngestReport:
        """The run changes nothing: report on the live index and write nothing."""
        counts = manifest.get("counts", {})
        return self.finish(manifest.get("generation"), counts)

    def finish(self, generation: int | None, counts: Mapping[str, int]) -> IngestReport:
        report = self.report
        report.generation = generation
        report.documents = counts.get("documents", 0)
        report.chunks = counts.get("chunks", 0)
        report.seconds = time.perf_counter() - self.started
        report.timings = self.timings
        return report


def _rows(part: np.ndarray | None, writer) -> np.ndarray:
    """The file's vectors; a run without new chunks has none at all."""
    return part if part is not None else np.zeros((0, writer.dimension or 0), dtype=np.float32)


def _found_something(found) -> bool:
    """Files to index, or problems to report (files of unsupported types alone are not)."""
    return bool(found.files) or any(
        not reason.startswith("unsupported type") for _, reason in found.skipped
    )


def _nothing_found(roots: Sequence[Path], include, exclude) -> str:
    where = ", ".join(str(root) for root in roots)
    rules = " matching --include/--exclude" if include or exclude else ""
    return f"no supported files found{rules} under {where}"


def _place(source: str, doc: Document) -> str:
    """Where a document is, for messages: ``corpus/a.jsonl line 3`` or ``notes/a.md``."""
    return f"{source} line {doc.metadata['line']}" if "line" in doc.metadata else source
