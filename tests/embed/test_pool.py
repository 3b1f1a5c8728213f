"""Embedding in worker processes (ragcli.embed.pool), with the real fused int8 export.

The workers are real ``python -m ragcli.embed.pool`` processes running the same ONNX
model; their vectors must equal the in-process encoder's bit for bit, in order.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ragcli.embed.onnx import OnnxEncoder
from ragcli.embed.pool import EncoderPool, parallel_encoder, submit, worker_count
from ragcli.errors import RagError

pytestmark = pytest.mark.slow  # the ONNX export, and worker processes loading it

WORDS = ["glacier", "harbour", "violin", "comet", "orchard", "falcon", "basalt", "lantern"]


def texts(n: int) -> list[str]:
    """Sentences of many lengths (so the longest-first order inside a call matters)."""
    return [
        f"Note {i}: " + " ".join(WORDS[(i + j) % len(WORDS)] for j in range(3 + i * 7 % 60))
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def encoder(onnx_export_dir) -> OnnxEncoder:
    return OnnxEncoder(onnx_export_dir, "int8-fused").load()


def test_workers_give_the_in_process_vectors_bit_for_bit_in_order(encoder):
    sample = texts(75)  # not a multiple of the pieces sent to a worker
    expected = encoder.encode(sample)
    seen: list[int] = []
    with EncoderPool(encoder, 2, min_texts=0) as pool:
        got = pool.encode(sample, progress=seen.append)
        assert pool.started
    np.testing.assert_array_equal(got, expected)
    assert sum(seen) == len(sample) and len(seen) > 1


def test_submissions_run_in_the_background_and_come_back_in_order(encoder):
    first, second = texts(40), texts(80)[40:]
    with EncoderPool(encoder, 2, min_texts=0) as pool:
        a, b = pool.submit(first), pool.submit(second)
        got_b, got_a = b.result(), a.result()
    np.testing.assert_array_equal(got_a, encoder.encode(first))
    np.testing.assert_array_equal(got_b, encoder.encode(second))


def test_a_small_first_submission_is_embedded_here_without_workers(encoder):
    with EncoderPool(encoder, 2, min_texts=10) as pool:
        got = pool.encode(texts(3))
        assert not pool.started
        pool.encode(texts(12))
        assert pool.started
    np.testing.assert_array_equal(got, encoder.encode(texts(3)))


def test_a_worker_that_dies_is_one_clear_error_and_the_pool_stays_failed(encoder):
    pool = EncoderPool(encoder, 1, min_texts=0)
    try:
        pool.encode(texts(2))
        pool._processes[0].process.kill()
        with pytest.raises(RagError, match=r"an embedding worker stopped \(exit code"):
            pool.encode(texts(5))
        with pytest.raises(RagError, match="an embedding worker stopped"):
            pool.submit(texts(1))
    finally:
        pool.close()


def test_close_stops_every_worker(encoder):
    pool = EncoderPool(encoder, 2, min_texts=0)
    pool.encode(texts(4))
    processes = [worker.process for worker in pool._processes]
    pool.close()
    assert all(process.poll() is not None for process in processes)
    assert not pool.started


CHILD = """
import sys
from ragcli.embed.onnx import OnnxEncoder
from ragcli.embed.pool import EncoderPool
pool = EncoderPool(OnnxEncoder(sys.argv[1], "int8-fused"), 2, min_texts=0)
pool.encode(["warm up"])
print(" ".join(str(w.process.pid) for w in pool._processes), flush=True)
sys.stdin.read()
"""


def test_workers_exit_when_their_parent_is_killed(onnx_export_dir):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    parent = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(onnx_export_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    pids = [int(pid) for pid in parent.stdout.readline().split()]
    assert len(pids) == 2
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 30
    while any(_running(pid) for pid in pids):
        assert time.monotonic() < deadline, f"workers {pids} outlived their parent"
        time.sleep(0.05)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_the_pool_applies_to_one_text_per_call_encoders_with_more_than_one_worker(
    encoder, onnx_export_dir
):
    assert isinstance(parallel_encoder(encoder, 2), EncoderPool)
    assert parallel_encoder(encoder, 1) is encoder
    batched = OnnxEncoder(onnx_export_dir, "float")  # batches: vectors depend on padding
    assert parallel_encoder(batched, 2) is batched
    other = object()
    assert parallel_encoder(other, 4) is other
    cpus = len(os.sched_getaffinity(0))
    assert worker_count(0) == min(cpus, 8)
    assert worker_count(2) == min(2, cpus)  # more than the CPUs is capped at them (issue 25)


def test_submit_to_a_plain_encoder_embeds_when_the_result_is_asked_for(encoder):
    calls = []

    class Recording:
        def encode(self, batch, progress=None):
            calls.append(list(batch))
            return encoder.encode(batch, progress=progress)

    pending = submit(Recording(), ["a harbour", "a glacier"])
    assert calls == []
    got = pending.result()
    assert calls == [["a harbour", "a glacier"]] and got.shape == (2, encoder.dimension)


def test_an_index_embedded_by_workers_is_the_index_embedded_in_process(
    tmp_path, monkeypatch, onnx_export_dir
):
    import ragcli.embed.pool as pool_module
    import ragcli.ingest.run as run_module
    from ragcli.config import Settings
    from ragcli.ingest import ingest
    from ragcli.store import dense
    from ragcli.store.local import LocalWriter

    monkeypatch.setattr(run_module, "BATCH_CHUNKS", 8)  # several batches in flight
    monkeypatch.setattr(pool_module, "POOL_MIN_TEXTS", 0)
    started = []
    start = EncoderPool._start
    monkeypatch.setattr(EncoderPool, "_start", lambda self: started.append(1) or start(self))
    docs = tmp_path / "docs"
    docs.mkdir()
    for number, text in enumerate(texts(30)):
        (docs / f"{number:02d}.txt").write_text(text + "\n\n" + text[::-1], encoding="utf-8")
    vectors = {}
    for workers in (1, 2):
        index_dir = tmp_path / f"index-{workers}"
        settings = Settings(embed_workers=workers)
        report = ingest(LocalWriter(index_dir), [docs], settings, base_dir=tmp_path)
        assert report.chunks >= 30
        live = (index_dir / "CURRENT").read_text().strip()
        index = dense.read_index(index_dir / live / "dense.faiss")
        ids = np.sort(dense.stored_ids(index))
        vectors[workers] = (ids, dense.vectors_for(index, ids))
    assert started  # the second index was embedded by the workers
    np.testing.assert_array_equal(vectors[1][0], vectors[2][0])
    np.testing.assert_array_equal(vectors[1][1], vectors[2][1])


def test_a_worker_that_cannot_load_the_model_says_why_in_one_line(encoder, tmp_path):
    import shutil

    broken = tmp_path / "export"
    shutil.copytree(encoder.folder, broken)
    (broken / encoder.meta["files"]["int8-fused"]["file"]).write_bytes(b"not a model")
    pool = EncoderPool(OnnxEncoder(broken, "int8-fused"), 1, min_texts=0)
    try:
        with pytest.raises(RagError) as failed:
            pool.encode(texts(3))
    finally:
        pool.close()
    message = str(failed.value)
    assert message.startswith(f"an embedding worker failed: {broken}: ")
    assert "\n" not in message


def test_workers_run_this_ragcli_whatever_folder_the_user_works_in(encoder, tmp_path, monkeypatch):
    impostor = tmp_path / "ragcli" / "embed"
    impostor.mkdir(parents=True)
    for folder in (impostor.parent, impostor):
        (folder / "__init__.py").write_text("")
    (impostor / "pool.py").write_text("raise SystemExit('the wrong ragcli')\n")
    monkeypatch.chdir(tmp_path)
    with EncoderPool(encoder, 1, min_texts=0) as pool:
        got = pool.encode(texts(3))
    np.testing.assert_array_equal(got, encoder.encode(texts(3)))
