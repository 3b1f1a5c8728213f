"""Jobs for the parse worker's tests (test_parse_worker.py), imported by the worker
process itself: each does one thing a hostile file makes a parser do."""

from __future__ import annotations

import os
import resource
import time

_served = 0


def pid() -> int:
    """This worker's process id (and one more job served)."""
    global _served
    _served += 1
    return os.getpid()


def allocate(size: int) -> int:
    """Hold ``size`` bytes, touched, and return the worker's process id."""
    held = bytearray(size)
    held[::4096] = b"x" * len(held[::4096])
    return os.getpid()


def spin(cpu_seconds: float) -> int:
    """Use ``cpu_seconds`` of CPU and return the worker's process id."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    until = usage.ru_utime + usage.ru_stime + cpu_seconds
    while True:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        if usage.ru_utime + usage.ru_stime >= until:
            return os.getpid()


def hang(seconds: float) -> None:
    """Wait without using CPU, as a parser blocked on something that never comes."""
    time.sleep(seconds)


def chatter(lines: int) -> str:
    """Print to stdout and stderr as a noisy native library might, then answer."""
    for n in range(lines):
        print(f"parser says {n}", flush=True)
        os.write(1, b"raw bytes on fd 1\n")
        os.write(2, b"and on fd 2\n")
    return "answer intact"


def exit_if_seasoned(code: int) -> int:
    """End the worker if it served a job before this one (a crash left by an earlier
    file), else return its process id."""
    if _served:
        os._exit(code)
    return os.getpid()


def exit_now(code: int) -> None:
    os._exit(code)


def text_of(size: int) -> str:
    """A result of ``size`` characters (a long document's text)."""
    return "".join(chr(ord("a") + n % 26) for n in range(26)) * (size // 26)
