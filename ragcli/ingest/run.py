"""The run: load and chunk the changed files, embed the new chunks, write through a
StoreWriter. Files are taken in batches of about ``BATCH_CHUNKS`` chunks, each loaded,
chunked, embedded (or taken from the checkpoint of an interrupted run,
``ragcli.ingest.checkpoint``) and handed to the writer, so memory does not grow with the
corpus; nothing is live until the writer commits. With embedding workers
(``ragcli.embed.pool``) one batch is embedded while the next is loaded and chunked, so
at most two batches are held at a time."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ragcli.config import Settings
from ragcli.errors import LoadError, RagError, warn
from ragcli.ingest.manifest import check_compatible, expected_manifest
from ragcli.ingest.model import (
    TextSample,
    exports_model,
    resolved_settings,
    warn_about_language,
    with_index_ocr,
)
from ragcli.ingest.plan import Change, Plan, display_path, plan_changes
from ragcli.load.versions import loader_versions, stale_kinds
from ragcli.store.base import StoreWriter
from ragcli.store.catalog import FileRecord
from ragcli.text import index_text
from ragcli.types import Chunk, Document

# progress(stage, done, total): stage is "load", "chunk" (files split), "embed" or
# "write" ("prepare" for the model, from Index.ingest). total is None while it is not
# known yet: embedding and writing start before every file is loaded, so their totals
# are only known once loading is done (a count without a total until then).
Progress = Callable[[str, int, int | None], None]

Loaded = list[tuple[FileRecord, list[Document]]]
# Chunks embedded and written at a time: a few MiB of text and vectors, and what an
# interrupted run can lose (seconds to a minute of embedding on 2 cores).
BATCH_CHUNKS = 2048


@dataclass
class Batch:
    """Files loaded and chunked together, their chunks numbered, ready to embed."""

    number: int
    loaded: Loaded
    chunks_by_doc: dict[str, list[Chunk]]
    chunks: list[Chunk]


@dataclass
class _Part:
    """Up to ``BATCH_CHUNKS`` of a batch's vectors: from the checkpoint, or ``pending``
    in the embedder. A batch of one large file has several, each checkpointed."""

    name: str  # the checkpoint's name for it
    digest: str
    count: int
    vectors: np.ndarray | None
    pending: Any = None


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
    writer: StoreWriter,
    roots: Sequence[Path],
    settings: Settings,
    *,
    base_dir: Path,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    follow_links: bool = False,
    progress: Progress | None = None,
    encoder=None,
    loaded=None,
    warn: Callable[[str], None] = warn,
) -> IngestReport:
    """Bring the index ``writer`` writes (unopened: ``ragcli.store.open_writer``, which
    takes ``rebuild``) up to date with the files under ``roots``.

    ``base_dir`` is what displayed paths and file document ids are relative to (the
    project folder holding ``.rag/``), so they do not depend on the working directory;
    files outside it go by their absolute path. Symlinks that resolve outside ``roots``
    are skipped unless ``follow_links``. ``encoder`` embeds instead of the one the
    settings name; ``loaded`` is a torch encoder already in memory that may be reused.
    After a run that leaves chunks, the ONNX export queries will use is made.
    """
    run = _Run(writer, settings, base_dir, progress, encoder, loaded, warn)
    report = _ingest(run, roots, include, exclude, follow_links)
    if writer.work_dir is not None:
        from ragcli.ingest.skipped import record_skipped

        record_skipped(writer.work_dir, report.skipped)
    if report.chunks and writer.manifest:
        from ragcli.embed import export_for_queries

        export_for_queries(writer.manifest, warn=warn)
    return report


def _ingest(run: _Run, roots: Sequence[Path], include, exclude, follow_links: bool) -> IngestReport:
    writer, base_dir = run.writer, run.base_dir
    roots = _existing_roots(roots)
    nothing_found = RagError(_nothing_found(roots, include, exclude))
    exists = writer.holds_index
    with writer:
        manifest = writer.manifest
        run.settings = with_index_ocr(run.settings, manifest)  # so its images are found
        tick = time.perf_counter()
        discoveries = _discover_all(roots, include, exclude, follow_links, run.settings.ocr)
        if not exists and not any(map(_found_something, discoveries)):
            raise nothing_found
        run.timings["discover"] = time.perf_counter() - tick
        run.prepare_model(manifest)
        tick = time.perf_counter()
        known = writer.files()
        stale = stale_kinds(manifest.get("loaders", {}) if manifest else None)
        filtered = bool(include or exclude)
        plan = plan_changes(
            discoveries, known, roots, base_dir, filtered=filtered, reload_kinds=stale
        )
        run.loaders = _recorded_loaders(manifest, stale, filtered)
        _say_reloading(plan, stale, run.warn)
        run.timings["discover"] += time.perf_counter() - tick
        if not plan.seen and not plan.gone and not any(map(_found_something, discoveries)):
            raise nothing_found
        run.report.unchanged.extend(plan.unchanged)
        run.report.skipped.extend(plan.skipped)
        repairing = writer.repairing  # a damaged live generation
        reanalysing = _reanalysing(manifest, writer)
        unchanged = not plan.changed and not plan.gone
        if unchanged and manifest is not None and not repairing and not reanalysing:
            # Files whose mtime alone changed are re-hashed next time: cheaper than
            # writing a whole generation to record new mtimes.
            return run.keep_live(manifest)
        run.remove_gone(plan, known)
        checkpoint = run.open_checkpoint(plan, known)
        from ragcli.load.includes import include_roots

        try:
            with include_roots(roots):  # pages may carry code from files in these roots
                run.embed_and_write(plan, known, checkpoint)
        except KeyboardInterrupt:
            raise checkpoint.interrupted(run.report.index) from None
        finally:
            run.pipeline.close()
            _stop_parse_workers()
        if not run.wrote and manifest is not None and not repairing and not reanalysing:
            # Every changed file failed to load (bad files seen before are re-read each
            # run): the index would not change, so nothing is written.
            return run.keep_live(manifest)
        generation = run.commit(plan, roots)
        checkpoint.discard()
        counts = writer.manifest["counts"]
    report = run.finish(generation, counts)
    warn_about_language(run.sample, writer.manifest.get("embed_model") or "", run.warn)
    return report


def _recorded_loaders(
    manifest: Mapping[str, Any] | None, stale: Mapping[str, str], filtered: bool
) -> dict[str, int]:
    """The loader versions the new generation records: this ragcli's, unless a filtered
    run may have left files of a changed kind unread (then the old ones, so the next run
    reads them)."""
    if stale and filtered and manifest is not None:
        return dict(manifest.get("loaders", {}))
    return loader_versions()


def _say_reloading(plan: Plan, stale: Mapping[str, str], warn: Callable[[str], None]) -> None:
    if not plan.reloaded:
        return
    kinds = sorted(set(plan.reloaded))
    count = len(plan.reloaded)
    warn(
        f"re-loading {count} indexed {'file' if count == 1 else 'files'} whose format is read "
        f"differently since they were indexed ({'; '.join(stale[kind] for kind in kinds)})"
    )


def _reanalysing(manifest: Mapping[str, Any] | None, writer: StoreWriter) -> bool:
    """Whether the live BM25 side was built with other params than this ragcli's (an
    older analyser): the writer rebuilds it from the stored chunks, without embedding."""
    if manifest is None or manifest.get("bm25") == writer.bm25_params:
        return False
    warn(
        "the index's BM25 side was built with an older text analysis; rebuilding it with "
        "this version's (code names kept whole), from the stored chunks, no re-embedding"
    )
    return True


def _discover_all(roots: Sequence[Path], include, exclude, follow_links: bool, ocr: bool):
    from ragcli.discover import discover

    rules = {"include": list(include or []), "exclude": list(exclude or [])}
    return [
        discover(root, **rules, roots=roots, follow_links=follow_links, ocr=ocr) for root in roots
    ]


def _existing_roots(roots: Sequence[Path]) -> list[Path]:
    resolved = [Path(root).expanduser().resolve() for root in roots]
    for root in resolved:
        if not root.exists():
            raise RagError(f"{root}: no such file or directory")
    return resolved


class _Pipeline:
    """Lazily built chunker and encoder, shared by every file of one run; ``embedder``
    is the encoder run in worker processes where that applies (``ragcli.embed.pool``)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.encoder = None  # set once the run's settings are resolved (_Run.prepare_model)
        self._embedder = None
        self._chunker = None

    @property
    def embedder(self):
        if self._embedder is None:
            from ragcli.embed.pool import parallel_encoder, worker_count

            workers = worker_count(self.settings.embed_workers)
            self._embedder = parallel_encoder(self.encoder, workers)
        return self._embedder

    def close(self) -> None:
        """Stop the embedding workers, if any were started."""
        close = getattr(self._embedder, "close", None)
        if close is not None:
            close()

    @property
    def chunker(self):
        if self._chunker is None:
            from ragcli.chunk import chunker_for

            self._chunker = chunker_for(self.settings)
        return self._chunker


class _Run:
    """The steps of one ingest into an open writer, each timed into ``timings``."""

    def __init__(
        self, writer: StoreWriter, settings: Settings, base_dir: Path, progress, *model: Any
    ):
        self.started = time.perf_counter()
        self.writer = writer
        self.settings = settings
        self.base_dir = base_dir
        self.progress: Progress | None = progress
        self.pipeline = _Pipeline(settings)
        self.given_encoder, self.loaded, self.warn = model
        self.report = IngestReport(index=writer.display)
        self.timings: dict[str, float] = {}
        self.now = datetime.now(UTC).isoformat(timespec="seconds")
        self.sample = TextSample()  # of the new chunks' texts, for the language check
        self.wrote = False  # a file removed or added: the run commits
        self.embedded = self.files_written = 0
        self.loaded_all = False  # every changed file loaded: the later totals are known
        self.loaders: dict[str, int] = loader_versions()  # recorded in the manifest

    def prepare_model(self, manifest: Mapping[str, Any] | None) -> Settings:
        """Resolve the settings for this index, check them against its manifest and make
        the encoder, timed as "model" (a first run exports the ONNX model here, shown as
        the "prepare" stage)."""
        from ragcli.embed import ingest_encoder

        tick = time.perf_counter()
        preparing = self.progress is not None and self.given_encoder is None
        preparing = preparing and exports_model(self.settings, manifest)
        if preparing:
            self.progress("prepare", 0, None)
        self.settings = self.pipeline.settings = resolved_settings(
            self.settings, manifest, self.warn
        )
        if manifest:
            check_compatible(manifest, self.settings, self.report.index)
        self.pipeline.encoder = self.given_encoder or ingest_encoder(
            self.settings, warn=self.warn, loaded=self.loaded, manifest=manifest
        )
        if preparing:
            self.progress("prepare", 1, 1)
        self._tick("model", tick)
        return self.settings

    def _tick(self, stage: str, since: float) -> None:
        self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - since

    def remove_gone(self, plan: Plan, known: Mapping[str, FileRecord]) -> None:
        for path in plan.gone:
            self._remove(path, known, reported=True)

    def _remove(self, path: str, known: Mapping[str, FileRecord], reported: bool) -> None:
        tick = time.perf_counter()
        self.report.chunks_removed += self.writer.remove_file(path)
        self.wrote = True
        if reported and path in known and known[path].source not in self.report.updated:
            self.report.removed.append(known[path].source)
        self._tick("write", tick)

    def open_checkpoint(self, plan: Plan, known: Mapping[str, FileRecord]):
        from ragcli.ingest.checkpoint import CHECKPOINT_DIR, Checkpoint, run_key

        work_dir = self.writer.work_dir
        folder = work_dir / CHECKPOINT_DIR if work_dir is not None else None
        key = run_key(
            {
                "manifest": _vector_identity(expected_manifest(self.settings)),
                "backend": [self.settings.embed_backend, getattr(self.settings, "engine", None)],
                "encoder": type(self.pipeline.encoder).__name__,
                "live": (self.writer.manifest or {}).get("generation"),
                "first_id": self.writer.next_chunk_id(),
                "changed": [(c.record.path, c.record.sha256) for c in plan.changed],
                "gone": sorted(plan.gone),
                "batch": [BATCH_CHUNKS, "parts"],
            }
        )
        return Checkpoint(folder, key)

    def batches(self, plan: Plan):
        """Load and chunk the changed files, yielding a ``Batch`` every ``BATCH_CHUNKS``
        chunks. A file that fails to load, or holds a document id another file already
        has, is skipped and not recorded (so the next run retries it); if it was indexed
        before it is removed."""
        from ragcli.load import load_file

        claimed: dict[str, str] = {}  # document id -> where it is (display path, line)
        pending = Batch(1, [], {}, [])
        for number, change in enumerate(plan.changed, 1):
            tick = time.perf_counter()
            try:
                documents = load_file(change.path, self.base_dir, ocr=self.settings.ocr)
                self._check_ids(change, documents, claimed, plan)
            except LoadError as err:
                self.report.skipped.append({"path": change.record.source, "reason": str(err)})
                self._tick("load", tick)
                if change.is_update:
                    plan.gone.append(str(change.path))
                    self._remove(str(change.path), {}, reported=False)
                    self.report.removed.append(change.record.source)
                continue
            claimed.update({doc.doc_id: _place(change.record.source, doc) for doc in documents})
            (self.report.updated if change.is_update else self.report.added).append(
                change.record.source
            )
            self._tick("load", tick)
            if self.progress:
                self.progress("load", number, len(plan.changed))
            self._chunk_into(pending, change.record, documents, (number, len(plan.changed)))
            if len(pending.chunks) >= BATCH_CHUNKS:
                yield pending
                pending = Batch(pending.number + 1, [], {}, [])
        self.loaded_all = True
        if pending.loaded:
            yield pending

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

    def _chunk_into(
        self, batch: Batch, record: FileRecord, documents: list[Document], place: tuple[int, int]
    ) -> None:
        """The file's chunks, numbered with ids the writer hands out, added to ``batch``;
        ``progress("chunk", files split, files)`` around the split, so a long one shows."""
        tick = time.perf_counter()
        number, total = place
        if self.progress:
            self.progress("chunk", number - 1, total)
        chunks_by_doc: dict[str, list[Chunk]] = {doc.doc_id: [] for doc in documents}
        for chunk in self.pipeline.chunker.chunk_many(documents) if documents else []:
            chunks_by_doc[chunk.doc_id].append(chunk)
        in_order = [chunk for doc in documents for chunk in chunks_by_doc[doc.doc_id]]
        ids = self.writer.take_chunk_ids(len(in_order))
        for chunk, chunk_id in zip(in_order, ids, strict=True):
            chunk.chunk_id = chunk_id
            batch.chunks.append(chunk)
            self.sample.offer(chunk.text)
        batch.loaded.append((record, documents))
        batch.chunks_by_doc.update(chunks_by_doc)
        self.report.chunks_added += sum(len(chunks) for chunks in chunks_by_doc.values())
        self._tick("chunk", tick)
        if self.progress:
            self.progress("chunk", number, total)

    def embed_and_write(self, plan: Plan, known: Mapping[str, FileRecord], checkpoint) -> None:
        """Embed each batch and write it. With embedding workers a batch is embedded while
        the next one is loaded and chunked here, and written once its vectors are in."""
        in_flight: tuple[Batch, list[_Part]] | None = None
        for batch in self.batches(plan):
            started = self.start_embedding(batch, checkpoint)
            if in_flight is not None:
                self._write_embedded(*in_flight, known, checkpoint)
            in_flight = (batch, started)
        if in_flight is not None:
            self._write_embedded(*in_flight, known, checkpoint)

    def _write_embedded(self, batch: Batch, parts: list[_Part], known, checkpoint) -> None:
        self.write_batch(batch, known, self.finish_embedding(parts, checkpoint))

    def start_embedding(self, batch: Batch, checkpoint) -> list[_Part]:
        """The batch's vectors, in parts of at most ``BATCH_CHUNKS``: each from the
        checkpoint, or its embedding started. No parts for a batch without chunks."""
        from ragcli.embed.pool import submit
        from ragcli.ingest.checkpoint import batch_digest

        tick = time.perf_counter()
        texts = [index_text(chunk.title, chunk.text) for chunk in batch.chunks]
        ids = [chunk.chunk_id for chunk in batch.chunks]
        files = [record.path for record, _ in batch.loaded]
        parts = []
        for number, start in enumerate(range(0, len(texts), BATCH_CHUNKS)):
            stop = start + BATCH_CHUNKS
            name = f"{batch.number:06d}-{number:03d}"
            digest = batch_digest(files, ids[start:stop], texts[start:stop])
            vectors = checkpoint.vectors(name, digest, self._expected_dimension)
            pending = submit(self.pipeline.embedder, texts[start:stop]) if vectors is None else None
            parts.append(_Part(name, digest, len(texts[start:stop]), vectors, pending))
        self._tick("embed", tick)
        return parts

    def _expected_dimension(self) -> int:
        return int(self.writer.dimension or self.pipeline.encoder.dimension)

    def finish_embedding(self, parts: list[_Part], checkpoint) -> np.ndarray | None:
        """The batch's vectors, each part waited for and checkpointed; None without any."""
        if not parts:
            return None
        tick = time.perf_counter()
        done = []
        for part in parts:
            vectors = part.vectors
            if vectors is None:
                vectors = part.pending.result(self._reporter())
                checkpoint.save(part.name, part.digest, vectors)
            elif self.progress:
                self._reporter()(part.count)
            done.append(vectors)
        self._tick("embed", tick)
        return done[0] if len(done) == 1 else np.concatenate(done)

    def _reporter(self):
        if not self.progress:
            return None
        progress = self.progress

        def reporter(n: int) -> None:
            self.embedded += n
            progress("embed", self.embedded, self.report.chunks_added if self.loaded_all else None)

        return reporter

    def write_batch(self, batch: Batch, known: Mapping[str, FileRecord], vectors) -> None:
        tick = time.perf_counter()
        writer, offset = self.writer, 0
        for record, docs in batch.loaded:
            if record.path in known:
                self.report.chunks_removed += writer.remove_file(record.path)
            pairs = [(doc, batch.chunks_by_doc[doc.doc_id]) for doc in docs]
            count = sum(len(chunks) for _, chunks in pairs)
            part = vectors[offset : offset + count] if vectors is not None else None
            writer.add_file(record, pairs, _rows(part, writer), self.now)
            offset += count
            self.files_written += 1
            self.wrote = True
            if self.progress:
                files = len(self.report.added) + len(self.report.updated)
                self.progress("write", self.files_written, files if self.loaded_all else None)
        self._tick("write", tick)

    def commit(self, plan: Plan, roots: Sequence[Path]) -> int | None:
        """Record retouched files and make the new generation live."""
        tick = time.perf_counter()
        writer = self.writer
        for record in plan.retouched:
            writer.touch_file(record, self.now)
        generation = writer.commit(
            {**expected_manifest(self.settings), "loaders": self.loaders},
            roots=[str(root) for root in roots],
            updated_at=self.now,
            # a store without vectors yet (no file had text) records the model's
            dimension=None if writer.dimension else int(self.pipeline.encoder.dimension),
        )
        self._tick("write", tick)
        return generation

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


def _vector_identity(manifest: dict[str, Any]) -> dict[str, Any]:
    """What decides the vectors: the manifest less where a served model was reached (a
    restarted server on another address makes the same vectors)."""
    return {key: value for key, value in manifest.items() if key != "embed_base_url"}


def _rows(part: np.ndarray | None, writer: StoreWriter) -> np.ndarray:
    """The file's vectors; a run without new chunks has none at all."""
    return part if part is not None else np.zeros((0, writer.dimension or 0), dtype=np.float32)


def _stop_parse_workers() -> None:
    """The parse workers (ragcli.load._isolate) serve one ingest: a long-lived process
    (`rag watch`, `rag serve`) does not keep them, and their memory, between ingests."""
    from ragcli.load._isolate import close_workers

    close_workers()


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
