"""Watching: re-ingest an index's folders incrementally as files change.

``watch`` follows the folders the index was built from (its manifest's ``roots``) with
``watchfiles`` (inotify/FSEvents/kqueue through the Rust ``notify`` crate). Changes are
debounced (a burst of saves is one ingest), ingests run one at a time in the watching
thread (changes made meanwhile are gathered for the next one), and each ingest is the
ordinary incremental one: only files whose size and mtime moved are re-read, and the
result is published as a new generation, atomically, so a reader never sees a torn one.
Changes inside the index folder itself and in hidden folders are ignored.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ragcli.errors import RagError

DEBOUNCE_MS = 150  # a burst of saves closer than this is one ingest
log = logging.getLogger("ragcli.watch")
# watchfiles logs each batch at INFO and Ctrl-C at WARNING; our own lines say it better
logging.getLogger("watchfiles").setLevel(logging.ERROR)


class Watcher:
    """Keeps ``index`` (a ``ragcli.Index``) in step with its folders until ``stop()``.

    ``on_ingest(report)`` is called after each ingest that wrote a generation,
    ``on_error(message)`` with one line when an ingest failed (the watcher goes on),
    ``on_ready()`` once the folders are watched and the index has caught up.
    """

    def __init__(
        self,
        index,
        *,
        roots: list[Path] | None = None,
        debounce_ms: int = DEBOUNCE_MS,
        on_ingest: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_ready: Callable[[], None] | None = None,
    ):
        self.index = index
        self.roots = roots or [Path(root) for root in index.store.manifest.get("roots", [])]
        if not self.roots:
            raise RagError(f"{index.location}: no ingested folders to watch (run `rag ingest`)")
        self.debounce_ms = debounce_ms
        self.on_ingest = on_ingest or (lambda report: None)
        self.on_error = on_error or (lambda message: log.warning("%s", message))
        self.on_ready = on_ready or (lambda: None)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ingests = 0
        self.ready = threading.Event()  # set once the folders are being watched

    # running --------------------------------------------------------------------------
    def run(self) -> None:
        """Watch in this thread until ``stop()``: once watching has begun, a catch-up
        ingest (changes made while nothing watched), then one ingest per burst."""
        import watchfiles

        existing = [str(root) for root in self.roots if root.exists()]
        if not existing:
            raise RagError(f"{self.index.location}: none of its folders exists any more")
        changes = watchfiles.watch(
            *existing,
            watch_filter=_Ignore(self.index.path, existing),
            debounce=self.debounce_ms,
            step=20,
            stop_event=self._stop,
            rust_timeout=200,
            yield_on_timeout=True,  # the first (empty) yield says watching has begun
            raise_interrupt=False,
        )
        caught_up = False
        for batch in changes:
            if self._stop.is_set():
                break
            if not caught_up:
                caught_up = True
                self.ingest_now()  # covers this batch too
                self.ready.set()
                self.on_ready()
            elif batch:
                log.info("%d change(s), e.g. %s", len(batch), next(iter(batch))[1])
                self.ingest_now()

    def ingest_now(self):
        """One incremental ingest of the watched folders; its report, or None on failure."""
        started = time.perf_counter()
        try:
            report = self.index.ingest(self.roots)
        except RagError as err:
            self.on_error(f"watch: ingest failed: {err}")
            return None
        except Exception as err:  # noqa: BLE001 (a bug: logged, the watcher goes on)
            log.exception("watch: ingest failed")
            self.on_error(f"watch: ingest failed ({type(err).__name__}: {err})")
            return None
        if report.added or report.updated or report.removed:
            self.ingests += 1  # freshness checks are cached per generation: none to drop
            log.info(
                "generation %s: %d added, %d updated, %d removed in %.2f s",
                report.generation, len(report.added), len(report.updated),
                len(report.removed), time.perf_counter() - started,
            )  # fmt: skip
            self.on_ingest(report)
        return report

    def start(self) -> Watcher:
        """Run in a background thread (``rag serve --watch``, ``rag mcp --watch``)."""
        self._thread = threading.Thread(target=self._run_logged, name="watch", daemon=True)
        self._thread.start()
        return self

    def _run_logged(self) -> None:
        try:
            self.run()
        except Exception as err:  # noqa: BLE001 (the server goes on without watching)
            self.on_error(f"watch: stopped: {err}")
        finally:
            self.ready.set()

    def stop(self, timeout: float = 60.0) -> None:
        """Stop watching; an ingest under way is finished first (up to ``timeout``)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)


class _Ignore:
    """watchfiles filter: not the index folder, not hidden files or folders, not the
    usual editor and tool litter (watchfiles' default filter)."""

    def __init__(self, index_dir: Path, roots: list[str]):
        from watchfiles import DefaultFilter

        self.default = DefaultFilter()
        self.index_dir = str(index_dir)
        self.roots = roots

    def __call__(self, change, path: str) -> bool:
        if path == self.index_dir or path.startswith(self.index_dir + os.sep):
            return False
        if any(part.startswith(".") for part in self._inside(path)):
            return False  # discover skips hidden files and folders too
        return self.default(change, path)

    def _inside(self, path: str) -> tuple[str, ...]:
        """The parts of ``path`` below the watched root holding it."""
        for root in self.roots:
            if path.startswith(root + os.sep):
                return Path(path[len(root) + 1 :]).parts
        return ()
