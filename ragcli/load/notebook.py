"""Jupyter notebooks (.ipynb), read as JSON: one section per cell (``cell 4``).

Markdown cells keep their text and their ``#`` headings give the heading path of the
cells after them; code cells keep their source and, when short, their text outputs
(streams, ``text/plain`` results, errors). Images and HTML outputs are left out.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ragcli.errors import LoadError
from ragcli.load.builder import Builder
from ragcli.load.clean import clean_heading_text
from ragcli.load.reading import decode_text, read_bytes
from ragcli.types import Document, Location

EXTENSIONS = (".ipynb",)

# Outputs longer than this (a printed dataframe, a training log) are left out.
MAX_OUTPUT_CHARS = 1000

_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _joined(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def _output_text(outputs) -> str:
    texts = []
    for output in outputs if isinstance(outputs, list) else []:
        kind = output.get("output_type")
        if kind == "stream":
            texts.append(_joined(output.get("text")))
        elif kind in ("execute_result", "display_data"):
            texts.append(_joined((output.get("data") or {}).get("text/plain")))
        elif kind == "error":
            texts.append(f"{output.get('ename', 'Error')}: {output.get('evalue', '')}")
    text = _ANSI.sub("", "\n".join(t.strip("\n") for t in texts if t.strip()))
    return text if len(text) <= MAX_OUTPUT_CHARS else ""


def _cells(notebook) -> list:
    if not isinstance(notebook, dict):
        raise LoadError("not a Jupyter notebook (no cells)")
    if "cells" in notebook:
        return notebook["cells"] or []
    sheets = notebook.get("worksheets")  # nbformat 3
    if isinstance(sheets, list) and sheets:
        return sheets[0].get("cells") or []
    raise LoadError("not a Jupyter notebook (no cells)")


def load_notebook(path: Path, root: Path) -> list[Document]:
    try:
        notebook = json.loads(decode_text(read_bytes(path)))
    except json.JSONDecodeError as err:
        raise LoadError(f"line {err.lineno}: invalid JSON ({err.msg})") from None
    builder = Builder("notebook", empty="no text in any cell")
    title = (notebook.get("metadata") or {}).get("title") if isinstance(notebook, dict) else None
    for number, cell in enumerate(_cells(notebook), 1):
        if not isinstance(cell, dict):
            continue
        source = _joined(cell.get("source", cell.get("input")))
        if cell.get("cell_type") == "markdown":
            found = _ATX.search(source)
            if found:
                heading = clean_heading_text(found.group(2))
                builder.headings.enter(len(found.group(1)), heading)
                title = title or heading
        elif cell.get("cell_type") == "code":
            output = _output_text(cell.get("outputs"))
            source = f"{source.rstrip()}\n\nOutput:\n{output}" if output else source
        elif cell.get("cell_type") != "raw":
            continue
        builder.add(source, Location(cell=number, heading=builder.headings.path))
    language = ((notebook.get("metadata") or {}).get("kernelspec") or {}).get("language")
    return [builder.document(path, root, title or path.stem, language=language)]
