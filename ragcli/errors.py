"""Errors a user can act on, and how any message is made safe to print.

The CLI prints a ``RagError`` as one line and exits non-zero. ``printable`` escapes the
control characters of untrusted text (file names, server replies, document text), so a
message can neither forge another line (``\\n``) nor drive the terminal (ANSI escapes);
``redact`` removes credentials from anything printed or stored.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any


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


# C0 and C1 controls, DEL, the Unicode line/paragraph separators, the bidirectional
# overrides and isolates (which reorder what a terminal shows), and lone surrogates
# (bytes of a name that is not UTF-8, as Python decodes them).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_UNPRINTABLE_KEEP_LINES = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the original byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str, keep_newlines: bool = False) -> str:
    """``text`` with control characters shown as escapes (``\\n``, ``\\x1b``, ``\\xff``).

    ``keep_newlines`` leaves newlines and tabs alone, for multi-line output such as an
    answer; a message line always escapes them.
    """
    pattern = _UNPRINTABLE_KEEP_LINES if keep_newlines else _UNPRINTABLE
    return pattern.sub(_escape, str(text))


SECRET_ENV = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "OPENAI_API_KEY", "OLLAMA_API_KEY")
MIN_SECRET_CHARS = 4
_URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.\-]*://[^/\s:@]*:)[^/\s@]+@")
REDACTED = "***"


def configured_secrets(extra: tuple[str, ...] | list[str] = ()) -> list[str]:
    """The credential values to keep out of output: ``extra`` and the keys in the
    environment, longest first (so a key containing another is removed whole)."""
    values = [s for s in extra if s and len(s) >= MIN_SECRET_CHARS]
    values += [os.environ[n] for n in SECRET_ENV if len(os.environ.get(n, "")) >= MIN_SECRET_CHARS]
    return sorted(set(values), key=len, reverse=True)


def redact(text: str, secrets: tuple[str, ...] | list[str] = ()) -> str:
    """``text`` without configured secret values nor passwords in URLs (``user:***@``)."""
    for value in configured_secrets(secrets):
        text = text.replace(value, REDACTED)
    return _URL_PASSWORD.sub(lambda m: m.group(1) + REDACTED + "@", text)


class BadJsonLine(ValueError):
    """A JSON Lines record that is not a JSON object; ``str(err)`` says why."""


def json_object(line: str) -> dict[str, Any]:
    """One JSON Lines record, or ``BadJsonLine`` worded the same for every JSONL reader
    (``invalid JSON (<why>)``, ``expected a JSON object, got a list``); the reader puts
    the file and line in front."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise BadJsonLine(f"invalid JSON ({err.msg})") from None
    if not isinstance(record, dict):
        raise BadJsonLine(f"expected a JSON object, got {json_type(record)}")
    return record


def json_type(value: Any) -> str:
    """``a list``, ``a string``, ``null``, ...: what a JSON value is, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def message_line(message: str) -> str:
    """A message as printed: credentials removed, control characters escaped."""
    return printable(redact(str(message)))


def require_utf8(text: str, origin: str) -> str:
    """``text`` if it is valid UTF-8 (no surrogateescape bytes), else a ``UsageError``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise UsageError(f"{origin} is not valid UTF-8 (at character {err.start + 1})") from None
    return text


class OnceWarner:
    """Passes each warning on to ``sink`` once (or once per ``key``, whatever the
    message): what one command or one long-lived Index says about a problem."""

    def __init__(self, sink: Callable[[str], None]):
        self.sink = sink
        self._said: set[str] = set()

    def __call__(self, message: str, key: str | None = None) -> None:
        key = key or message
        if key not in self._said:
            self._said.add(key)
            self.sink(message)


def warn(message: str) -> None:
    """One warning line on stderr, prefixed so scripts can grep it."""
    import sys

    sys.stderr.write(f"rag: warning: {message_line(message)}\n")
    sys.stderr.flush()
