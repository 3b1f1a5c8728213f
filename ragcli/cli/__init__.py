"""Command-line interface: one module per command, all registered on one typer app.

The commands parse arguments, call the library and render; no pipeline logic lives here.
Command modules import only typer and ragcli's light modules at import time (the
libraries a command needs are imported inside it), so registering every command costs
little; tests/cli/test_startup.py checks what `rag --help` and `rag search` import.
"""

from __future__ import annotations

import os
import sys

try:
    from ragcli.cli import ask as _ask  # noqa: F401  (registers commands)
    from ragcli.cli import evaluate as _evaluate  # noqa: F401
    from ragcli.cli import get as _get  # noqa: F401
    from ragcli.cli import ingest as _ingest  # noqa: F401
    from ragcli.cli import search as _search  # noqa: F401
    from ragcli.cli import serve as _serve  # noqa: F401
    from ragcli.cli.app import app
except KeyboardInterrupt:  # Ctrl-C while `rag` starts: one line, not a traceback
    sys.stderr.write("rag: error: interrupted\n")
    sys.stderr.flush()
    os._exit(130)

# Commands that write nothing but their output (on stdout/stderr): once they are done,
# the process may end without tearing the interpreter down (see _exit_quickly). Help
# (`rag`, `rag --help`, `rag COMMAND --help`) is such output too.
QUICK_EXIT_COMMANDS = frozenset({"search", "get"})
# Servers: besides the speed, skipping native teardown means a thread still inside ONNX
# Runtime or FAISS (a warm-up cut short) cannot abort the exit ("terminate called without
# an active exception", SIGABRT); they stop their own threads and remove their pid files
# before returning.
SERVER_COMMANDS = frozenset({"mcp", "serve", "watch"})
_HELP = ("--help", "-h")


def main() -> None:
    try:
        app()
    except SystemExit as done:
        args = sys.argv[1:]
        if _output_only(args) or (args and args[0] in SERVER_COMMANDS):
            _exit_quickly(done.code)
        raise
    except KeyboardInterrupt:  # Ctrl-C before a command's own handling began
        sys.stderr.write("rag: error: interrupted\n")
        _exit_quickly(130)
        raise SystemExit(130) from None


def _output_only(args: list[str]) -> bool:
    if not args or (args[0] in QUICK_EXIT_COMMANDS):
        return True
    return args[-1] in _HELP and len(args) <= 2


def _exit_quickly(code) -> None:
    """End the process without the interpreter's teardown.

    After a search, Python's own shutdown (unloading numpy, scipy, FAISS, onnxruntime and
    freeing their objects) takes about 0.1 s, a sixth of a cold `rag search`. Here the
    atexit handlers still run, non-daemon threads are still waited for and the output
    is flushed; only object destructors and module teardown are skipped, which is safe
    for a command whose only output is stdout/stderr. Any unusual exit code falls back
    to the normal exit.
    """
    import atexit
    import threading

    if code is None:
        code = 0
    if not isinstance(code, int) or isinstance(code, bool):
        return
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed, or a reader that went away
            if code == 0 and stream is sys.stdout:
                return  # let the normal exit report it as it always has
    os._exit(code)
