"""Resume: an interrupted ingest keeps what it embedded, and the rerun finishes the same index.

The encoder is the real model; batches are made a few chunks small so a run has several.
An interruption is Ctrl-C raised from inside the run (in process) or a real SIGINT or
SIGKILL sent to a child process. "The same index" is compared chunk by chunk: catalog
rows, the vector of every chunk id, and the BM25 score of every chunk for a few queries.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers_ingest import clean_env, live_name, one_model_load, write_files

import ragcli.ingest.run as run_module
from ragcli.config import Settings
from ragcli.embed import ingest_encoder
from ragcli.errors import warn
from ragcli.ingest import ingest
from ragcli.ingest.checkpoint import CHECKPOINT_DIR, Checkpoint, IngestInterrupted
from ragcli.store import dense
from ragcli.store.local import LocalWriter
from ragcli.store.sparse import SparseIndex

WORDS = [
    "volcano basalt lava caldera",
    "honeybee waggle dance nectar",
    "violin strings bow horsehair",
    "glacier valley moraine ice",
    "lighthouse keeper lamp storm",
    "sourdough starter yeast flour",
    "comet tail orbit nucleus",
    "falcon dive prey talons",
    "harbour tide ships anchor",
    "orchard apples pruning frost",
]
QUERIES = ["lava from a volcano", "ships in the harbour", "apples and frost", "dance"]


@pytest.fixture(scope="module", autouse=True)
def _shared_model():
    with one_model_load():
        yield


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    clean_env(monkeypatch, tmp_path)
    monkeypatch.setattr(run_module, "BATCH_CHUNKS", 3)


def project_with_files(root: Path) -> Path:
    files = {
        f"docs/{n:02d}-{words.split()[0]}.md": "".join(
            f"## Part {part}\n\n{words} {part}. " * 30 + "\n\n" for part in range(3)
        )
        for n, words in enumerate(WORDS)
    }
    write_files(root, files)
    return root


def run(project: Path, name: str, encoder):
    return ingest(
        LocalWriter(project / ".rag" / name),
        [project / "docs"],
        Settings(),
        base_dir=project,
        encoder=encoder,
    )


def snapshot(index_dir: Path) -> dict:
    """Everything a reader sees of the live generation, keyed by chunk id."""
    gen = index_dir / live_name(index_dir)
    db = sqlite3.connect(f"file:{gen / 'catalog.sqlite'}?mode=ro", uri=True)
    try:
        chunks = db.execute("SELECT * FROM chunks ORDER BY chunk_id").fetchall()
        documents = db.execute("SELECT * FROM documents ORDER BY doc_id").fetchall()
        files = db.execute("SELECT path, source, sha256, size FROM files ORDER BY 1").fetchall()
    finally:
        db.close()
    index = dense.read_index(gen / "dense.faiss")
    ids = np.sort(dense.stored_ids(index))
    sparse = SparseIndex.load(gen / "sparse")
    manifest = json.loads((gen / "manifest.json").read_text())
    return {
        "chunks": chunks,
        "documents": documents,
        "files": files,
        "ids": ids,
        "vectors": dense.vectors_for(index, ids),
        "sparse_ids": sparse.row_ids,
        "bm25": [sparse.scores(query) for query in QUERIES],
        "counts": manifest["counts"],
        "next_chunk_id": manifest["next_chunk_id"],
    }


def assert_same_index(a: dict, b: dict) -> None:
    assert a["chunks"] and a["chunks"] == b["chunks"]
    assert a["documents"] == b["documents"] and a["files"] == b["files"]
    assert a["counts"] == b["counts"] and a["next_chunk_id"] == b["next_chunk_id"]
    np.testing.assert_array_equal(a["ids"], b["ids"])
    np.testing.assert_array_equal(a["vectors"], b["vectors"])
    np.testing.assert_array_equal(a["sparse_ids"], b["sparse_ids"])
    assert max(scores.max() for scores in a["bm25"]) > 0
    for left, right in zip(a["bm25"], b["bm25"], strict=True):
        np.testing.assert_allclose(left, right, rtol=0, atol=1e-6)


class Counting:
    """The real encoder, counting what it embeds; ``stop_after`` calls, then Ctrl-C."""

    def __init__(self, encoder, stop_after: int | None = None):
        self.encoder, self.stop_after = encoder, stop_after
        self.calls = self.texts = 0
        self.dimension = encoder.dimension

    def encode(self, texts, progress=None):
        if self.stop_after is not None and self.calls == self.stop_after:
            raise KeyboardInterrupt
        self.calls += 1
        self.texts += len(texts)
        return self.encoder.encode(texts, progress=progress)


@pytest.fixture(scope="module")
def real_encoder():
    with one_model_load():
        yield ingest_encoder(Settings(), warn=warn)


def test_ctrl_c_keeps_the_embedded_batches_and_the_rerun_finishes_the_same_index(
    tmp_path, real_encoder
):
    project = project_with_files(tmp_path / "project")
    whole = Counting(real_encoder)
    report = run(project, "whole", whole)
    assert whole.calls >= 4  # several batches

    with pytest.raises(IngestInterrupted) as stopped:
        run(project, "resumed", Counting(real_encoder, stop_after=2))
    message = str(stopped.value)
    assert "\n" not in message and stopped.value.exit_code == 130
    checkpoint = project / ".rag" / "resumed" / CHECKPOINT_DIR
    kept = sum(json.loads(p.read_text())["chunks"] for p in checkpoint.glob("batch-*.json"))
    assert kept > 0 and f"kept {kept} embedded chunks in {checkpoint}" in message
    assert not (project / ".rag" / "resumed" / "CURRENT").exists()  # nothing published

    again = Counting(real_encoder)
    resumed = run(project, "resumed", again)
    assert again.texts == report.chunks_added - kept  # only what was not embedded yet
    assert resumed.chunks == report.chunks
    assert not checkpoint.exists()  # a committed run removes its checkpoint
    assert_same_index(snapshot(project / ".rag" / "whole"), snapshot(project / ".rag" / "resumed"))


def test_one_large_file_is_checkpointed_in_parts_and_resumed_from_them(tmp_path, real_encoder):
    project = tmp_path / "project"
    text = "".join(f"## Part {n}\n\n{WORDS[n % len(WORDS)]} {n}. " * 12 + "\n\n" for n in range(16))
    write_files(project, {"docs/large.md": text})
    whole = Counting(real_encoder)
    report = run(project, "whole", whole)
    assert whole.calls >= 4  # one file, one batch, embedded in parts of BATCH_CHUNKS

    with pytest.raises(IngestInterrupted):
        run(project, "resumed", Counting(real_encoder, stop_after=2))
    checkpoint = project / ".rag" / "resumed" / CHECKPOINT_DIR
    parts = sorted(p.name for p in checkpoint.glob("batch-*.json"))
    assert parts == ["batch-000001-000.json", "batch-000001-001.json"]
    kept = sum(json.loads((checkpoint / name).read_text())["chunks"] for name in parts)
    assert kept == 2 * run_module.BATCH_CHUNKS

    again = Counting(real_encoder)
    run(project, "resumed", again)
    assert again.texts == report.chunks_added - kept
    assert_same_index(snapshot(project / ".rag" / "whole"), snapshot(project / ".rag" / "resumed"))


def test_a_checkpoint_of_other_files_is_discarded_with_a_line(tmp_path, real_encoder, capsys):
    project = project_with_files(tmp_path / "project")
    with pytest.raises(IngestInterrupted):
        run(project, "resumed", Counting(real_encoder, stop_after=2))
    (project / "docs" / "03-glacier.md").write_text("## Ice\n\nA glacier retreats uphill.\n")
    capsys.readouterr()
    again = Counting(real_encoder)
    report = run(project, "resumed", again)
    err = capsys.readouterr().err
    assert "discarded the checkpoint of an interrupted ingest" in err
    assert err.count("\n") == 1 and "the files or settings changed" in err
    assert again.texts == report.chunks_added  # everything embedded afresh
    run(project, "whole", Counting(real_encoder))
    assert_same_index(snapshot(project / ".rag" / "whole"), snapshot(project / ".rag" / "resumed"))


def test_a_resumed_update_of_an_existing_index_matches_an_uninterrupted_one(tmp_path, real_encoder):
    project = project_with_files(tmp_path / "project")
    for name in ("whole", "resumed"):
        run(project, name, Counting(real_encoder))
    for n in range(10, 16):
        (project / "docs" / f"{n}-extra.md").write_text(f"## Extra {n}\n\n" + "nebula dust " * 80)
    (project / "docs" / "00-volcano.md").unlink()
    run(project, "whole", Counting(real_encoder))
    with pytest.raises(IngestInterrupted):
        run(project, "resumed", Counting(real_encoder, stop_after=1))
    assert live_name(project / ".rag" / "resumed") == "gen-000001"
    run(project, "resumed", Counting(real_encoder))
    assert_same_index(snapshot(project / ".rag" / "whole"), snapshot(project / ".rag" / "resumed"))


CHILD = """
import sys, time
import torch
import ragcli.embed.pool as pool
import ragcli.ingest.run as run
torch.set_num_threads(1)  # as in this process (one_model_load): the same float sums
run.BATCH_CHUNKS = 3
pool.POOL_MIN_TEXTS = 0  # with RAG_EMBED_WORKERS=2, even 3 chunks go to the workers
finish_embedding = run._Run.finish_embedding
def slow(self, parts, checkpoint):
    vectors = finish_embedding(self, parts, checkpoint)
    time.sleep(0.5)  # room for the parent's signal between batches
    return vectors
run._Run.finish_embedding = slow
sys.argv = ["rag", "ingest", "docs", "--index", sys.argv[1]]
from ragcli.cli import main
main()
"""


def child(project: Path, name: str, workers: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env["RAG_EMBED_WORKERS"] = str(workers)
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(project / ".rag" / name)],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_batches(checkpoint: Path, n: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 300
    while len(list(checkpoint.glob("batch-*.json"))) < n:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def wait_gone(pids: list[int]) -> None:
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() and not zombie(pid) for pid in pids):
        assert time.monotonic() < deadline, f"embedding workers still running: {pids}"
        time.sleep(0.05)


def zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


@pytest.mark.slow  # child processes, each loading the model
@pytest.mark.parametrize("workers", [1, 2], ids=["in-process", "2-workers"])
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_a_killed_ingest_process_resumes_to_the_uninterrupted_index(
    tmp_path, monkeypatch, sig, workers
):
    project = project_with_files(tmp_path / "project")
    run(project, "whole", None)
    process = child(project, "resumed", workers)
    checkpoint = project / ".rag" / "resumed" / CHECKPOINT_DIR
    wait_for_batches(checkpoint, 2, process)
    embedders = children_of(process.pid)
    assert len(embedders) == (2 if workers == 2 else 0)
    process.send_signal(sig)
    _, err = process.communicate(timeout=120)
    wait_gone(embedders)  # no embedding worker outlives its ingest, even after SIGKILL
    if sig == signal.SIGINT:
        assert process.returncode == 130
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("rag: error: ")
        assert "interrupted; kept" in lines[0] and "embedded chunks" in lines[0]
    else:
        assert process.returncode == -signal.SIGKILL
    kept = sum(json.loads(p.read_text())["chunks"] for p in checkpoint.glob("batch-*.json"))
    assert kept >= 2
    reused = []
    saved_vectors = Checkpoint.vectors

    def counted(self, number, digest, dimension):
        found = saved_vectors(self, number, digest, dimension)
        reused.append(0 if found is None else len(found))
        return found

    monkeypatch.setattr(Checkpoint, "vectors", counted)
    run(project, "resumed", None)
    assert sum(reused) == kept
    assert_same_index(snapshot(project / ".rag" / "whole"), snapshot(project / ".rag" / "resumed"))
