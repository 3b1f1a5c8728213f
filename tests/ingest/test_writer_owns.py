"""The store writer is the one owner of chunk ids, of the vector dimension check and of
the manifest: ingest takes ids from it, hands it only how the index was built, and
leaves the dimension check to it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers_ingest import clean_env, live_name, write_files
from helpers_serve import HashEncoder

from ragcli.config import Settings
from ragcli.errors import IndexStateError
from ragcli.ingest import expected_manifest, ingest
from ragcli.store.local import LocalStore, LocalWriter

# What the writer adds to the manifest itself; ingest never hands it any of these.
STORE_OWNED = {
    "bm25", "counts", "dense_index", "dimension", "format_version", "generation",
    "next_chunk_id", "previous", "roots", "updated_at",
}  # fmt: skip


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    clean_env(monkeypatch, tmp_path)


class WiderEncoder(HashEncoder):
    """Another model's vectors: 16 dimensions where the index holds 8."""

    dimension = 16

    def encode(self, texts, progress=None):
        vectors = np.hstack([super().encode(texts), super().encode(texts)])
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


class ReservingWriter(LocalWriter):
    """A writer that has handed out its first ``RESERVED`` ids elsewhere (public API
    only): the run's chunks must be numbered from there on."""

    RESERVED = 1000

    def __enter__(self):
        super().__enter__()
        self.take_chunk_ids(self.RESERVED)
        return self


class RecordingWriter(LocalWriter):
    """Remembers what ingest handed to ``commit``."""

    def commit(self, build, **given):
        self.handed = (dict(build), given)
        return super().commit(build, **given)


def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    write_files(root / "docs", {"a.md": "# Alpha\n\nAardvarks dig.\n", "b.txt": "Bitterns boom.\n"})
    return root


def run(writer, root: Path, encoder=None):
    return ingest(
        writer, [root / "docs"], Settings(), base_dir=root, encoder=encoder or HashEncoder()
    )


def manifest_of(index_dir: Path) -> dict:
    return json.loads((index_dir / live_name(index_dir) / "manifest.json").read_text())


def test_chunk_ids_are_the_ones_the_writer_hands_out(tmp_path):
    root = project(tmp_path)
    index_dir = root / ".rag" / "default"
    report = run(ReservingWriter(index_dir), root)
    store = LocalStore(index_dir)
    ids = sorted(store.chunks(range(ReservingWriter.RESERVED + report.chunks)))
    store.close()
    first = ReservingWriter.RESERVED
    assert ids == list(range(first, first + report.chunks))
    assert manifest_of(index_dir)["next_chunk_id"] == first + report.chunks


def test_ingest_hands_the_writer_only_how_the_index_was_built(tmp_path):
    root = project(tmp_path)
    index_dir = root / ".rag" / "default"
    writer = RecordingWriter(index_dir)
    run(writer, root)
    build, given = writer.handed
    assert set(build) <= set(expected_manifest(Settings())) | {"embed_variant", "loaders"}
    assert not STORE_OWNED & set(build)
    assert set(given) == {"roots", "updated_at", "dimension"}
    written = manifest_of(index_dir)
    assert STORE_OWNED - {"previous"} <= {
        key for key, value in written.items() if value is not None
    }
    assert written["dimension"] == HashEncoder.dimension and written["roots"] == [
        str(root / "docs")
    ]
    assert {key: written[key] for key in build} == build


def test_vectors_of_another_dimension_are_refused_by_the_writer(tmp_path):
    root = project(tmp_path)
    index_dir = root / ".rag" / "default"
    run(LocalWriter(index_dir), root)
    before = live_name(index_dir)
    (root / "docs" / "c.txt").write_text("Cassowaries run.\n")
    with pytest.raises(IndexStateError, match="holds 8-dimensional vectors but the embedding "
                       "model made 16-dimensional ones; use --rebuild"):  # fmt: skip
        run(LocalWriter(index_dir), root, WiderEncoder())
    assert live_name(index_dir) == before  # the live index is untouched
