"""Checksums of a generation's files, and the checks that find a damaged generation.

Every generation carries ``checksums.json``: the size, CRC-32 and SHA-256 of each of its
files, written at commit (docs/index-format.md, "Checksums"). Three depths of check use
it, from cheap to thorough:

- ``problems(gen, crc_limit)``: every listed file exists with its size, and files up to
  ``crc_limit`` bytes in all match their CRC-32 (readers use a small limit, an ingest
  checks everything: CRC-32 reads about 3 GB/s);
- ``deep_problems(gen)`` (``rag status --check``): SHA-256 of every file, SQLite's
  ``quick_check``, FAISS and BM25 loaded and their counts compared with the catalog's.

A generation written before checksums existed is checked by file headers and, deeply, by
loading it. Each problem is ``(path, what is wrong)``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import zlib
from pathlib import Path
from typing import Any

import numpy as np

CHECKSUMS_FILE = "checksums.json"
_CHUNK = 1 << 20
SQLITE_MAGIC = b"SQLite format 3\x00"
NPY_MAGIC = b"\x93NUMPY"
# What a generation holds, for one written before checksums.json (relative paths).
REQUIRED = (
    "manifest.json",
    "catalog.sqlite",
    "dense.faiss",
    "sparse/ragcli_params.json",
)
# The BM25 sidecar's index file: format 1 (bm25s) or 2 (segments).
SPARSE_LISTS = ("sparse/row_ids.npy", "sparse/segments.json")

Problem = tuple[Path, str]


def file_digests(path: Path, sha256: bool = True) -> dict[str, Any]:
    crc = 0
    digest = hashlib.sha256() if sha256 else None
    size = 0
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            crc = zlib.crc32(block, crc)
            size += len(block)
            if digest is not None:
                digest.update(block)
    found: dict[str, Any] = {"size": size, "crc32": crc}
    if digest is not None:
        found["sha256"] = digest.hexdigest()
    return found


def write_checksums(gen_dir: Path) -> None:
    files = {
        path.relative_to(gen_dir).as_posix(): file_digests(path)
        for path in sorted(gen_dir.rglob("*"))
        if path.is_file() and path.name != CHECKSUMS_FILE
    }
    (gen_dir / CHECKSUMS_FILE).write_text(json.dumps({"files": files}, indent=1))


def read_checksums(gen_dir: Path) -> dict[str, dict[str, Any]] | None:
    """The listed files; None for a generation written before checksums existed.

    ``ValueError`` (with the reason) when the file is damaged."""
    path = gen_dir / CHECKSUMS_FILE
    if not path.exists():
        return None
    try:
        files = json.loads(path.read_bytes().decode("utf-8"))["files"]
        if not isinstance(files, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("size"), int) for v in files.values()
        ):
            raise ValueError("not a list of files")
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"unreadable ({err})") from None
    return files


def problems(gen_dir: Path, crc_limit: int) -> list[Problem]:
    """What the cheap checks find wrong in a generation (empty when it looks intact)."""
    try:
        listed = read_checksums(gen_dir)
    except ValueError as err:
        return [(gen_dir / CHECKSUMS_FILE, str(err))]
    if listed is None:
        if _written_with_checksums(gen_dir):
            return [(gen_dir / CHECKSUMS_FILE, "missing")]
        return _header_problems(gen_dir)
    found: list[Problem] = []
    total = sum(entry["size"] for entry in listed.values())
    for name, entry in listed.items():
        path = gen_dir / name
        try:
            size = path.stat().st_size
        except OSError:
            found.append((path, "missing"))
            continue
        if size != entry["size"]:
            found.append((path, f"{size} bytes where {entry['size']} were written"))
        elif total <= crc_limit and file_digests(path, sha256=False)["crc32"] != entry.get("crc32"):
            found.append((path, "checksum mismatch"))
    return found


def _written_with_checksums(gen_dir: Path) -> bool:
    """A manifest with ``next_chunk_id`` comes from a ragcli that writes checksums."""
    try:
        manifest = json.loads((gen_dir / "manifest.json").read_bytes().decode("utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and "next_chunk_id" in manifest


def _header_problems(gen_dir: Path) -> list[Problem]:
    found: list[Problem] = []
    sparse = next((n for n in SPARSE_LISTS if (gen_dir / n).exists()), SPARSE_LISTS[0])
    for name in (*REQUIRED, sparse):
        path = gen_dir / name
        if not path.is_file() or path.stat().st_size == 0:
            found.append((path, "missing" if not path.is_file() else "empty"))
    for path in (gen_dir / "sparse").glob("*.npy"):
        if _head(path, len(NPY_MAGIC)) != NPY_MAGIC:
            found.append((path, "not a numpy array"))
    catalog = gen_dir / "catalog.sqlite"
    if catalog.is_file():
        found.extend(_sqlite_header_problems(catalog))
    return found


def _head(path: Path, n: int) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(n)
    except OSError:
        return b""


def _sqlite_header_problems(path: Path) -> list[Problem]:
    header = _head(path, 100)
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        return [(path, "not an SQLite database")]
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    if path.stat().st_size < page_size * pages:
        return [(path, "shorter than its pages")]
    return []


def deep_problems(gen_dir: Path) -> list[Problem]:
    """Every check: checksums (SHA-256 too), SQLite, FAISS and BM25 loaded, counts."""
    found = problems(gen_dir, crc_limit=1 << 62)
    try:
        listed = read_checksums(gen_dir) or {}
    except ValueError:
        listed = {}
    broken = {path for path, _ in found}
    for name, entry in listed.items():
        path = gen_dir / name
        if path not in broken and file_digests(path)["sha256"] != entry.get("sha256"):
            found.append((path, "SHA-256 mismatch"))
    if found:
        return found
    return _structure_problems(gen_dir)


def _structure_problems(gen_dir: Path) -> list[Problem]:
    """Load what readers load and compare counts (for any generation, old or new)."""
    catalog_path = gen_dir / "catalog.sqlite"
    try:
        db = sqlite3.connect(f"file:{catalog_path}?mode=ro&immutable=1", uri=True)
        try:
            verdict = db.execute("PRAGMA quick_check").fetchone()[0]
            chunks = db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error as err:
        return [(catalog_path, f"SQLite error ({err})")]
    if verdict != "ok":
        return [(catalog_path, f"SQLite quick_check: {verdict}")]
    found: list[Problem] = []
    for path, count in _stored_counts(gen_dir):
        if isinstance(count, str):
            found.append((path, count))
        elif count != chunks:
            found.append((path, f"holds {count} chunks, the catalog {chunks}"))
    return found


def _stored_counts(gen_dir: Path):
    from ragcli.store import dense
    from ragcli.store.sparse import SparseIndex

    path = gen_dir / "dense.faiss"
    try:
        index = dense.read_index(path, mmap=True)
        problem = dense_vectors_problem(index)
        yield path, problem if problem else int(index.ntotal)
    except Exception as err:  # FAISS raises RuntimeError; anything else is damage too
        yield path, f"unreadable by FAISS ({_first_line(err)})"
    path = gen_dir / "sparse"
    try:
        yield path, len(SparseIndex.load(path))
    except Exception as err:
        yield path, f"unreadable BM25 index ({_first_line(err)})"


# How far a stored vector's norm may stray from 1 (float32 rounding is about 1e-7).
NORM_TOLERANCE = 1e-3
VECTOR_DAMAGE = "vectors not"  # in every vector problem: `rag ingest --rebuild` repairs it


def vector_problem(vectors: np.ndarray) -> str | None:
    """Rows that are not finite or not of unit norm, as one phrase; None if all are."""
    bad, off, example = _vector_faults(vectors)
    return _vector_phrase(bad, off, example)


def _vector_faults(vectors: np.ndarray) -> tuple[int, int, float | None]:
    finite = np.isfinite(vectors).all(axis=1)
    norms = np.linalg.norm(vectors[finite].astype(np.float64), axis=1)
    off = np.abs(norms - 1.0) > NORM_TOLERANCE
    return int((~finite).sum()), int(off.sum()), float(norms[off][0]) if off.any() else None


def _vector_phrase(bad: int, off: int, example: float | None) -> str | None:
    if bad:
        return f"{bad} {VECTOR_DAMAGE} finite (NaN or infinity)"
    if off:
        return f"{off} {VECTOR_DAMAGE} of unit norm (one has norm {example:.6g})"
    return None


def dense_vectors_problem(index) -> str | None:
    """``vector_problem`` over every vector of a FAISS index, a block at a time."""
    from ragcli.store import dense

    bad = off = 0
    example = None
    for block in dense.vector_blocks(index):
        more_bad, more_off, found = _vector_faults(block)
        bad, off = bad + more_bad, off + more_off
        example = example if example is not None else found
    return _vector_phrase(bad, off, example)


def _first_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return (lines[-1] if lines else type(err).__name__)[:200]
