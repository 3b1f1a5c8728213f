"""Output helpers shared by the CLI commands: JSON, plain text, or rich on a terminal.

rich is imported only when something is drawn on a terminal, so piped and --json runs
never pay for it.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO


def is_terminal(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stdout
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False


def use_color(stream: TextIO | None = None) -> bool:
    return is_terminal(stream) and "NO_COLOR" not in os.environ


def console(stderr: bool = False):  # -> rich.console.Console
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(file=stream, no_color=not use_color(stream), highlight=False, soft_wrap=False)


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=_default)


def print_json(obj: Any, indent: bool = False) -> None:
    text = json.dumps(obj, ensure_ascii=False, indent=2 if indent else None, default=_default)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _default(obj: Any) -> Any:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    return str(obj)


def error(message: str) -> None:
    """One line on stderr, prefixed so scripts can grep it."""
    sys.stderr.write(f"rag: error: {message}\n")
    sys.stderr.flush()


def warn(message: str) -> None:
    sys.stderr.write(f"rag: warning: {message}\n")
    sys.stderr.flush()
