"""A generation is published durably: ``CURRENT`` is never written in place.

What the writer does to the file system is observed, not replaced: Python's audit
events report every file opened for writing and every rename (``os.rename`` and
``os.replace``, however they are reached), and a wrapper around the real ``os.fsync``
(which raises no audit event) records which file or folder each sync reached. The
commit must write the new pointer to a temporary file, sync it, rename it over
``CURRENT`` and then sync the index folder, so that after a power cut ``CURRENT`` names
either the old generation or the new one, and the new one's name is on disk.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from helpers_ingest import add_made_up_file

from ragcli.store.local import LocalWriter

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_events: list[tuple] | None = None  # filled while a trace is on


def _audit(event: str, args: tuple) -> None:
    if _events is None:
        return
    if event == "open" and isinstance(args[0], str | bytes | os.PathLike):
        if args[2] & _WRITE_FLAGS:
            _events.append(("write", _real(args[0])))
    elif event == "os.rename":  # os.replace raises it too
        _events.append(("rename", _real(args[0]), _real(args[1])))


sys.addaudithook(_audit)  # a hook cannot be removed: it does nothing outside a trace


def _real(path) -> str:
    return os.path.realpath(os.fsdecode(path))


@contextlib.contextmanager
def _tracing(monkeypatch) -> Iterator[list[tuple]]:
    """The file system calls made inside the block, in order."""
    global _events
    events: list[tuple] = []
    real_fsync = os.fsync

    def fsync(fd):
        number = fd if isinstance(fd, int) else fd.fileno()
        target = os.readlink(f"/proc/self/fd/{number}")
        events.append(("fsync", _real(target), os.fstat(number).st_ino))
        return real_fsync(fd)

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", fsync)
        _events = events
        try:
            yield events
        finally:
            _events = None


def _commit(index_dir: Path, n: int) -> None:
    with LocalWriter(index_dir) as writer:
        add_made_up_file(writer, n, f"file number {n} about rivers")
        writer.commit({}, dimension=8)


def _check_pointer_published_durably(events: list[tuple], index_dir: Path) -> None:
    current = _real(index_dir / "CURRENT")
    folder = _real(index_dir)
    assert ("write", current) not in events, "CURRENT was written in place"
    swaps = [i for i, e in enumerate(events) if e[0] == "rename" and e[2] == current]
    assert len(swaps) == 1, "CURRENT was not replaced by exactly one rename"
    swap = swaps[0]
    written = events[swap][1]
    writes = [i for i, e in enumerate(events[:swap]) if e == ("write", written)]
    assert writes, f"{written} was renamed over CURRENT but not written by this commit"
    last_write = writes[-1]
    synced = [e for e in events[last_write:swap] if e[:2] == ("fsync", written)]
    assert synced, f"{written} was renamed over CURRENT without an fsync after its write"
    assert synced[-1][2] == os.stat(current).st_ino  # that very file is CURRENT now
    after = [e for e in events[swap:] if e[:2] == ("fsync", folder)]
    assert after, "the index folder was not synced after CURRENT was replaced"


def test_the_first_commit_publishes_current_through_a_synced_rename(tmp_path, monkeypatch):
    index_dir = tmp_path / "idx"
    with _tracing(monkeypatch) as events:
        _commit(index_dir, 1)
    assert (index_dir / "CURRENT").read_text() == "gen-000001\n"
    _check_pointer_published_durably(events, index_dir)


def test_a_later_commit_replaces_current_through_a_synced_rename(tmp_path, monkeypatch):
    index_dir = tmp_path / "idx"
    _commit(index_dir, 1)
    old = os.stat(index_dir / "CURRENT").st_ino
    with _tracing(monkeypatch) as events:
        _commit(index_dir, 2)
    assert (index_dir / "CURRENT").read_text() == "gen-000002\n"
    assert os.stat(index_dir / "CURRENT").st_ino != old  # a new file, not the old rewritten
    _check_pointer_published_durably(events, index_dir)
