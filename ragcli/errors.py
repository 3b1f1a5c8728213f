"""Errors a user can act on. The CLI prints them as one line and exits non-zero."""

from __future__ import annotations


class RagError(Exception):
    """A failure the user can fix; ``str(err)`` is the whole message, one line."""

    exit_code = 1


class UsageError(RagError):
    """Bad arguments or bad input files (exit code 2, as for usage errors)."""

    exit_code = 2


class IndexStateError(RagError):
    """The index is missing, locked, incompatible or damaged."""


class LoadError(RagError):
    """A single file could not be read; ingest skips it and records the reason."""


def warn(message: str) -> None:
    """One warning line on stderr, prefixed so scripts can grep it."""
    import sys

    sys.stderr.write(f"rag: warning: {message}\n")
    sys.stderr.flush()
