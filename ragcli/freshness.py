"""Freshness: how far the ingested folders have moved on since a generation was written.

Cheap and bounded: the folders are walked as ``rag ingest`` walks them (``discover``, the
same ignore rules) and each file is ``stat``-ed against the generation's file records
(``ingest.plan.stat_changes``): nothing is read or hashed. A result is cached per index
generation for ``MAX_AGE`` seconds; an older one is returned at once while a fresh check
runs in the background (one at a time per index), so a server never waits on it. The
first check of a generation waits at most ``WAIT`` seconds; a walk that takes longer is
reported as not checked yet (``checked: false`` with the reason) and lands in the cache
for the next answer.

A file merely touched counts as changed (an ingest would hash it and find it is not).
A file not in the index counts as appeared only when created, moved or modified since
the last ingest began (ctime or mtime): files that ingest skipped (unreadable, no
text) or left out (``--include``/``--exclude``) do not make the index look stale.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_AGE = 2.0  # seconds a check is reused for
WAIT = 1.0  # seconds an answer waits for a first check
EXAMPLES = 5  # paths named per answer at most


@dataclass
class Freshness:
    generation: int | None
    checked: bool
    changed: list[str] = field(default_factory=list)  # display paths
    appeared: list[str] = field(default_factory=list)
    vanished: list[str] = field(default_factory=list)
    reason: str = ""

    @property
    def stale(self) -> bool:
        return bool(self.changed or self.appeared or self.vanished)

    def to_dict(self) -> dict[str, Any]:
        if not self.checked:
            return {"generation": self.generation, "checked": False, "reason": self.reason}
        examples = [f"{p} (changed)" for p in self.changed[:EXAMPLES]]
        examples += [f"{p} (new)" for p in self.appeared[: EXAMPLES - len(examples)]]
        examples += [f"{p} (deleted)" for p in self.vanished[: EXAMPLES - len(examples)]]
        return {
            "generation": self.generation,
            "checked": True,
            "stale": self.stale,
            "changed": len(self.changed),
            "appeared": len(self.appeared),
            "vanished": len(self.vanished),
            "examples": examples,
        }


def summary(record: dict[str, Any] | None) -> str | None:
    """``2 changed, 1 new file(s) since generation 3`` for a stale record, else None."""
    if not record or not record.get("stale"):
        return None
    counts = ", ".join(
        f"{record[name]} {label}"
        for name, label in (("changed", "changed"), ("appeared", "new"), ("vanished", "deleted"))
        if record.get(name)
    )
    return f"{counts} file(s) since generation {record.get('generation')}"


def check(store, base_dir: Path | None = None) -> Freshness:
    """Compare the folders ``store``'s generation was built from with the disk, now."""
    return _snapshot(store, base_dir)()


def _snapshot(store, base_dir: Path | None = None):
    """What a check needs from ``store``, read now (in the caller's thread, while the
    store is open); the returned function walks and compares, in any thread."""
    manifest = dict(store.manifest)
    generation = manifest.get("generation")
    files = getattr(store, "files", None)
    if files is None:
        reason = "this store keeps no file records to compare"
        return lambda: Freshness(generation, False, reason=reason)
    known = files()
    base = base_dir or _project_of(store)
    return lambda: _compare(manifest, known, base)


def _compare(manifest: dict[str, Any], known: dict, base: Path) -> Freshness:
    from ragcli.discover import discover
    from ragcli.errors import UsageError
    from ragcli.ingest.plan import display_path, stat_changes

    generation = manifest.get("generation")
    roots = [Path(root) for root in manifest.get("roots", [])]
    existing = [root for root in roots if root.exists()]
    discoveries = []
    for root in existing:
        try:
            discoveries.append(discover(root, roots=existing, ocr=bool(manifest.get("ocr"))))
        except UsageError:  # went away meanwhile: its files count as vanished
            continue
    found = stat_changes(discoveries, known, roots, since=_started(manifest))

    def shown(paths: list[str]) -> list[str]:
        return sorted(known[p].source if p in known else display_path(Path(p), base)
                      for p in paths)  # fmt: skip

    return Freshness(
        generation, True, shown(found.changed), shown(found.appeared), shown(found.vanished)
    )


def _started(manifest: dict[str, Any]) -> float | None:
    """When the ingest that wrote the generation started (``updated_at``, whole seconds)."""
    from datetime import datetime

    try:
        return datetime.fromisoformat(manifest["updated_at"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return None


def _project_of(store) -> Path:
    index_dir = getattr(store, "index_dir", None)
    if index_dir is None:
        return Path.cwd()
    from ragcli.store.locate import project_of

    return project_of(Path(index_dir))


class _Entry:
    def __init__(self) -> None:
        self.result: Freshness | None = None
        self.at = 0.0
        self.running: threading.Thread | None = None
        self.done = threading.Event()


_CACHE: dict[tuple[str, Any], _Entry] = {}
_LOCK = threading.Lock()


def report(store, *, max_age: float = MAX_AGE, wait: float = WAIT) -> dict[str, Any]:
    """The freshness record of ``store``'s generation (cached; see the module doc)."""
    key = (str(getattr(store, "index_dir", id(store))), store.manifest.get("generation"))
    with _LOCK:
        entry = _CACHE.get(key)
        if entry is None:
            entry = _CACHE[key] = _Entry()
        cached, age = entry.result, time.monotonic() - entry.at
        if cached is None or age > max_age:
            _start(entry, store)
    if cached is not None:
        return cached.to_dict()
    entry.done.wait(wait)
    if entry.result is None:
        generation = store.manifest.get("generation")
        reason = f"checking the folders takes over {wait:g} s; asked again, it is answered"
        return Freshness(generation, False, reason=reason).to_dict()
    return entry.result.to_dict()


def forget(store=None) -> None:
    """Drop cached checks (all, or ``store``'s index): a watcher that just re-ingested."""
    with _LOCK:
        if store is None:
            _CACHE.clear()
            return
        where = str(getattr(store, "index_dir", id(store)))
        for key in [key for key in _CACHE if key[0] == where]:
            del _CACHE[key]


def _start(entry: _Entry, store) -> None:
    if entry.running is not None and entry.running.is_alive():
        return
    generation = store.manifest.get("generation")
    try:
        compare = _snapshot(store)
    except Exception as err:  # noqa: BLE001 (reported in the answer, not raised)
        entry.result, entry.at = Freshness(generation, False, reason=_one_line(err)), 0.0
        entry.done.set()
        return

    def run() -> None:
        try:
            result = compare()
        except Exception as err:  # noqa: BLE001 (reported in the answer, not raised)
            result = Freshness(generation, False, reason=_one_line(err))
        entry.result, entry.at = result, time.monotonic()
        entry.done.set()

    entry.running = threading.Thread(target=run, name="freshness", daemon=True)
    entry.running.start()


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"
