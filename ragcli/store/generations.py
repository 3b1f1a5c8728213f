"""Generations on disk: readers only ever see a complete index.

An index folder holds numbered generation folders and a ``CURRENT`` file naming the live
one. A writer builds ``gen-N.tmp/`` beside the live generation, renames it to ``gen-N/``
and then replaces ``CURRENT`` with one atomic rename; a crash at any moment leaves the
previous generation live and untouched. Leftover ``*.tmp`` folders are removed by the
next writer. A lock file stops two writers working on one index at once.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
from pathlib import Path
from typing import Any

from ragcli.errors import IndexStateError

FORMAT_VERSION = 1
CURRENT_FILE = "CURRENT"
LOCK_FILE = "lock"
MANIFEST_FILE = "manifest.json"
_PREFIX = "gen-"
KEEP_PREVIOUS = 1  # generations kept after the live one, for readers still using them


def current_generation(index_dir: Path) -> Path | None:
    try:
        name = (index_dir / CURRENT_FILE).read_text().strip()
    except FileNotFoundError:
        return None
    gen = index_dir / name
    if not name.startswith(_PREFIX) or not (gen / MANIFEST_FILE).is_file():
        raise IndexStateError(f"{index_dir}: CURRENT names a missing generation {name!r}")
    return gen


def read_manifest(gen_dir: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((gen_dir / MANIFEST_FILE).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise IndexStateError(f"{gen_dir / MANIFEST_FILE}: unreadable manifest ({err})") from None
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexStateError(
            f"{gen_dir.parent}: index format {version} is not supported by this ragcli "
            f"(format {FORMAT_VERSION}); rebuild it with `rag ingest --rebuild`"
        )
    return manifest


def generation_number(path: Path) -> int:
    """The number of a generation folder (``gen-000007`` -> 7)."""
    return int(path.name[len(_PREFIX) :].split(".")[0])


def _generations(index_dir: Path) -> list[Path]:
    return sorted(
        (p for p in index_dir.glob(f"{_PREFIX}*") if p.is_dir() and not p.name.endswith(".tmp")),
        key=generation_number,
    )


class WriteLock:
    """An exclusive, non-blocking lock on an index (released when the process dies)."""

    def __init__(self, index_dir: Path):
        self.path = index_dir / LOCK_FILE
        self._fd: int | None = None

    def __enter__(self) -> WriteLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno in (errno.EAGAIN, errno.EACCES):
                holder = self.path.read_text().strip() or "another process"
                raise IndexStateError(
                    f"{self.path.parent}: another ingest is writing this index (pid {holder}); "
                    "wait for it to finish"
                ) from None
            raise
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def remove_stale(index_dir: Path) -> None:
    """Remove ``gen-N.tmp`` folders a killed writer left (call under the write lock)."""
    for stale in index_dir.glob(f"{_PREFIX}*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)


def start_generation(index_dir: Path) -> Path:
    """A fresh ``gen-N.tmp`` folder (call under the write lock)."""
    remove_stale(index_dir)
    existing = _generations(index_dir)
    number = generation_number(existing[-1]) + 1 if existing else 1
    tmp = index_dir / f"{_PREFIX}{number:06d}.tmp"
    tmp.mkdir(parents=True)
    return tmp


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish_generation(index_dir: Path, tmp: Path, manifest: dict[str, Any]) -> Path:
    """Write the manifest, make ``tmp`` the live generation, drop old ones."""
    manifest = {**manifest, "format_version": FORMAT_VERSION, "generation": generation_number(tmp)}
    (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    _fsync_tree(tmp)
    final = tmp.with_name(tmp.name.removesuffix(".tmp"))
    os.rename(tmp, final)
    pointer = index_dir / f"{CURRENT_FILE}.tmp"
    pointer.write_text(final.name + "\n")
    with pointer.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(pointer, index_dir / CURRENT_FILE)
    _fsync_dir(index_dir)
    for old in _generations(index_dir)[: -(KEEP_PREVIOUS + 1)]:
        shutil.rmtree(old, ignore_errors=True)
    return final
