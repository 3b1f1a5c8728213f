"""Issue 25, checkpoints: a damaged or mismatched checkpoint batch is discarded with one
warning line and its chunks embedded again (never reused, never a traceback); `rag
status --check` checks the live vectors (finite, unit norm)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from bounded import run_bounded
from helpers_ingest import clean_env, subprocess_env, write_files

from ragcli.ingest.checkpoint import CHECKPOINT_DIR

SMALL_BATCHES = "import ragcli.ingest.run as run; run.BATCH_CHUNKS = 3\n"
# Ctrl-C after two batches are embedded (and checkpointed).
STOP_AFTER_TWO = (
    SMALL_BATCHES
    + """
finish = run._Run.finish_embedding
calls = []
def stopping(self, parts, checkpoint):
    if len(calls) == 2:
        raise KeyboardInterrupt
    calls.append(1)
    return finish(self, parts, checkpoint)
run._Run.finish_embedding = stopping
"""
)
WORDS = ["volcano basalt lava caldera", "honeybee waggle nectar hive", "violin bow strings",
         "glacier moraine valley ice", "lighthouse lamp wick keeper"]  # fmt: skip
PROBE = "The honeybee forager dances the waggle dance toward the nectar, part 1."


@pytest.fixture
def interrupted(tmp_path, monkeypatch, onnx_export_dir):
    """A project whose first ingest stopped after two checkpointed batches."""
    clean_env(monkeypatch, tmp_path)
    root = tmp_path / "project"
    files = {f"docs/{n}-{words.split()[0]}.md": "".join(
        f"## Part {part}\n\n{words} {part}. " * 20 + "\n\n" for part in range(2))
        for n, words in enumerate(WORDS)}  # fmt: skip
    files["docs/bee.md"] = PROBE + "\n"
    write_files(root, files)
    env = subprocess_env(tmp_path)
    done = run_bounded(["ingest", "docs"], root, env, STOP_AFTER_TWO)
    assert done.returncode == 130 and "interrupted; kept" in done.stderr, done.stderr
    folder = root / ".rag" / "default" / CHECKPOINT_DIR
    assert len(list(folder.glob("batch-*.npy"))) >= 2
    return root, env, sorted(folder.glob("batch-*.npy"))[0]


def resave(npy: Path, vectors: np.ndarray, checksum: bool = True) -> None:
    """Save ``vectors`` as the batch, its JSON made to match them (checksum included)."""
    import hashlib

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    np.save(npy, vectors, allow_pickle=False)
    meta_path = npy.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    meta.update(chunks=len(vectors), shape=list(vectors.shape))
    meta["vectors_sha256"] = hashlib.sha256(vectors.tobytes()).hexdigest()
    if not checksum:
        del meta["vectors_sha256"]
    meta_path.write_text(json.dumps(meta))


def random_floats(npy: Path) -> None:  # the header kept, the data overwritten
    data = bytearray(npy.read_bytes())
    size = np.load(npy).nbytes
    data[-size:] = np.random.default_rng(0).uniform(-50, 50, size // 4).astype("<f4").tobytes()
    npy.write_bytes(bytes(data))


def nan_rows(npy: Path) -> None:  # NaN with a checksum that matches them
    vectors = np.load(npy)
    vectors[0] = np.nan
    resave(npy, vectors)


def wrong_dimension(npy: Path) -> None:
    vectors = np.load(npy)
    resave(npy, np.hstack([vectors, vectors]) / np.sqrt(2))


def not_unit_norm(npy: Path) -> None:
    resave(npy, np.load(npy) * 3131.88)


def old_format(npy: Path) -> None:  # written before the checksum covered the vectors
    resave(npy, np.load(npy), checksum=False)


def truncated(npy: Path) -> None:
    npy.write_bytes(npy.read_bytes()[:100])


CASES = {
    "random_floats": (random_floats, "vectors do not match their checksum"),
    "nan_rows": (nan_rows, "1 vectors not finite (NaN or infinity)"),
    "wrong_dimension": (wrong_dimension, "dimension 768, the encoder's is 384"),
    "not_unit_norm": (not_unit_norm, "vectors not of unit norm (one has norm 3131"),
    "old_format": (old_format, "no checksum of its vectors"),
    "truncated": (truncated, "unreadable ("),
}


@pytest.mark.slow  # `rag` processes
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_damaged_checkpoint_batch_is_discarded_and_embedded_again(interrupted, case):
    root, env, npy = interrupted
    damage, reason = CASES[case]
    damage(npy)
    done = run_bounded(["ingest", "docs"], root, env, SMALL_BATCHES)
    assert done.returncode == 0, done.stderr
    [line] = done.lines()
    assert line.startswith(f"rag: warning: {npy}: discarded a damaged checkpoint batch (")
    assert reason in line and line.endswith("its chunks are embedded again"), line
    check = run_bounded(["status", "--check"], root, env)
    assert check.returncode == 0, check.stdout + check.stderr
    found = run_bounded(["search", PROBE, "--mode", "dense", "--no-rerank", "--json"], root, env)
    top = json.loads(found.stdout)["results"][0]
    assert top["source"] == "docs/bee.md" and 0.9 < top["score"] <= 1.0001, top


@pytest.mark.slow
def test_status_check_finds_live_vectors_that_are_not_finite(tmp_path, monkeypatch):
    from helpers_serve import HashEncoder

    from ragcli.config import load_settings
    from ragcli.ingest import ingest
    from ragcli.store.local import LocalWriter

    class Poisoned(HashEncoder):
        def encode(self, texts, progress=None):
            vectors = super().encode(texts, progress)
            vectors[[i for i, text in enumerate(texts) if "poison" in text]] = np.nan
            return vectors

    clean_env(monkeypatch, tmp_path)
    root = tmp_path / "project"
    write_files(root, {"docs/a.md": "Plain notes.\n", "docs/b.md": "The poison row.\n"})
    writer = LocalWriter(root / ".rag" / "default")
    ingest(writer, [root / "docs"], load_settings(root), base_dir=root, encoder=Poisoned())
    done = run_bounded(["status", "--check"], root, subprocess_env(tmp_path))
    assert done.returncode != 0
    assert "dense.faiss: 1 vectors not finite (NaN or infinity); run `rag ingest --rebuild" in (
        done.stdout + done.stderr
    )
