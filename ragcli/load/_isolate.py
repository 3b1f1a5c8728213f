"""Running a native parser in a persistent worker process under hard limits, as Apache
Tika's fork parser does: what the parser does inside its own library (PDFium inflating
a page stream of 400 MB) cannot be bounded from Python, but a process can be.

A worker (a fresh Python that has imported only the parser) is started with the first
file that needs it and serves every later file, one at a time, until ``close_workers``
(the end of an ingest) or the end of this process. Before each file it sets its own
limits: ``RLIMIT_AS`` = the address space it had when it started plus ``memory`` bytes,
and ``RLIMIT_CPU`` = the CPU it has used so far plus ``cpu_seconds`` (a soft limit, so
the next file can raise it again). This process waits at most ``timeout`` seconds of
wall-clock time for the answer (a parser waiting forever uses no CPU), then kills the
worker. A file over a limit, or one that crashes the parser, is one ``LoadError``
naming the limit (a failed allocation is the memory limit, whatever the parser calls
it); the worker it took is replaced by a fresh one for the next file. When a worker
that has served files before fails a file for want of memory or by a crash, the file
is tried once more in a fresh worker, so what earlier files left behind (a fragmented
heap) never costs a good file. One round trip a file, no fork: about 1 ms of CPU, where
a child forked per file cost 11 ms (benchmarks/parse_isolation.py). PDFs have one
worker, office and EPUB files another. Without ``fork`` (Windows) the parser runs in
this process, unbounded.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import math
import os
import pickle
import re
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ragcli.errors import LoadError
from ragcli.frames import HEADER, frame, receive

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the folder holding ragcli/
_ALLOCATION_FAILED = (signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS)
# A worker is replaced after this many files, so nothing a parser leaks accumulates.
MAX_FILES_PER_WORKER = 1000

# Office and EPUB files (zip + XML, read by lxml) are parsed in a worker of their own
# under these limits, on top of the zip readers' counts of what each member really
# inflates to and holds: a bound on what lxml does that no count foresees. The
# largest file within those counts (31 MiB of document.xml) peaks at 172 MiB.
ZIPPED_KINDS = frozenset({"docx", "pptx", "xlsx", "odt", "ods", "odp", "epub"})
ZIPPED_MEMORY_BYTES = 512 * 1024 * 1024
ZIPPED_CPU_SECONDS = 120
ZIPPED_WAIT_SECONDS = 300
_ZIPPED_MODULES = ("lxml.etree", "ragcli.load.office", "ragcli.load.sheets",
                   "ragcli.load.odf", "ragcli.load.epub")  # fmt: skip


# -- the worker -------------------------------------------------------------------------


def _address_space() -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _set_limits(job: dict[str, Any], baseline: int | None) -> None:
    """This file's limits: memory above the worker's start, CPU from now on."""
    import resource

    unlimited = resource.RLIM_INFINITY
    if baseline is not None:
        resource.setrlimit(resource.RLIMIT_AS, (baseline + job["memory"], unlimited))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = math.ceil(usage.ru_utime + usage.ru_stime)
    resource.setrlimit(resource.RLIMIT_CPU, (used + job["cpu_seconds"], unlimited))


# What zlib, lxml and libc say when an allocation fails (the memory limit reached).
_ALLOCATION_FAILURE = re.compile(
    r"unable to allocate|cannot allocate|memory allocation failed|out of memory|"
    r"insufficient memory",
    re.IGNORECASE,
)


def _out_of_memory(err: BaseException | None) -> bool:
    """Whether ``err``, or an error it was raised from or while handling, is a failed
    allocation: a reader that reports "not a valid DOCX file (Unable to allocate output
    buffer.)" ran into the memory limit, the file is not at fault."""
    seen = 0
    while err is not None and seen < 10:
        if isinstance(err, MemoryError) or _ALLOCATION_FAILURE.search(str(err)):
            return True
        err, seen = err.__cause__ or err.__context__, seen + 1
    return False


def _parse(job: dict[str, Any]) -> tuple[str, Any]:
    module, name = job["func"]
    try:
        func = getattr(importlib.import_module(module), name)
        return "ok", func(*job["args"])
    except RecursionError:
        return "error", "too deeply nested to parse"
    except Exception as err:
        if _out_of_memory(err):
            return "memory", None
        if isinstance(err, LoadError):
            return "error", str(err)
        detail = " ".join(str(err).split())[:120]
        return "error", f"{type(err).__name__}: {detail}" if detail else type(err).__name__


def serve() -> None:
    """The worker's loop: a job from stdin, its outcome to the answer pipe, until stdin
    ends. The answers go down a copy of stdout; stdout itself then points at stderr, so
    a parser printing cannot garble them."""
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a parser killed by a limit: no core
    # Ctrl-C in the terminal reaches the whole process group: `rag` decides what it
    # means (a checkpoint, a server's shutdown) and ends the worker itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    for name in sys.argv[1:]:
        module = importlib.import_module(name)
        warm_up = getattr(module, "warm_up", None)
        if warm_up is not None:  # first-use work (fonts, caches) done before the limits
            warm_up()
    baseline = _address_space()
    stdin = sys.stdin.buffer
    while True:
        try:
            job = receive(stdin)
        except EOFError:
            return
        _set_limits(job, baseline)
        outcome = _parse(job)
        try:
            answer = frame(outcome)
        except MemoryError:
            outcome, answer = ("memory", None), frame(("memory", None))
        except Exception as err:  # a result that cannot be pickled
            outcome = ("error", f"cannot return the result: {type(err).__name__}")
            answer = frame(outcome)
        answers.write(answer)
        answers.flush()
        if outcome[0] == "memory":
            return  # its heap may be left in any state: the next file gets a fresh worker


# -- the caller's side --------------------------------------------------------------------


class _Died(Exception):
    """The worker ended before answering; ``status`` is its wait status."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


class _TimedOut(Exception):
    pass


class _Worker:
    def __init__(self, preload: tuple[str, ...]):
        self.files = 0
        self.busy = False
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ragcli.load._isolate", *preload],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # a dying parser's last words are not the user's
            cwd=_PACKAGE_ROOT,  # -m imports from the working directory first
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def run(self, job: dict[str, Any], timeout: float) -> tuple[str, Any]:
        """The worker's (kind, value) for ``job``; ``_TimedOut`` after ``timeout``
        seconds, ``_Died`` if it ends first."""
        self.files += 1
        try:
            self.process.stdin.write(frame(job))
            self.process.stdin.flush()
        except OSError:
            raise _Died(self._status()) from None
        deadline = time.monotonic() + timeout
        self.busy = True  # until the whole answer is read (Ctrl-C may stop the reading)
        header = self._read(HEADER.size, deadline)
        (size,) = HEADER.unpack(header)
        answer = self._read(size, deadline)
        self.busy = False
        return pickle.loads(answer)

    def _read(self, size: int, deadline: float) -> bytearray:
        fd = self.process.stdout.fileno()
        data = bytearray()
        while len(data) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                self.kill()
                raise _TimedOut
            chunk = os.read(fd, min(size - len(data), 1 << 20))
            if not chunk:
                raise _Died(self._status())
            data += chunk
        return data  # no copy: a document of 33 million characters is large

    def _status(self) -> int:
        """The wait status of the ended worker (killing one that hangs on)."""
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
        return _wait_status(self.process.returncode)

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
        self.process.wait()

    def close(self) -> None:
        if self.busy:  # left parsing (an interrupted ingest): its answer is not wanted
            self.kill()
        with contextlib.suppress(OSError):
            self.process.stdin.close()  # the worker's loop ends
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
        self.process.stdout.close()


def _wait_status(returncode: int) -> int:
    """``Popen.returncode`` (negative: the signal) as an ``os.waitpid`` status."""
    return (-returncode) & 0x7F if returncode < 0 else (returncode & 0xFF) << 8


_WORKERS: dict[tuple[str, ...], _Worker] = {}
_LOCK = threading.Lock()


def _worker(preload: tuple[str, ...]) -> _Worker:
    found = _WORKERS.get(preload)
    if found is not None and (not found.alive() or found.files >= MAX_FILES_PER_WORKER):
        found.close()
        found = None
    if found is None:
        found = _WORKERS[preload] = _Worker(preload)
    return found


def worker_pids() -> list[int]:
    """The process ids of the running workers."""
    with _LOCK:
        return [worker.process.pid for worker in _WORKERS.values() if worker.alive()]


@atexit.register
def close_workers() -> None:
    """Stop the workers (each exits when its stdin closes); the next file starts one."""
    with _LOCK:
        for worker in _WORKERS.values():
            worker.close()
        _WORKERS.clear()


def run_isolated(func, *args: Any, memory: int, cpu_seconds: int, timeout: float,
                 what: str, preload: tuple[str, ...] = ()) -> Any:  # fmt: skip
    """``func(*args)`` (a module-level function) in a worker under the limits, waiting
    at most ``timeout`` seconds; ``what`` names the format in the messages (``over 512
    MiB of memory (the limit per PDF)``); ``preload``: modules the worker imports (and
    warms up, with their ``warm_up()``) when it starts. Calls with the same modules
    (``preload`` and ``func``'s own) share a worker."""
    if not hasattr(os, "fork"):
        return func(*args)
    job = {"func": (func.__module__, func.__qualname__), "args": args,
           "memory": memory, "cpu_seconds": cpu_seconds}  # fmt: skip
    limits = (memory, cpu_seconds, timeout, what)
    with _LOCK:
        key = tuple(dict.fromkeys((*preload, func.__module__)))  # one worker per preload
        worker = _worker(key)
        seasoned = worker.files > 0
        kind, value = _attempt(worker, job, timeout)
        if seasoned and _maybe_left_over(kind, value):
            kind, value = _attempt(_worker(key), job, timeout)
    return _outcome(kind, value, *limits)


def load_zipped(load, path: Path, root: Path, kind: str) -> Any:
    """``load(path, root)`` (an office or EPUB loader, ``kind`` in ``ZIPPED_KINDS``) in
    the worker for those formats, under the ``ZIPPED_*`` limits."""
    absolute = Path(os.path.abspath(path)), Path(os.path.abspath(root))  # the worker: other cwd
    return run_isolated(load, *absolute, memory=ZIPPED_MEMORY_BYTES,
                        cpu_seconds=ZIPPED_CPU_SECONDS, timeout=ZIPPED_WAIT_SECONDS,
                        what=kind.upper(), preload=_ZIPPED_MODULES)  # fmt: skip


def _maybe_left_over(kind: str, value: Any) -> bool:
    """Whether a failure may come from what earlier files left in the worker: out of
    memory or a crash (not the CPU limit or the wait, which this file alone spends)."""
    if kind == "memory":
        return True
    return kind == "died" and not (os.WIFSIGNALED(value) and os.WTERMSIG(value) == signal.SIGXCPU)


def _attempt(worker: _Worker, job: dict[str, Any], timeout: float) -> tuple[str, Any]:
    """(kind, value) of one try; a worker that failed is stopped, the next file gets a
    fresh one."""
    try:
        kind, value = worker.run(job, timeout)
    except _TimedOut:
        kind, value = "timeout", None
    except _Died as died:
        kind, value = "died", died.status
    except (EOFError, pickle.PickleError, struct.error):  # a garbled answer
        worker.kill()
        kind, value = "died", _wait_status(worker.process.returncode)
    if kind not in ("ok", "error"):
        worker.kill()
    return kind, value


def _outcome(kind: str, value: Any, memory: int, cpu_seconds: int, timeout: float,
             what: str) -> Any:  # fmt: skip
    over_memory = f"over {memory // 2**20} MiB of memory (the limit per {what})"
    if kind == "ok":
        return value
    if kind == "error":
        raise LoadError(value)
    if kind == "memory":
        raise LoadError(over_memory)
    if kind == "timeout":
        raise LoadError(f"over {timeout:g} s of waiting (the time limit per {what})")
    status = value
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXCPU:
        raise LoadError(f"over {cpu_seconds} s of CPU (the limit per {what})")
    # A native library that cannot allocate aborts (or faults): the memory limit
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) in _ALLOCATION_FAILED:
        raise LoadError(f"{over_memory}: the parser aborted")
    code = os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    raise LoadError(f"the {what} parser crashed (signal or status {code})")


if __name__ == "__main__":
    serve()
