"""Options several commands share, and opening the index they name."""

from __future__ import annotations

from typing import Annotated

import typer

IndexOpt = Annotated[
    str | None,
    typer.Option(
        "--index",
        "-i",
        help="Index folder to use (default: .rag/<name> found by walking up; env RAG_INDEX).",
        show_default=False,
    ),
]
NameOpt = Annotated[
    str | None,
    typer.Option(
        "--name",
        "-n",
        help="Named index inside .rag/ (default: 'default'; env RAG_INDEX_NAME).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


def open_index(index: str | None, name: str | None, create: bool = False):
    from ragcli.index import Index

    return Index.locate(index=index, name=name, create=create)
