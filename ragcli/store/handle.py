"""The reader of one index as a long-lived holder (``ragcli.Index``, a served replica)
keeps it: opened on first use, reopened when another process publishes a newer
generation, so a holder never answers from a superseded one."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ragcli.store.base import StoreReader


class ReaderHandle:
    """Opens ``open_reader(path, uri, ...)`` on first use. Not for concurrent use:
    callers sharing one across threads serialise."""

    def __init__(self, path: Path, uri: str | None, collection: str, base_dir: Path | None):
        self.path, self.uri = path, uri
        self.where = {"collection": collection, "base_dir": base_dir}
        self.opened: StoreReader | None = None  # the reader open now, if any
        self._marker: tuple[int, int, int] | None = None

    def get(self) -> StoreReader:
        """The reader, opened if none is."""
        if self.opened is None:
            from ragcli.store import open_reader

            marker = self._current_marker()  # taken before opening: a later publish is seen
            self.opened = open_reader(self.path, self.uri, **self.where)
            self._marker = marker
        return self.opened

    @property
    def generation(self) -> int | None:
        """The generation of the reader open now (None if none is; opens nothing)."""
        return None if self.opened is None else self.opened.manifest.get("generation")

    def fresh(self) -> StoreReader:
        """The reader, reopened first when another process has published a newer
        generation since it was opened (one ``stat`` of ``CURRENT``); the old one is
        closed. A Milvus store is one collection that is always current."""
        if self.uri is None and self.opened is not None and self._current_marker() != self._marker:
            self.close()
        return self.get()

    def close(self) -> None:
        reader, self.opened = self.opened, None
        if reader is not None:
            reader.close()

    def _current_marker(self) -> tuple[int, int, int] | None:
        from ragcli.store.generations import CURRENT_FILE

        try:
            info = os.stat(self.path / CURRENT_FILE)
        except FileNotFoundError:
            return None
        return info.st_ino, info.st_mtime_ns, info.st_size
