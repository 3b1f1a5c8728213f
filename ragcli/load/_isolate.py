"""Running a native parser in a forked child under hard limits, as Apache Tika's fork
parser does: what the parser does inside its own library (PDFium inflating a page
stream of 400 MB) cannot be bounded from Python, but a child process can be.

The child gets ``RLIMIT_AS`` = its inherited address space plus ``memory`` bytes, and
``RLIMIT_CPU`` = ``cpu_seconds``; it sends back the parser's documents (or its
``LoadError``) through a pipe. A child stopped by a limit, or crashed, is one
``LoadError`` naming the limit. Where there is no ``fork`` (Windows) the parser runs in
this process, unbounded.
"""

from __future__ import annotations

import os
import pickle
import signal
from collections.abc import Callable
from typing import Any

from ragcli.errors import LoadError

_ALLOCATION_FAILED = (signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS)


def _address_space() -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _limit(memory: int, cpu_seconds: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
    used = _address_space()
    if used is not None:
        resource.setrlimit(resource.RLIMIT_AS, (used + memory, used + memory))


def _child(write_fd: int, func: Callable[..., Any], args: tuple, memory: int, cpu: int):
    try:
        _limit(memory, cpu)
        try:
            result: tuple[str, Any] = ("ok", func(*args))
        except LoadError as err:
            result = ("error", str(err))
        except MemoryError:
            result = ("memory", None)
        except RecursionError:
            result = ("error", "too deeply nested to parse")
        except Exception as err:
            detail = " ".join(str(err).split())[:120]
            result = ("error", f"{type(err).__name__}: {detail}" if detail else type(err).__name__)
        data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        with os.fdopen(write_fd, "wb") as out:
            out.write(data)
    finally:
        os._exit(0)  # no atexit handlers, no flushing of the parent's buffers


def run_isolated(func: Callable[..., Any], *args: Any, memory: int, cpu_seconds: int,
                 what: str) -> Any:  # fmt: skip
    """``func(*args)`` in a forked child under the limits; ``what`` names the format in
    the messages (``over 512 MiB of memory (the limit per PDF)``)."""
    if not hasattr(os, "fork"):
        return func(*args)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(write_fd, func, args, memory, cpu_seconds)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    over_memory = f"over {memory // 2**20} MiB of memory (the limit per {what})"
    try:
        kind, value = pickle.loads(data) if data else ("crashed", None)
    except Exception:  # cut short by the limit while writing
        kind, value = "crashed", None
    if kind != "crashed":
        if kind == "ok":
            return value
        raise LoadError(over_memory if kind == "memory" else value)
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) in (signal.SIGXCPU, signal.SIGKILL):
        raise LoadError(f"over {cpu_seconds} s of CPU (the limit per {what})")
    # A native library that cannot allocate aborts (or faults): the memory limit
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) in _ALLOCATION_FAILED:
        raise LoadError(f"{over_memory}: the parser aborted")
    code = os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    raise LoadError(f"the {what} parser crashed (signal or status {code})")
