"""The one document builder of the load stage (``ragcli.load.builder``) and the one
heading cleaner (``ragcli.load.clean.clean_heading_text``), seen through real files."""

from __future__ import annotations

import nbformat
import pytest

from ragcli.errors import LoadError
from ragcli.load import load_file
from ragcli.load.builder import Builder
from ragcli.types import Location, Section

# Everything the Markdown cleaner takes off a heading: an attribute list, a link, strong
# and plain emphasis, code ticks and an escape, while a dunder name keeps its underscores.
RAW_HEADING = (
    r"Install **fast** with [pip](https://pip.pypa.io), `__init__`, snake\_case {#install}"
)
CLEAN_HEADING = "Install fast with pip, __init__, snake_case"


def _heading_paths(document) -> list[tuple[str, ...]]:
    return [section.location.heading for section in document.sections]


def test_markdown_and_notebook_headings_are_cleaned_alike(tmp_path):
    (tmp_path / "guide.md").write_text(f"# Guide\n\n## {RAW_HEADING}\n\nRun the installer.\n")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# Guide"),
        nbformat.v4.new_markdown_cell(f"## {RAW_HEADING}\n\nRun the installer."),
        nbformat.v4.new_code_cell("print('installed')"),
    ]
    nbformat.write(notebook, str(tmp_path / "guide.ipynb"))

    [markdown] = load_file(tmp_path / "guide.md", tmp_path)
    [cells] = load_file(tmp_path / "guide.ipynb", tmp_path)

    assert _heading_paths(markdown)[-1] == ("Guide", CLEAN_HEADING)
    assert _heading_paths(cells)[-1] == ("Guide", CLEAN_HEADING)


def test_a_heading_with_nothing_under_it_joins_the_next_section():
    builder = Builder()
    builder.heading(1, "Guide")
    location = builder.heading(2, "Install")
    builder.add("Run the installer.", location)
    builder.heading(2, "Trailing heading, nothing under it")

    assert builder.text.startswith("Guide\n\nInstall\n\nRun the installer.")
    assert builder.sections == [
        Section(
            0, len("Guide\n\nInstall\n\nRun the installer."), Location(heading=("Guide", "Install"))
        )
    ]


def test_a_document_of_headings_alone_is_empty(tmp_path):
    builder = Builder("docx", empty="no text here")
    builder.heading(1, "Title")
    builder.heading(2, "Chapter")
    with pytest.raises(LoadError, match="^no text here$"):
        builder.document(tmp_path / "x.docx", tmp_path, "x")


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("only-headings.html", "<html><body><main><h1>A</h1><h2>B</h2></main></body></html>",
         "no main text found in the HTML"),
        ("only-titles.rst", "Title\n=====\n\nPart\n----\n", "no text in the reStructuredText"),
    ],
)  # fmt: skip
def test_rendered_files_of_headings_alone_say_so(tmp_path, name, content, reason):
    (tmp_path / name).write_text(content)
    with pytest.raises(LoadError) as err:
        load_file(tmp_path / name, tmp_path)
    assert str(err.value) == reason


def test_a_notebook_of_empty_cells_says_so(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("  "), nbformat.v4.new_code_cell("")]
    nbformat.write(notebook, str(tmp_path / "empty.ipynb"))
    with pytest.raises(LoadError) as err:
        load_file(tmp_path / "empty.ipynb", tmp_path)
    assert str(err.value) == "no text in any cell"
