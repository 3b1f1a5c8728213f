"""The plan of a run: what discovery found, compared with the store's file records.

Each file is added (new), updated (content hash changed, or indexed under an older
naming: before files outside the project went by their absolute path they went by their
bare name), unchanged (same size and mtime, or same hash: ``retouched`` when only the
mtime moved), skipped (unreadable) or removed (gone from a root).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ragcli.load import kind_of
from ragcli.store.catalog import FileRecord


@dataclass
class Change:
    """A file whose chunks are (re)made: new, or an update of a known one."""

    path: Path
    record: FileRecord
    is_update: bool


@dataclass
class Plan:
    seen: set[str] = field(default_factory=set)  # every discovered file path
    changed: list[Change] = field(default_factory=list)
    retouched: list[FileRecord] = field(default_factory=list)  # same content, new mtime
    gone: list[str] = field(default_factory=list)  # known paths whose chunks are dropped
    unchanged: list[str] = field(default_factory=list)  # display paths
    skipped: list[dict[str, str]] = field(default_factory=list)
    reloaded: list[str] = field(default_factory=list)  # kinds of files read again


def plan_changes(
    discoveries: Sequence,
    known: Mapping[str, FileRecord],
    roots: Sequence[Path],
    base_dir: Path,
    *,
    filtered: bool,
    reload_kinds: Collection[str] = (),
) -> Plan:
    """Compare ``discoveries`` (one ``Discovery`` per root) with the ``known`` records.

    ``filtered`` (--include/--exclude given) makes the run about the selected files
    only: files the filters leave out stay indexed unless they were deleted from disk.
    Known files of the ``reload_kinds`` (their loader changed) are updated even when
    their content did not change.
    """
    plan = Plan()
    for found in discoveries:
        for path_text, reason in found.skipped:
            plan.skipped.append({"path": display_path(Path(path_text), base_dir), "reason": reason})
        for path in found.files:
            if str(path) not in plan.seen:
                plan.seen.add(str(path))
                previous = known.get(str(path))
                kind = kind_of(path) if previous is not None and reload_kinds else None
                if kind in reload_kinds:
                    plan.reloaded.append(kind)
                    previous = _forgotten(previous)
                _classify(plan, path, previous, base_dir)
    plan.gone.extend(
        path
        for path in known
        if _under(path, roots) and path not in plan.seen and not (filtered and Path(path).exists())
    )
    return plan


def _forgotten(record: FileRecord) -> FileRecord:
    """The record with no content known, so its file is re-indexed as an update."""
    return FileRecord(record.path, record.source, "", -1, -1)


def _classify(plan: Plan, path: Path, previous: FileRecord | None, base_dir: Path) -> None:
    source = display_path(path, base_dir)
    if previous is not None and previous.source != source:
        previous = _forgotten(previous)  # re-index it
    try:
        stat = path.stat()
        if previous and same_stat(previous, stat):
            plan.unchanged.append(source)
            return
        digest = _sha256(path)
    except OSError as err:
        reason = (err.strerror or type(err).__name__).lower()  # as discover says it
        plan.skipped.append({"path": source, "reason": reason})
        if previous:
            plan.gone.append(str(path))
        return
    record = FileRecord(str(path), source, digest, stat.st_size, stat.st_mtime_ns)
    if previous and previous.sha256 == digest:
        plan.unchanged.append(source)
        plan.retouched.append(record)
    else:
        plan.changed.append(Change(path, record, previous is not None))


def same_stat(record: FileRecord, stat: os.stat_result) -> bool:
    """The file's size and mtime are those recorded: taken as unchanged, not re-read."""
    return (record.size, record.mtime_ns) == (stat.st_size, stat.st_mtime_ns)


@dataclass
class StatChanges:
    """Known files whose size or mtime moved, files new under the roots, files gone:
    what an ingest would look at (before hashing), from ``stat`` alone."""

    changed: list[str] = field(default_factory=list)  # absolute paths
    appeared: list[str] = field(default_factory=list)
    vanished: list[str] = field(default_factory=list)


def stat_changes(
    discoveries: Sequence,
    known: Mapping[str, FileRecord],
    roots: Sequence[Path],
    since: float | None = None,
) -> StatChanges:
    """Compare ``discoveries`` with the ``known`` records by size and mtime only (a file
    merely touched counts as changed; ``plan_changes`` would hash it and find it is not).

    With ``since`` (when the last ingest started, epoch seconds) an unknown file counts
    as appeared only if it was created, moved or modified since (its ctime or mtime):
    older ones were there for that ingest, which skipped them (unreadable, no text) or
    was told to leave them out (--include/--exclude)."""
    found = StatChanges()
    seen: set[str] = set()
    for discovery in discoveries:
        for path in discovery.files:
            key = str(path)
            if key in seen:
                continue
            seen.add(key)
            previous = known.get(key)
            if previous is None:
                if since is None or _touched_since(key, since):
                    found.appeared.append(key)
                continue
            try:
                if not same_stat(previous, os.stat(key)):
                    found.changed.append(key)
            except OSError:
                found.vanished.append(key)
    found.vanished.extend(p for p in known if _under(p, roots) and p not in seen)
    return found


def _touched_since(path: str, since: float) -> bool:
    try:
        info = os.stat(path)
    except OSError:
        return False
    return max(info.st_mtime, info.st_ctime) >= since


def display_path(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` when inside it, else absolute (POSIX); bytes that are
    not UTF-8 are shown escaped (``\\xff``)."""
    try:
        text = path.relative_to(base).as_posix()
    except ValueError:
        text = path.as_posix()
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _under(path: str, roots: Sequence[Path]) -> bool:
    return any(path == str(root) or path.startswith(str(root) + os.sep) for root in roots)
