"""The files the last ingest skipped, with the reason, kept for `rag status --files`.

Skipped files are not in the index (the next run tries them again), so the list is kept
beside it in ``<index>/cache/skipped.json``, replaced atomically after every run. A
Milvus store has no folder of its own here, so nothing is kept for it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

FILE = Path("cache") / "skipped.json"


def record_skipped(index_path: Path, skipped: list[dict[str, str]]) -> None:
    """Replace the record with ``skipped`` (``{"path", "reason"}`` each)."""
    target = Path(index_path) / FILE
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".skipped.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"skipped": skipped}, out, ensure_ascii=False)
        os.replace(temp, target)
    except OSError:
        pass  # a read-only index folder: status just has no skip list to show


def load_skipped(index_path: Path) -> list[dict[str, str]] | None:
    """The last run's skipped files, or None when no run recorded them."""
    try:
        data: Any = json.loads((Path(index_path) / FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    entries = data.get("skipped") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return None
    return [
        {"path": str(e.get("path", "")), "reason": str(e.get("reason", ""))}
        for e in entries
        if isinstance(e, dict)
    ]
