"""Markdown heading text as it reads: no attribute lists, links, emphasis or escapes,
``__dunder__`` and ``snake_case`` names whole."""

from __future__ import annotations

import pytest

from ragcli.load import load_file
from ragcli.load.clean import clean_heading_text, unescape_markdown

PAGE = """\
# First Steps { #first-steps }

Intro.

## The `__init__` method {#init .python}

Body one.

## Path __parameters__ and [links](https://example.org) **bold**

Body two.

### lua\\_rawgeti and \\*L

Body three.
"""


def test_markdown_sections_carry_clean_heading_text(tmp_path):
    path = tmp_path / "tutorial.md"
    path.write_text(PAGE, encoding="utf-8")
    [doc] = load_file(path, tmp_path)
    assert doc.title == "First Steps"
    assert [s.location.heading for s in doc.sections] == [
        ("First Steps",),
        ("First Steps", "The __init__ method"),
        ("First Steps", "Path __parameters__ and links bold"),
        ("First Steps", "Path __parameters__ and links bold", "lua_rawgeti and *L"),
    ]
    assert doc.text == PAGE  # the file's text stays verbatim, so line numbers hold


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Query Parameters { #query-params }", "Query Parameters"),
        ("Title {: .class-name }", "Title"),
        ("`snake_case` names *emphasised*", "snake_case names emphasised"),
        ("a { literal } brace", "a { literal } brace"),
        ("2 * 3 * 4", "2 * 3 * 4"),
    ],
)
def test_clean_heading_text(raw, clean):
    assert clean_heading_text(raw) == clean


def test_unescape_markdown():
    assert (
        unescape_markdown(r"lua\_rawgeti (lua\_State \*L) \[x\]")
        == "lua_rawgeti (lua_State *L) [x]"
    )
