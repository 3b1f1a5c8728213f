"""Resume: the embeddings an interrupted ingest finished, kept beside the index.

An ingest embeds its new chunks in batches (``ragcli.ingest.run``). Each embedded batch
is saved in ``<index>/checkpoint/`` (its vectors as ``batch-NAME.npy``, then
``batch-NAME.json`` with the files it came from and a digest of its chunks' texts and
ids) before it is written to the store; a batch of one large file is saved in parts of
at most ``BATCH_CHUNKS`` chunks, each as it is embedded. The folder is keyed by the run: the changed
files and their hashes, the removed ones, the settings and encoder, the live generation
and the first new chunk id. Rerunning the same command after Ctrl-C, a crash or SIGKILL
finds the same key, chunks the same files into the same batches, and takes each batch's
vectors from the checkpoint instead of the encoder when its digest matches, so the new
generation is the one an uninterrupted run would have written. A different key (files
or settings changed in between) discards the checkpoint with a warning. A committed run
removes it.

A batch is trusted no more than a generation: its JSON holds the SHA-256 of its vectors'
bytes and their shape, and before reuse the vectors must match it, have the encoder's
dimension and be finite rows of unit norm. A batch that fails (damaged, written by
another model, from an older ragcli without the checksum) is deleted with one warning
line and its chunks are embedded again. Every file is fsynced before it is renamed into
place, and the folder after.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ragcli.errors import RagError, warn
from ragcli.store.generations import fsync_dir
from ragcli.store.verify import vector_problem

CHECKPOINT_DIR = "checkpoint"
KEY_FILE = "key.json"


class IngestInterrupted(RagError):
    """Ctrl-C during an ingest: the message says what was kept for the next run."""

    exit_code = 130


def run_key(description: dict[str, Any]) -> str:
    """The key of a run: a digest of what decides its batches and their vectors."""
    text = json.dumps(description, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def batch_digest(files: Sequence[str], chunk_ids: Sequence[int], texts: Sequence[str]) -> str:
    digest = hashlib.sha256(json.dumps([list(files), list(map(int, chunk_ids))]).encode())
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()


class Checkpoint:
    """The checkpoint folder of one run (``folder`` None: a store without one)."""

    def __init__(self, folder: Path | None, key: str):
        self.folder = folder
        self.key = key
        self.reused = 0  # chunks whose vectors came from the checkpoint
        if folder is not None:
            self._open()

    def _open(self) -> None:
        key_file = self.folder / KEY_FILE
        try:
            found = json.loads(key_file.read_text()).get("key")
        except (OSError, ValueError, AttributeError):
            found = None
        if found != self.key and self.folder.exists():
            kept = self.kept()
            shutil.rmtree(self.folder, ignore_errors=True)
            if kept:
                warn(
                    f"{self.folder}: discarded the checkpoint of an interrupted ingest "
                    f"({kept} embedded chunks): the files or settings changed since"
                )

    def kept(self) -> int:
        """Embedded chunks saved in the folder."""
        if self.folder is None or not self.folder.is_dir():
            return 0
        total = 0
        for path in self.folder.glob("batch-*.json"):
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                total += int(json.loads(path.read_text())["chunks"])
        return total

    def vectors(self, name: str, digest: str, dimension: Callable[[], int]) -> np.ndarray | None:
        """The saved vectors of batch (part) ``name`` if it holds the same chunks and
        they pass ``_damage`` (``dimension()``: the encoder's, asked only when needed)."""
        if self.folder is None:
            return None
        stem = self.folder / f"batch-{name}"
        try:
            meta = json.loads(stem.with_suffix(".json").read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or meta.get("digest") != digest:
            return None
        try:
            vectors = np.load(stem.with_suffix(".npy"), allow_pickle=False)
            damage = _damage(vectors, meta, dimension)
        except (OSError, ValueError, EOFError) as err:
            damage = f"unreadable ({' '.join(str(err).split())[:80]})"
        if damage:
            for suffix in (".json", ".npy"):
                stem.with_suffix(suffix).unlink(missing_ok=True)
            warn(f"{stem}.npy: discarded a damaged checkpoint batch ({damage}); "
                 "its chunks are embedded again")  # fmt: skip
            return None
        self.reused += len(vectors)
        return vectors

    def save(self, name: str, digest: str, vectors: np.ndarray) -> None:
        if self.folder is None:
            return
        with contextlib.suppress(OSError):  # a full disk costs the checkpoint, not the run
            key_file = self.folder / KEY_FILE
            if not key_file.exists():  # made with the first batch: a run that fails
                self.folder.mkdir(parents=True, exist_ok=True)  # before leaves nothing
                _write_atomic(key_file, json.dumps({"key": self.key}).encode())
            stem = self.folder / f"batch-{name}"
            vectors = np.ascontiguousarray(vectors, dtype=np.float32)
            tmp = stem.with_suffix(".npy.tmp")
            with tmp.open("wb") as handle:
                np.save(handle, vectors, allow_pickle=False)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, stem.with_suffix(".npy"))
            meta = {"digest": digest, "chunks": len(vectors), "shape": list(vectors.shape),
                    "vectors_sha256": hashlib.sha256(vectors.tobytes()).hexdigest()}  # fmt: skip
            _write_atomic(stem.with_suffix(".json"), json.dumps(meta).encode())
            fsync_dir(self.folder)

    def discard(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)

    def interrupted(self, index: str) -> IngestInterrupted:
        kept = self.kept()
        if not kept:
            return IngestInterrupted(f"{index}: interrupted; the index is unchanged")
        return IngestInterrupted(
            f"{index}: interrupted; kept {kept} embedded chunks in {self.folder} "
            "(run the same command again to continue from them)"
        )


def _damage(vectors: np.ndarray, meta: dict, dimension: Callable[[], int]) -> str | None:
    """Why saved vectors cannot be reused, or None."""
    if "vectors_sha256" not in meta:
        return "no checksum of its vectors (written by an older ragcli)"
    if vectors.dtype != np.float32 or vectors.ndim != 2 or len(vectors) != meta.get("chunks"):
        return f"{vectors.dtype} array of shape {vectors.shape}, not {meta.get('shape')}"
    if (
        hashlib.sha256(np.ascontiguousarray(vectors).tobytes()).hexdigest()
        != meta["vectors_sha256"]
    ):
        return "vectors do not match their checksum"
    expected = dimension()
    if vectors.shape[1] != expected:
        return f"dimension {vectors.shape[1]}, the encoder's is {expected}"
    return vector_problem(vectors)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
