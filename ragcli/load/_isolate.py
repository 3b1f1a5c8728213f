"""Running a native parser in a child process under hard limits, as Apache Tika's fork
parser does: what the parser does inside its own library (PDFium inflating a page
stream of 400 MB) cannot be bounded from Python, but a child process can be.

A small server process (the "zygote": a fresh Python that has imported only the parser)
is started with the first file that needs it and lives as long as this process. For
each file it forks a child with ``RLIMIT_AS`` = its own address space plus ``memory``
bytes and ``RLIMIT_CPU`` = ``cpu_seconds``; the child parses and sends back the
documents (or its ``LoadError``); the zygote forwards them with how the child ended. A
child stopped by a limit, or crashed, is one ``LoadError`` naming the limit. Forking
the small zygote costs about a millisecond, where forking `rag ingest` itself (its
model loaded) cost ~35 ms a file (benchmarks/parse_isolation.py). Where there is no
``fork`` (Windows) the parser runs in this process, unbounded.
"""

from __future__ import annotations

import atexit
import importlib
import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from ragcli.errors import LoadError

_HEADER = struct.Struct("<Q")
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the folder holding ragcli/
_ALLOCATION_FAILED = (signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS)
_CPU_SIGNALS = (signal.SIGXCPU, signal.SIGKILL)


# -- framing ----------------------------------------------------------------------------


def _send(stream, value: Any) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _receive(stream) -> Any:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


# -- the zygote and its children ----------------------------------------------------------


def _address_space() -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _child(write_fd: int, job: dict[str, Any]) -> None:
    """In the forked child: the limits, the parse, the result down ``write_fd``."""
    try:
        import resource

        cpu, memory = job["cpu_seconds"], job["memory"]
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
        used = _address_space()
        if used is not None:
            resource.setrlimit(resource.RLIMIT_AS, (used + memory, used + memory))
        module, name = job["func"]
        func = getattr(importlib.import_module(module), name)
        try:
            result: tuple[str, Any] = ("ok", func(*job["args"]))
        except LoadError as err:
            result = ("error", str(err))
        except MemoryError:
            result = ("memory", None)
        except RecursionError:
            result = ("error", "too deeply nested to parse")
        except Exception as err:
            detail = " ".join(str(err).split())[:120]
            result = ("error", f"{type(err).__name__}: {detail}" if detail else type(err).__name__)
        with os.fdopen(write_fd, "wb") as out:
            out.write(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    finally:
        os._exit(0)


def _run_one(job: dict[str, Any]) -> tuple[bytes, int]:
    """(what the child sent, its wait status)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(write_fd, job)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    return data, status


def serve() -> None:
    """The zygote's loop: a job from stdin, (data, status) to stdout, until stdin ends."""
    for name in sys.argv[1:]:
        module = importlib.import_module(name)  # loaded once, inherited by every child
        warm_up = getattr(module, "warm_up", None)
        if warm_up is not None:  # first-use work (fonts, caches) done once, not per child
            warm_up()
    import gc

    gc.freeze()  # a child's collections then leave the zygote's objects (and pages) alone
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            job = _receive(stdin)
        except EOFError:
            return
        _send(stdout, _run_one(job))


class _Zygote:
    def __init__(self, preload: tuple[str, ...]):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ragcli.load._isolate", *preload],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=_PACKAGE_ROOT,  # -m imports from the working directory first
        )

    def run(self, job: dict[str, Any]) -> tuple[bytes, int]:
        _send(self.process.stdin, job)
        return _receive(self.process.stdout)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


_ZYGOTES: dict[tuple[str, ...], _Zygote] = {}
_LOCK = threading.Lock()


def _zygote(preload: tuple[str, ...]) -> _Zygote:
    found = _ZYGOTES.get(preload)
    if found is None or found.process.poll() is not None:
        found = _ZYGOTES[preload] = _Zygote(preload)
    return found


@atexit.register
def close_all() -> None:
    """Stop the zygotes (each exits when its stdin closes)."""
    for zygote in _ZYGOTES.values():
        zygote.close()
    _ZYGOTES.clear()


# -- the caller's side --------------------------------------------------------------------


def run_isolated(func, *args: Any, memory: int, cpu_seconds: int, what: str,
                 preload: tuple[str, ...] = ()) -> Any:  # fmt: skip
    """``func(*args)`` (a module-level function) in a child under the limits; ``what``
    names the format in the messages (``over 512 MiB of memory (the limit per PDF)``);
    ``preload``: modules the zygote imports once for all its children."""
    if not hasattr(os, "fork"):
        return func(*args)
    job = {"func": (func.__module__, func.__qualname__), "args": args,
           "memory": memory, "cpu_seconds": cpu_seconds}  # fmt: skip
    with _LOCK:
        zygote = _zygote((func.__module__, *preload))
        try:
            data, status = zygote.run(job)
        except (EOFError, OSError, pickle.PickleError):  # the zygote itself died
            zygote.close()
            raise LoadError(f"the {what} parser's process stopped") from None
    return _outcome(data, status, memory, cpu_seconds, what)


def _outcome(data: bytes, status: int, memory: int, cpu_seconds: int, what: str) -> Any:
    over_memory = f"over {memory // 2**20} MiB of memory (the limit per {what})"
    try:
        kind, value = pickle.loads(data) if data else ("crashed", None)
    except Exception:  # cut short by the limit while writing
        kind, value = "crashed", None
    if kind == "ok":
        return value
    if kind != "crashed":
        raise LoadError(over_memory if kind == "memory" else value)
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) in _CPU_SIGNALS:
        raise LoadError(f"over {cpu_seconds} s of CPU (the limit per {what})")
    # A native library that cannot allocate aborts (or faults): the memory limit
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) in _ALLOCATION_FAILED:
        raise LoadError(f"{over_memory}: the parser aborted")
    code = os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    raise LoadError(f"the {what} parser crashed (signal or status {code})")


if __name__ == "__main__":
    serve()
