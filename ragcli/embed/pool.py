"""Embedding in worker processes, one ONNX Runtime thread each, so every core embeds
(with more than ``MAX_AUTO_WORKERS`` CPUs, that many workers share them out as threads).

One int8 encoder embeds one text per call (``OnnxEncoder.run_size``): small matrix
products that two intra-op threads share badly. Two processes of one thread each
embedded 101-103 SciFact abstracts/s on this 2-core machine where one process of two
threads embedded 68 (docs/benchmarks.md, "Both cores embedding"). The vectors are the
same bit for bit: a text's vector does not depend on the thread count or on which
worker embeds it.

A worker is ``python -m ragcli.embed.pool FOLDER VARIANT THREADS SPEC``: a plain child
process, not ``multiprocessing``, so a user's script that ingests needs no ``__main__``
guard and nothing of the parent is inherited. ``SPEC`` is the encoder's prompts and
dimensions (``ragcli.embed.spec``, as JSON), so a worker embeds documents exactly as the
parent would. It reads pickled lists of texts on stdin and writes pickled results on
stdout, each message prefixed by its length. It ignores SIGINT (the parent handles
Ctrl-C and closes the pool) and exits when its stdin closes, so a killed
parent leaves no workers behind.

:class:`EncoderPool` is an :class:`ragcli.embed.base.Encoder` with ``submit``: the
texts are embedded in the background while the caller loads and chunks the next files.
Until the first submission of ``min_texts`` texts or more it embeds in the calling
process: starting workers costs about a second, more than a small ingest takes.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ragcli.errors import RagError
from ragcli.frames import receive, send

if TYPE_CHECKING:
    import numpy as np

    from ragcli.embed.onnx import OnnxEncoder

PIECE_TEXTS = 32  # texts sent to a worker at a time
POOL_MIN_TEXTS = 256  # a first submission smaller than this is embedded in process
MAX_AUTO_WORKERS = 8  # more CPUs than this: each worker gets several threads
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the folder holding ragcli/
Progress = Callable[[int], None]


def worker_count(setting: int) -> int:
    """Processes to embed with: ``setting``, or for 0 one per CPU this process may use,
    at most ``MAX_AUTO_WORKERS`` (each holds its own model and runtime, ~130 MiB). A
    setting above the CPUs is capped at them, with a note: more workers than CPUs only
    cost memory (RAG_EMBED_WORKERS=40 started 40 workers, 5 GB)."""
    if not setting:
        return min(cpu_count(), MAX_AUTO_WORKERS)
    if setting > cpu_count():
        from ragcli.errors import warn

        warn(f"embed workers: {setting} capped at {cpu_count()}, the CPUs this process may "
             "use (each worker holds its own model, about 130 MiB)")  # fmt: skip
        return cpu_count()
    return setting


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def parallel_encoder(encoder, workers: int):
    """``encoder`` wrapped in an :class:`EncoderPool` of ``workers`` processes when that
    applies (an ONNX encoder that embeds one text per call, and more than one worker);
    else ``encoder`` itself."""
    from ragcli.embed.onnx import OnnxEncoder

    if workers > 1 and isinstance(encoder, OnnxEncoder) and encoder.run_size == 1:
        return EncoderPool(encoder, workers)
    return encoder


def submit(encoder, texts: Sequence[str]) -> Pending:
    """``texts`` submitted to ``encoder``: in the background for a pool, else embedded
    when the result is asked for."""
    if isinstance(encoder, EncoderPool):
        return encoder.submit(texts)
    return Pending(lambda progress: encoder.encode(texts, progress=progress))


class Pending:
    """Vectors being made; ``result(progress)`` waits for them, calling ``progress(n)``
    as pieces of n texts are done."""

    def __init__(self, run: Callable[[Progress | None], np.ndarray]):
        self._run = run

    def result(self, progress: Progress | None = None) -> np.ndarray:
        return self._run(progress)


class EncoderPool:
    """``encoder`` run in ``workers`` processes (see the module docstring)."""

    def __init__(self, encoder: OnnxEncoder, workers: int, min_texts: int | None = None):
        self.encoder = encoder
        self.model_name = encoder.model_name
        self.variant = encoder.variant
        self.spec = encoder.spec
        self.workers = workers
        self.min_texts = POOL_MIN_TEXTS if min_texts is None else min_texts
        self._work: queue.Queue = queue.Queue()
        self._processes: list[_Worker] = []
        self._threads: list[threading.Thread] = []
        self._failure: RagError | None = None

    @property
    def dimension(self) -> int:
        return self.encoder.dimension

    @property
    def started(self) -> bool:
        return bool(self._processes)

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        return self.submit(texts).result(progress)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encoder.encode_query(text)

    def submit(self, texts: Sequence[str]) -> Pending:
        """Start embedding ``texts``; the workers take them in submission order."""
        texts = list(texts)
        if not self.started and len(texts) < self.min_texts:
            return Pending(lambda progress: self.encoder.encode(texts, progress))
        self._start()
        job = _Job(texts, self.dimension)
        for start in range(0, len(texts), PIECE_TEXTS):
            self._work.put((job, start, texts[start : start + PIECE_TEXTS]))
        return Pending(job.wait)

    def _start(self) -> None:
        if self._failure is not None:
            raise self._failure
        if self.started:
            return
        folder, variant = str(self.encoder.folder), self.encoder.variant
        threads = max(1, cpu_count() // self.workers)
        spec = self.encoder.spec.to_json()
        for number in range(self.workers):
            worker = _Worker(folder, variant, threads, spec)
            self._processes.append(worker)
            thread = threading.Thread(
                target=self._feed, args=(worker,), name=f"embed-worker-{number}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _feed(self, worker: _Worker) -> None:
        """Send pieces to ``worker`` until the pool closes; a failure fails every job."""
        while True:
            item = self._work.get()
            if item is None:
                return
            job, start, texts = item
            if self._failure is not None:
                job.fail(self._failure)
                continue
            try:
                job.done(start, worker.encode(texts))
            except Exception as err:  # noqa: BLE001 - the waiting caller must hear of it
                failure = err if isinstance(err, RagError) else RagError(_one_line(err))
                self._failure = failure
                job.fail(failure)

    def close(self) -> None:
        """Stop the workers (at once: pieces not yet sent are dropped)."""
        while True:
            try:
                item = self._work.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[0].fail(RagError("embedding stopped"))
        for _ in self._threads:
            self._work.put(None)
        for worker in self._processes:
            worker.stop()
        for thread in self._threads:
            thread.join(timeout=5)
        self._processes, self._threads = [], []

    def __enter__(self) -> EncoderPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Job:
    """One submission: its output rows, filled by the feeding threads."""

    def __init__(self, texts: list[str], dimension: int):
        import numpy as np

        self.total = len(texts)
        self.out = np.zeros((len(texts), dimension), dtype=np.float32)
        self._events: queue.Queue = queue.Queue()

    def done(self, start: int, vectors: np.ndarray) -> None:
        self.out[start : start + len(vectors)] = vectors
        self._events.put(len(vectors))

    def fail(self, error: RagError) -> None:
        self._events.put(error)

    def wait(self, progress: Progress | None = None) -> np.ndarray:
        remaining = self.total
        while remaining:
            event = self._events.get()
            if isinstance(event, RagError):
                raise event
            remaining -= event
            if progress:
                progress(event)
        return self.out


class _Worker:
    """One worker process and its two pipes."""

    def __init__(self, folder: str, variant: str, threads: int, spec: str):
        env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
        folder = str(Path(folder).resolve())
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ragcli.embed.pool", folder, variant, str(threads), spec],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            # `-m` puts the working directory first on sys.path: run where this ragcli
            # is, so a folder named ragcli where the user works is not imported instead.
            cwd=_PACKAGE_ROOT,
        )

    def encode(self, texts: list[str]) -> np.ndarray:
        try:
            send(self.process.stdin, texts)
            status, value = receive(self.process.stdout)
        except (OSError, ValueError, EOFError, pickle.UnpicklingError):
            # ValueError: the pipe was closed by close() while a piece was being sent.
            code = self.process.poll()
            raise RagError(f"an embedding worker stopped (exit code {code})") from None
        if status != "ok":
            raise RagError(f"an embedding worker failed: {value}")
        return value

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _serve(folder: str, variant: str, threads: int, spec_json: str) -> None:
    """The worker's loop: texts in, ("ok", vectors) or ("error", message) out."""
    from ragcli.embed.onnx import OnnxEncoder
    from ragcli.embed.spec import EmbedSpec

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Replies go to the original stdout; anything a library prints goes to stderr.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    requests = sys.stdin.buffer
    try:
        spec = EmbedSpec.from_json(spec_json)
        encoder = OnnxEncoder(folder, variant, threads=threads, spec=spec, device="cpu").load()
        failure = None
    except Exception as err:  # noqa: BLE001 - told to the parent at its first request
        encoder, failure = None, f"{folder}: {_one_line(err)}"
    while True:
        try:
            texts = receive(requests)
        except EOFError:
            return
        try:
            reply = ("ok", encoder.encode(texts)) if encoder else ("error", failure)
        except Exception as err:  # noqa: BLE001 - reported to the parent, one line
            reply = ("error", _one_line(err))
        try:
            send(replies, reply)
        except BrokenPipeError:
            return


def _one_line(err: Exception) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


if __name__ == "__main__":
    _serve(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
