"""The ways an index file can be damaged, shared by the fault suite and the probe.

Each case names one file of the live generation (or ``CURRENT``) and one damage:
truncated to half, emptied, 64 bytes in the middle overwritten, deleted; plus a few
shapes a file can have that its reader does not expect (a manifest that is a JSON list,
``CURRENT`` in another encoding or naming a missing generation).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

GENERATION_FILES = (
    "manifest.json",
    "catalog.sqlite",
    "dense.faiss",
    "sparse/segments.json",
    "sparse/seg-000002.terms.json",
    "sparse/seg-000002.indptr.npy",
    "sparse/seg-000002.rows.npy",
    "sparse/seg-000002.tfs.npy",
    "sparse/seg-000002.ids.npy",
    "sparse/seg-000002.lengths.npy",
    "sparse/seg-000002.codes.npy",
    "sparse/seg-000002.pairs.npy",
    "sparse/ragcli_params.json",
    "sparse/stopwords.json",
)
CHECKSUMS = "checksums.json"


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def empty(path: Path) -> None:
    path.write_bytes(b"")


def garble(path: Path) -> None:
    """64 bytes in the middle replaced by other bytes (the size stays the same)."""
    data = bytearray(path.read_bytes())
    middle = max(0, len(data) // 2 - 32)
    for offset in range(middle, min(len(data), middle + 64)):
        data[offset] = (data[offset] + 0x5A) % 256 or 1
    path.write_bytes(bytes(data))


def delete(path: Path) -> None:
    path.unlink()


DAMAGES: dict[str, Callable[[Path], None]] = {
    "truncated": truncate,
    "empty": empty,
    "garbled": garble,
    "deleted": delete,
}


@dataclass(frozen=True)
class Case:
    name: str
    file: str  # relative to the live generation, or "CURRENT" (the index folder)
    damage: Callable[[Path], None]

    def apply(self, index_dir: Path) -> Path:
        if self.file == "CURRENT":
            target = index_dir / "CURRENT"
        else:
            live = (index_dir / "CURRENT").read_text().strip()
            target = index_dir / live / self.file
        self.damage(target)
        return target


def _write(content: bytes) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        path.write_bytes(content)

    return damage


def cases(with_checksums: bool = True) -> list[Case]:
    files = (*GENERATION_FILES, *((CHECKSUMS,) if with_checksums else ()))
    found = [
        Case(f"{file} {name}", file, damage) for file in files for name, damage in DAMAGES.items()
    ]
    found += [
        Case("manifest.json a JSON list", "manifest.json", _write(b"[1, 2, 3]")),
        Case("CURRENT latin-1 bytes", "CURRENT", _write("gén-000002\n".encode("latin-1"))),
        Case("CURRENT names a missing generation", "CURRENT", _write(b"gen-000099\n")),
        Case("CURRENT deleted", "CURRENT", delete),
        Case("CURRENT garbled", "CURRENT", _write(b"\x00\x01junk")),
    ]
    return found
