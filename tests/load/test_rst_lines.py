"""reST hits carry the file's own line ranges, and `rag get PATH:LINE:COUNT` prints the
file's lines (or says on stderr that it shows the indexed text instead)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers_ingest import clean_env, write_files
from helpers_serve import HashEncoder
from typer.testing import CliRunner

from ragcli.chunk import chunker_for
from ragcli.cli import app
from ragcli.config import load_settings
from ragcli.ingest import ingest
from ragcli.load.rst import load_rst
from ragcli.store.local import LocalWriter

GUIDE = """\
Broadcasting
============

When operating on two arrays, NumPy compares their shapes element-wise.

Two dimensions are compatible when:

- they are equal, or
- one of them is 1.

.. note::

   Broadcasting does not copy the smaller array in memory.

An example with the doctest module::

    >>> import numpy as np
    >>> np.ones((3, 1)) + np.ones(4)

.. code-block:: python

   result = walrus_function(a, b)
   print(result)

Reading files
-------------

The loadtxt function reads a text file with missing values as NaN.
"""


def file_lines_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_every_rst_block_maps_to_its_own_lines_in_the_file(tmp_path):
    path = tmp_path / "guide.rst"
    path.write_text(GUIDE)
    doc = load_rst(path, tmp_path)[0]
    assert doc.line_map is not None
    ranges = {
        doc.text[offset:].split("\n", 1)[0]: (first, last) for offset, first, last in doc.line_map
    }
    assert ranges["Broadcasting"] == (1, 2)  # the title and its underline
    assert ranges["Two dimensions are compatible when:"] == (6, 6)
    assert ranges["- they are equal, or"] == (8, 8)
    assert ranges["Note: Broadcasting does not copy the smaller array in memory."] == (11, 13)
    assert ranges[">>> import numpy as np"] == (
        file_lines_of(path, ">>> import numpy"),
        file_lines_of(path, "np.ones((3, 1))"),
    )
    assert ranges["result = walrus_function(a, b)"][0] == file_lines_of(path, "walrus_function")
    assert ranges["Reading files"] == (25, 26)
    assert ranges["The loadtxt function reads a text file with missing values as NaN."] == (28, 28)


def test_rst_chunks_carry_the_file_line_range_of_their_text(tmp_path):
    path = tmp_path / "guide.rst"
    path.write_text(GUIDE + "\n".join(f"Paragraph {i} about walruses.\n" for i in range(200)))
    doc = load_rst(path, tmp_path)[0]
    chunks = chunker_for(load_settings(tmp_path)).chunk(doc)
    assert len(chunks) > 3
    lines = path.read_text().splitlines()
    for chunk in chunks:
        first, last = chunk.location.line_start, chunk.location.line_end
        assert first is not None and first <= last <= len(lines)
        shown = "\n".join(lines[first - 1 : last])
        words = [w for w in chunk.text.split() if w.isalpha() and len(w) > 3]
        assert words[0] in shown and words[-1] in shown, (chunk.text, shown)


@pytest.fixture
def run(tmp_path, monkeypatch):
    clean_env(monkeypatch, tmp_path)
    root = tmp_path / "project"
    write_files(root, {"docs/guide.rst": GUIDE})
    writer = LocalWriter(root / ".rag" / "default")
    ingest(writer, [root / "docs"], load_settings(root), base_dir=root, encoder=HashEncoder())
    monkeypatch.chdir(root)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def test_rag_get_prints_the_rst_file_lines_a_hit_names(run, tmp_path):
    hits = json.loads(run("search", "loadtxt missing values", "--mode", "sparse", "--json").stdout)
    location = hits["results"][0]["location"]
    first, last = location["line_start"], location["line_end"]
    assert first is not None
    got = run("get", f"docs/guide.rst:{first}:{last - first + 1}")
    assert got.exit_code == 0 and got.stderr == ""
    assert got.stdout == "".join(GUIDE.splitlines(True)[first - 1 : last])
    assert "The loadtxt function reads" in got.stdout


def test_rag_get_says_on_stderr_when_only_the_indexed_text_is_left(run, tmp_path):
    (tmp_path / "project" / "docs" / "guide.rst").write_text("Changed\n=======\n\nNew text.\n")
    got = run("get", "docs/guide.rst:1:3")
    assert got.exit_code == 0
    assert "the file changed or is gone since it was indexed" in got.stderr
    record = json.loads(run("get", "docs/guide.rst:1:3", "--json").stdout)
    assert record["origin"] == "index"
