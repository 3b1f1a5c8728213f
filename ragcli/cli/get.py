"""`rag get`: indexed documents, line ranges and PDF pages, by path, #id, chunk id or glob."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ragcli.cli.app import app, handles_errors
from ragcli.cli.options import TARGET, Flags, JsonOpt, uses
from ragcli.documents import LINE_KINDS

SpecsArg = Annotated[
    list[str],
    typer.Argument(
        help="PATH[:LINE[:COUNT]], #DOC_ID[:LINE[:COUNT]], a chunk id, or a glob "
        "(for a PDF, LINE:COUNT are pages).",
        show_default=False,
    ),
]
MaxBytesOpt = Annotated[
    int | None,
    typer.Option(
        "--max-bytes",
        help="Cut each document at this many bytes (default 100000 for one, 20000 each for "
        "several).",
        show_default=False,
    ),
]
MaxDocsOpt = Annotated[
    int | None,
    typer.Option("--max-docs", help="Most documents for a glob or a list (default 100)."),
]
LineNumbersOpt = Annotated[
    bool, typer.Option("--line-numbers", "-N", help="Number the lines (pages get a header).")
]


@app.command()
@handles_errors
@uses(TARGET)
def get(
    specs: SpecsArg,
    max_bytes: MaxBytesOpt = None,
    max_docs: MaxDocsOpt = None,
    line_numbers: LineNumbersOpt = False,
    json_out: JsonOpt = False,
    *,
    target: Flags,
) -> None:
    """Print indexed documents or ranges of them. Exit 1 when nothing matched."""
    from ragcli.cli import render
    from ragcli.documents import is_glob

    idx = target.open_index()
    if len(specs) == 1 and not is_glob(specs[0]):
        document = idx.get(specs[0], max_bytes=max_bytes)
        if json_out:
            render.print_json(document.to_dict())
        else:
            _write(document, line_numbers, header=False)
        return
    found = idx.multi_get(specs, max_bytes=max_bytes, max_documents=max_docs)
    if json_out:
        render.print_json(found.to_dict())
        return
    for document in found.documents:
        _write(document, line_numbers, header=True)
    for skip in found.skipped:
        render.warn(f"skipped {skip['spec']}: {skip['reason']}")


def _write(document, line_numbers: bool, header: bool) -> None:
    """The text as stored, or on a terminal with its control characters escaped (a
    document's escape sequences would retitle the window or clear the screen)."""
    shown = printable_on_terminal()
    if header:
        sys.stdout.write(f"==> {shown(document.source)}{_range_label(document)} <==\n")
    if document.origin == "index" and document.kind in LINE_KINDS:
        from ragcli.cli import render

        render.warn(
            f"{document.source}: the file changed or is gone since it was indexed, so this "
            "is the indexed text, whose lines may not be the file's (rag ingest to refresh)"
        )
    text = shown(document.numbered() if line_numbers else document.text)
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    if document.truncated:
        from ragcli.cli import render

        render.warn(
            f"{document.source}: cut at --max-bytes (through {document.unit} "
            f"{document.end} of {document.total})"
        )


def printable_on_terminal():
    from ragcli.errors import printable

    if sys.stdout.isatty():
        return lambda text: printable(text, keep_newlines=True)
    return lambda text: text


def _range_label(document) -> str:
    if document.start == 1 and document.end == document.total:
        return ""
    return f" ({document.unit}s {document.start}-{document.end} of {document.total})"
