"""`rag status --check`: verify every file of a local index, thoroughly.

The live generation and the previous one (the fallback) are both checked with
``verify.deep_problems``; each problem becomes one line naming the file and saying what
to run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ragcli.errors import IndexStateError, UsageError
from ragcli.store.generations import (
    UnsupportedFormat,
    current_generation,
    generation_dirs,
    previous_of,
    read_manifest,
)
from ragcli.store.verify import VECTOR_DAMAGE, Problem, deep_problems


def check_index(index_dir: Path, uri: str | None = None) -> dict[str, Any]:
    """``{"generation", "previous", "files", "problems": [one line each], "ok"}``; a
    ``UsageError`` for a Milvus store (``uri``), which keeps its own checks."""
    if uri is not None and uri != "local":
        raise UsageError("--check verifies a local index; a Milvus store keeps its own")
    if not index_dir.is_dir() or not (
        (index_dir / "CURRENT").exists() or generation_dirs(index_dir)
    ):
        raise IndexStateError(f"{index_dir}: no index here yet (run `rag ingest PATH` first)")
    live, manifest, found = _live(index_dir)
    previous = previous_of(live, manifest) if live is not None else _newest(index_dir)
    previous_found = _generation_problems(previous) if previous is not None else []
    if previous is not None and not previous_found:
        remedy = f"run `rag ingest PATH` to repair it from the previous generation {previous.name}"
    else:
        remedy = "no intact previous generation: run `rag ingest --rebuild PATH`"
    rebuild = "run `rag ingest --rebuild PATH` (the vectors were stored damaged)"
    lines = [f"{path}: {problem}; {rebuild if VECTOR_DAMAGE in problem else remedy}"
             for path, problem in found]  # fmt: skip
    if found or previous_found:
        lines += [f"{path}: {problem} (previous generation)" for path, problem in previous_found]
    return {
        "generation": live.name if live is not None else None,
        "previous": previous.name if previous is not None else None,
        "previous_ok": previous is not None and not previous_found,
        "files": sum(_count_files(g) for g in (live, previous) if g is not None),
        "problems": lines,
        "ok": not found,
    }


def _live(index_dir: Path) -> tuple[Path | None, dict[str, Any] | None, list[Problem]]:
    try:
        live = current_generation(index_dir)
    except IndexStateError as err:
        return None, None, [(index_dir / "CURRENT", _after_path(str(err)))]
    if live is None:  # pragma: no cover - excluded by check_index's first test
        return None, None, []
    try:
        manifest = read_manifest(live)
    except UnsupportedFormat:
        raise
    except IndexStateError as err:
        return live, None, [(live / "manifest.json", _after_path(str(err)))]
    return live, manifest, deep_problems(live)


def _generation_problems(gen: Path) -> list[Problem]:
    try:
        read_manifest(gen)
    except IndexStateError as err:
        return [(gen / "manifest.json", _after_path(str(err)))]
    return deep_problems(gen)


def _newest(index_dir: Path) -> Path | None:
    found = generation_dirs(index_dir)
    return found[-1] if found else None


def _after_path(message: str) -> str:
    """``"/x/CURRENT: damaged (...)"`` -> ``"damaged (...)"`` (the path is printed anyway)."""
    head, sep, rest = message.partition(": ")
    return rest if sep and "/" in head else message


def _count_files(gen: Path) -> int:
    return sum(1 for path in gen.rglob("*") if path.is_file())
