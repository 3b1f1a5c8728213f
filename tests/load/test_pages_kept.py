"""Every page kept: reST directives with text are indexed, included code joins the page
that shows it (inside the ingested folders only), and Fortran/Cython sources are code."""

from __future__ import annotations

from pathlib import Path

from helpers_ingest import write_files

from ragcli.chunk import chunker_for
from ragcli.config import load_settings
from ragcli.load import kind_of, load_file
from ragcli.load.includes import MAX_INCLUDE_BYTES, include_roots

ROUTINES = """\
Sorting and searching
=====================

.. currentmodule:: numpy

.. autosummary::
   :toctree: generated/

   sort
   ~numpy.top_k

.. automodule:: numpy.linalg

.. autofunction:: numpy.cumprod(a, axis=None)

.. note:: Sorting is stable for kind='stable'.

.. list-table::

   * - lexsort
     - indirect stable sort on several keys
"""


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_a_routine_index_page_is_kept_with_its_names_and_their_lines(tmp_path):
    write_files(tmp_path, {"routines.rst": ROUTINES})
    doc = load_file(tmp_path / "routines.rst", tmp_path)[0]
    for shown in ("numpy.top_k", "sort", "numpy.linalg", "numpy.cumprod(a, axis=None)",
                  "Note: Sorting is stable", "lexsort | indirect stable sort"):  # fmt: skip
        assert shown in doc.text
    assert doc.line_map is not None
    starts = {doc.text[o:].split("\n", 1)[0]: first for o, first, _ in doc.line_map}
    assert starts["- numpy.top_k"] == line_of(ROUTINES, "~numpy.top_k")
    assert starts["numpy.cumprod(a, axis=None)"] == line_of(ROUTINES, "autofunction")


def test_a_page_of_only_bookkeeping_is_still_skipped_as_empty(tmp_path):
    write_files(tmp_path, {"toc.rst": ".. toctree::\n\n   intro\n   usage\n"})
    import pytest

    from ragcli.errors import LoadError

    with pytest.raises(LoadError, match="no text"):
        load_file(tmp_path / "toc.rst", tmp_path)


def test_literalinclude_carries_code_from_inside_the_roots_only(tmp_path):
    root = tmp_path / "docs"
    write_files(tmp_path, {"secret.txt": "outside walrus secret\n"})
    write_files(root, {
        "examples/app.py": "import flask\n\ndef create_app():\n    return flask.Flask('walrus')\n",
        "big.py": "x = 1\n" * (MAX_INCLUDE_BYTES // 6 + 10),
        "page.rst": (
            "Factory\n=======\n\nThe factory:\n\n"
            ".. literalinclude:: examples/app.py\n   :lines: 3-4\n\n"
            ".. literalinclude:: ../secret.txt\n\n"
            ".. literalinclude:: big.py\n\n"
            ".. literalinclude:: page.rst\n\nEnd of page.\n"
        ),
    })  # fmt: skip
    with include_roots([root]):
        doc = load_file(root / "page.rst", root)[0]
    assert "def create_app():\n    return flask.Flask('walrus')" in doc.text
    assert "import flask" not in doc.text  # :lines: 3-4
    assert "secret" not in doc.text  # outside the ingested folder
    assert "x = 1" not in doc.text  # over the size bound
    assert doc.text.count("Factory") == 1  # the page does not include itself
    page = (root / "page.rst").read_text()
    starts = {doc.text[o:].split("\n", 1)[0]: (a, b) for o, a, b in doc.line_map}
    directive = line_of(page, "examples/app.py")
    assert starts["def create_app():"] == (directive, directive)


FASTAPI_PAGE = """\
# Handling errors

Raise an `HTTPException` in your code:

{* ../../docs_src/handling_errors/tutorial001.py ln[3:4] hl[4] *}

And with a snippet:

```python
--8<-- "docs_src/handling_errors/tutorial002.py"
```

--8<-- "docs/tutorial/handling-errors.md"

The end.
"""


def test_markdown_includes_carry_the_code_and_chunks_keep_the_file_lines(tmp_path):
    write_files(tmp_path, {
        "docs/tutorial/handling-errors.md": FASTAPI_PAGE,
        "docs_src/handling_errors/tutorial001.py": (
            "from fastapi import HTTPException\n\n"
            "def read_item(item_id):\n    raise HTTPException(404, detail='Item not found')\n"
        ),
        "docs_src/handling_errors/tutorial002.py": "detail = 'Nope walrus'\n",
    })  # fmt: skip
    page = tmp_path / "docs" / "tutorial" / "handling-errors.md"
    with include_roots([tmp_path]):
        doc = load_file(page, tmp_path)[0]
    # {* *} resolves as MkDocs does from its config folder: here from the root
    assert (
        "```python\ndef read_item(item_id):\n"
        "    raise HTTPException(404, detail='Item not found')\n```" in doc.text
    )
    assert "from fastapi import HTTPException" not in doc.text  # ln[3:4]
    assert "```python\ndetail = 'Nope walrus'\n```" in doc.text  # inside the page's fence
    assert doc.text.count("# Handling errors") == 1  # a page including itself is left as is
    chunks = chunker_for(load_settings(tmp_path)).chunk(doc)
    lines = FASTAPI_PAGE.splitlines()
    assert chunks[0].location.line_start == 1
    assert chunks[-1].location.line_end == len(lines)
    assert chunks[0].location.heading == ("Handling errors",)


def test_fortran_and_cython_sources_are_code_with_lines(tmp_path):
    write_files(tmp_path, {
        "solver.f90": "program solver\n  implicit none\n  print *, 'walrus'\nend program solver\n",
        "legacy.f": "      PROGRAM LEGACY\n      END\n",
        "wrap.pyf": "python module wrap\n  interface\n  end interface\nend python module wrap\n",
        "fast.pyx": "cdef int add(int a, int b):\n    return a + b\n",
        "fast.pxd": "cdef int add(int a, int b)\n",
    })  # fmt: skip
    for name in ("solver.f90", "legacy.f", "wrap.pyf", "fast.pyx", "fast.pxd"):
        assert kind_of(Path(name)) == "code", name
        doc = load_file(tmp_path / name, tmp_path)[0]
        assert doc.line_numbers
        chunk = chunker_for(load_settings(tmp_path)).chunk(doc)[0]
        assert chunk.location.line_start == 1
        assert chunk.location.line_end == len((tmp_path / name).read_text().splitlines())
    assert load_file(tmp_path / "solver.f90", tmp_path)[0].metadata["language"] == "fortran"
    assert load_file(tmp_path / "fast.pyx", tmp_path)[0].metadata["language"] == "cython"
