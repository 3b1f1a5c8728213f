"""Generations on disk: readers only ever see a complete index.

An index folder holds numbered generation folders and a ``CURRENT`` file naming the live
one. A writer builds ``gen-N.tmp/`` beside the live generation, writes the checksums of
its files, renames it to ``gen-N/`` and then replaces ``CURRENT`` with one atomic rename;
a crash at any moment leaves the previous generation live and untouched. ``CURRENT`` is
the only truth: the live generation and the one before it (named in the live manifest's
``previous``) are kept, every other ``gen-*`` folder (an older one, or one a killed
writer renamed but never made live) and every ``*.tmp`` leftover is removed by the next
writer. A lock file stops two writers working on one index at once.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragcli.errors import IndexStateError
from ragcli.store.verify import problems, write_checksums

# 2: the BM25 sidecar is segments (ragcli.store.sparse). Format 1 (one bm25s index) is
# still read, and the next ingest that changes such an index writes format 2.
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
CURRENT_FILE = "CURRENT"
LOCK_FILE = "lock"
MANIFEST_FILE = "manifest.json"
_PREFIX = "gen-"


class UnsupportedFormat(IndexStateError):
    """An index written in another format version: refused, never "repaired"."""


def read_pointer(index_dir: Path) -> str | None:
    """The generation name in ``CURRENT``; None when there is no ``CURRENT`` file.

    ``IndexStateError`` when the file is unreadable or does not hold a generation name.
    """
    path = index_dir / CURRENT_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise IndexStateError(f"{path}: unreadable ({err.strerror})") from None
    try:
        name = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        name = ""
    if not _is_generation_name(name):
        raise IndexStateError(f"{path}: damaged (does not name a generation)")
    return name


def _is_generation_name(name: str) -> bool:
    number = name[len(_PREFIX) :]
    return name.startswith(_PREFIX) and len(number) == 6 and number.isdigit()


def current_generation(index_dir: Path) -> Path | None:
    """The generation ``CURRENT`` names; None when the folder holds no index at all."""
    name = read_pointer(index_dir)
    if name is None:
        if generation_dirs(index_dir):
            raise IndexStateError(f"{index_dir / CURRENT_FILE}: missing (generations exist)")
        return None
    gen = index_dir / name
    if not (gen / MANIFEST_FILE).is_file():
        raise IndexStateError(f"{index_dir}: CURRENT names a missing generation {name!r}")
    return gen


def index_present(index_dir: Path) -> bool:
    """Whether the folder holds an index (intact or not): a ``CURRENT`` or a generation."""
    return (index_dir / CURRENT_FILE).exists() or bool(generation_dirs(index_dir))


def read_manifest(gen_dir: Path) -> dict[str, Any]:
    path = gen_dir / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError) as err:  # JSONDecodeError and UnicodeDecodeError too
        reason = err.strerror if isinstance(err, OSError) else str(err)
        raise IndexStateError(f"{path}: unreadable manifest ({reason})") from None
    if not isinstance(manifest, dict):
        raise IndexStateError(f"{path}: damaged (not a JSON object)")
    version = manifest.get("format_version")
    if version not in READABLE_VERSIONS:
        raise UnsupportedFormat(
            f"{gen_dir.parent}: index format {version} is not supported by this ragcli "
            f"(format {FORMAT_VERSION}); rebuild it with `rag ingest --rebuild`"
        )
    return manifest


def generation_number(path: Path) -> int:
    """The number of a generation folder (``gen-000007`` -> 7)."""
    return int(path.name[len(_PREFIX) :].split(".")[0])


def generation_dirs(index_dir: Path) -> list[Path]:
    """Every complete-looking generation folder, oldest first (``*.tmp`` left out)."""
    if not index_dir.is_dir():
        return []
    return sorted(
        (p for p in index_dir.glob(f"{_PREFIX}*") if p.is_dir() and _is_generation_name(p.name)),
        key=generation_number,
    )


def previous_of(gen_dir: Path, manifest: dict[str, Any] | None) -> Path | None:
    """The generation that was live before ``gen_dir``: the manifest's ``previous``, or
    (an index written before ragcli recorded it) the newest older generation."""
    named = (manifest or {}).get("previous")
    if isinstance(named, str) and _is_generation_name(named):
        return gen_dir.parent / named if (gen_dir.parent / named).is_dir() else None
    if named is None and manifest is not None and "previous" in manifest:
        return None  # the first generation
    older = [g for g in generation_dirs(gen_dir.parent) if g.name < gen_dir.name]
    return older[-1] if older else None


@dataclass(frozen=True)
class Live:
    """The generation to read: the one ``CURRENT`` names, or, when that one is damaged,
    the newest intact one before it (``damage`` then says what is wrong)."""

    gen: Path
    manifest: dict[str, Any]
    damage: str | None = None  # "<file>: damaged (<why>)" for the generation skipped
    damaged: Path | None = None  # that generation's folder, None if CURRENT was the damage


def resolve_live(index_dir: Path, crc_limit: int) -> Live | None:
    """The generation to read, checked (``verify.problems`` up to ``crc_limit``); None for
    a folder without an index. ``IndexStateError`` naming the damage when no generation
    is intact."""
    named: Path | None = None
    manifest = None
    try:
        named = current_generation(index_dir)
        if named is None:
            return None
        manifest = read_manifest(named)
        found = problems(named, crc_limit)
        if not found:
            return Live(named, manifest)
        damage = f"{found[0][0]}: damaged ({found[0][1]})"
    except UnsupportedFormat:
        raise
    except IndexStateError as err:
        damage = str(err)
    for candidate in _fallbacks(index_dir, named, manifest):
        try:
            fallback = read_manifest(candidate)
        except IndexStateError:
            continue
        if not problems(candidate, crc_limit):
            return Live(candidate, fallback, damage, named)
    raise IndexStateError(
        f"{damage}; no intact generation to fall back to: rebuild the index "
        "with `rag ingest --rebuild PATH`"
    )


def _fallbacks(index_dir: Path, named: Path | None, manifest) -> list[Path]:
    """Where to look when the generation ``CURRENT`` names is damaged: the previous one;
    without a readable ``CURRENT``, every generation, newest first."""
    if named is None:
        return list(reversed(generation_dirs(index_dir)))
    previous = previous_of(named, manifest)
    return [previous] if previous is not None else []


def _os_problem(err: OSError) -> str:
    return err.strerror or str(err)


class WriteLock:
    """An exclusive, non-blocking lock on an index (released when the process dies).

    A lock that created the index folder removes the folder again on release if nothing
    was published in it (a failed first ingest leaves no empty index behind)."""

    def __init__(self, index_dir: Path):
        self.path = index_dir / LOCK_FILE
        self._fd: int | None = None
        self._created: list[Path] = []

    def __enter__(self) -> WriteLock:
        folder = self.path.parent
        try:
            self._created = [p for p in (folder.parent, folder) if not p.exists()]
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise IndexStateError(
                f"{folder}: cannot write the index here ({_os_problem(err)})"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno in (errno.EAGAIN, errno.EACCES):
                holder = self.path.read_text().strip() or "another process"
                raise IndexStateError(
                    f"{folder}: another ingest is writing this index (pid {holder}); "
                    "wait for it to finish"
                ) from None
            raise IndexStateError(f"{self.path}: cannot lock ({_os_problem(err)})") from None
        with contextlib.suppress(OSError):  # the pid is only shown to a second writer
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is None:
            return
        unused = self._created and not index_present(self.path.parent)
        if unused:
            self.path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None
        if unused:
            for folder in reversed(self._created):
                try:
                    folder.rmdir()
                except OSError:
                    break  # not empty (another index, a cache): keep it


def remove_stale(index_dir: Path) -> None:
    """Remove what killed writers left: ``gen-N.tmp`` folders (unfinished generations
    and generations half deleted) and ``CURRENT.tmp`` (call under the write lock)."""
    for stale in index_dir.glob(f"{_PREFIX}*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    (index_dir / f"{CURRENT_FILE}.tmp").unlink(missing_ok=True)


def remove_unreferenced(index_dir: Path, keep: set[str]) -> None:
    """Remove every generation folder not named in ``keep`` (call under the write lock).

    Each is renamed to ``*.tmp`` first, so one a kill leaves half deleted is a leftover
    that ``remove_stale`` finishes, never a generation that looks complete.
    """
    for gen in generation_dirs(index_dir):
        if gen.name in keep:
            continue
        doomed = gen.with_name(gen.name + ".tmp")
        try:
            os.rename(gen, doomed)
        except OSError:
            continue  # a read-only folder, say: try again next time
        shutil.rmtree(doomed, ignore_errors=True)


def tidy(index_dir: Path) -> None:
    """Leftovers and generations that are neither live nor previous go (under the lock).

    Nothing but leftovers is touched while ``CURRENT`` or the live manifest is damaged:
    the writer that repairs the index decides what stays.
    """
    try:
        live = current_generation(index_dir)
        manifest = read_manifest(live) if live is not None else None
    except IndexStateError:
        live = None
    remove_stale(index_dir)
    if live is None:
        return
    previous = previous_of(live, manifest)
    remove_unreferenced(index_dir, {live.name, *([previous.name] if previous else [])})


def start_generation(index_dir: Path) -> Path:
    """A fresh ``gen-N.tmp`` folder, numbered above every generation (under the lock)."""
    remove_stale(index_dir)
    existing = generation_dirs(index_dir)
    number = generation_number(existing[-1]) + 1 if existing else 1
    tmp = index_dir / f"{_PREFIX}{number:06d}.tmp"
    tmp.mkdir(parents=True)
    return tmp


def _fsync_tree(folder: Path) -> None:
    """Every file, then every folder (``sparse/`` too), deepest first."""
    folders = [folder]
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
        elif path.is_dir():
            folders.append(path)
    for path in reversed(folders):
        fsync_dir(path)


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in ``folder`` durable (its entry, not only the data)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish_generation(index_dir: Path, tmp: Path, manifest: dict[str, Any]) -> Path:
    """Write ``manifest`` (complete, from the writer: ``LocalWriter.commit``) and the
    checksums, make ``tmp`` live, drop all but it and the generation the manifest names
    as ``previous`` (the one the writer started from, which readers may still have open)."""
    (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    write_checksums(tmp)
    _fsync_tree(tmp)
    final = tmp.with_name(tmp.name.removesuffix(".tmp"))
    os.rename(tmp, final)
    fsync_dir(index_dir)  # the rename is on disk before CURRENT names it
    pointer = index_dir / f"{CURRENT_FILE}.tmp"
    pointer.write_text(final.name + "\n")
    with pointer.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(pointer, index_dir / CURRENT_FILE)
    fsync_dir(index_dir)
    previous = manifest.get("previous")
    remove_unreferenced(index_dir, {final.name, *([previous] if previous else [])})
    return final
