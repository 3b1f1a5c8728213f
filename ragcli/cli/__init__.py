"""Command-line interface: one module per command, all registered on one typer app.

The commands parse arguments, call the library and render; no pipeline logic lives here.
"""

from __future__ import annotations

from ragcli.cli import ask as _ask  # noqa: F401  (registers commands)
from ragcli.cli import evaluate as _evaluate  # noqa: F401
from ragcli.cli import ingest as _ingest  # noqa: F401
from ragcli.cli import search as _search  # noqa: F401
from ragcli.cli.app import app


def main() -> None:
    app()
