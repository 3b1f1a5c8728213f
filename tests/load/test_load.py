"""Loaders on real files: text, Markdown, HTML, PDF (built with fpdf2), code, JSONL."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pdfs import encrypted_pdf, image_only_pdf, text_pdf
from privileges import public_dir, unprivileged

from ragcli.errors import LoadError, RagError
from ragcli.load import SUPPORTED_EXTENSIONS, kind_of, load_file, supported
from ragcli.load.html import html_blocks
from ragcli.types import Location

SHARED_DATA = Path("/work/shared/data")


def load_one(path: Path, root: Path | None = None):
    docs = load_file(path, root or path.parent)
    assert len(docs) == 1
    return docs[0]


def load_error(path: Path, root: Path | None = None) -> str:
    with pytest.raises(LoadError) as info:
        load_file(path, root or path.parent)
    message = str(info.value)
    assert "\n" not in message and str(path) not in message  # one line, caller adds path
    return message


def section_texts(doc) -> list[str]:
    return [doc.text[s.start : s.end] for s in doc.sections]


# --- registry -------------------------------------------------------------------------


def test_supported_by_extension_and_name():
    for name in ["a.txt", "b.MD", "c.pdf", "d.htm", "e.py", "f.jsonl", "g.yaml", "Makefile"]:
        assert supported(Path(name)), name
    assert supported(Path("README")) and kind_of(Path("LICENSE")) == "text"  # by content
    for name in ["a.png", "b.exe", "archive.tar.gz"]:
        assert not supported(Path(name)), name
    assert {".txt", ".md", ".pdf", ".html", ".py", ".jsonl"} <= SUPPORTED_EXTENSIONS
    assert kind_of(Path("x.markdown")) == "markdown"
    assert kind_of(Path("x.json")) == "code"
    assert kind_of(Path("x.jsonl")) == "jsonl"
    assert kind_of(Path("x.bin")) is None


def test_unsupported_extension_is_a_load_error(tmp_path):
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG\r\n")
    assert load_error(path) == "unsupported type .png"


@pytest.mark.slow  # a fresh interpreter
def test_heavy_libraries_are_imported_lazily():
    # The libraries the loaders use (PDF, HTML, reST); each must exist, so a renamed
    # dependency cannot make this test pass by looking for a module nobody imports.
    heavy = (
        "pypdfium2",
        "docutils",
        "lxml",
        "PIL",
        "pytesseract",
        "rapidocr_onnxruntime",
        "docx",
        "pptx",
        "openpyxl",
    )
    assert all(importlib.util.find_spec(name) for name in heavy)
    code = (
        "import sys, ragcli.load, ragcli.discover\n"
        f"heavy = [m for m in {heavy!r} if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# --- plain text -----------------------------------------------------------------------


def test_text_file_ids_title_and_single_section(tmp_path):
    (tmp_path / "notes").mkdir()
    path = tmp_path / "notes" / "meeting.txt"
    path.write_text("first line\nsecond line\n", encoding="utf-8")
    doc = load_one(path, tmp_path)
    assert doc.doc_id == "notes/meeting.txt"
    assert doc.source == "notes/meeting.txt"
    assert doc.title == "meeting"
    assert doc.kind == "text"
    assert doc.line_numbers is True
    assert doc.text == "first line\nsecond line\n"
    assert [(s.start, s.end) for s in doc.sections] == [(0, len(doc.text))]
    assert doc.sections[0].location == Location()


def test_root_that_is_the_file_gives_its_name_as_id(tmp_path):
    path = tmp_path / "solo.txt"
    path.write_text("alone", encoding="utf-8")
    doc = load_one(path, path)
    assert doc.doc_id == doc.source == "solo.txt"


def test_bom_and_crlf_are_normalised(tmp_path):
    path = tmp_path / "win.txt"
    path.write_bytes(b"\xef\xbb\xbfcaf\xc3\xa9\r\nline two\r\n")
    doc = load_one(path)
    assert doc.text == "café\nline two\n"


def test_utf16_with_bom_is_text_not_binary(tmp_path):
    path = tmp_path / "utf16.txt"
    path.write_bytes("hello wide world\n".encode("utf-16"))
    assert load_one(path).text == "hello wide world\n"


def test_rst_title_from_underlined_heading(tmp_path):
    path = tmp_path / "guide.rst"
    path.write_text(".. comment\n\nUser Guide\n==========\n\nBody text.\n", encoding="utf-8")
    assert load_one(path).title == "User Guide"


def test_empty_and_whitespace_only_files(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert load_error(empty) == "empty file"
    blank = tmp_path / "blank.md"
    blank.write_text("  \n\n\t\n", encoding="utf-8")
    assert load_error(blank).startswith("empty file")


def test_binary_data_with_text_extension(tmp_path):
    nul = tmp_path / "data.txt"
    nul.write_bytes(b"looks like text\x00\x00\x01\x02" + bytes(range(256)) * 4)
    assert load_error(nul) == "binary data, not text"
    # no NUL byte, but full of control characters
    control = tmp_path / "noise.py"
    control.write_bytes(bytes([1, 2, 3, 4, 5, 6, 65, 66]) * 200)
    assert load_error(control) == "binary data, not text"


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("café au lait\n", "latin-1"),
        ("Grüße aus München, schöne Straße.\n", "latin-1"),
        ("“Smart quotes” – and the € sign\n", "cp1252"),
        ("Привет, как дела? Это проверка кодировки.\n", "cp1251"),
        ("日本語のテキストです。これは試験です。\n", "shift_jis"),
    ],
)
def test_text_that_is_not_utf8_is_decoded_by_its_detected_encoding(tmp_path, text, encoding):
    path = tmp_path / "legacy.txt"
    path.write_bytes(text.encode(encoding))
    assert load_one(path).text == text


def test_text_without_an_extension_is_loaded_as_text(tmp_path):
    path = tmp_path / "README"
    path.write_text("Build with make.\n")
    doc = load_one(path)
    assert (doc.kind, doc.text, doc.title) == ("text", "Build with make.\n", "README")


def test_directory_with_text_extension(tmp_path):
    folder = tmp_path / "folder.txt"
    folder.mkdir()
    assert load_error(folder) == "is a directory"


def test_missing_file(tmp_path):
    assert load_error(tmp_path / "gone.txt") == "file not found"


def test_unreadable_file_is_permission_denied():
    with public_dir() as folder:
        path = folder / "secret.txt"
        path.write_text("classified", encoding="utf-8")
        path.chmod(0o000)
        with unprivileged() as enforced:
            if enforced:
                with pytest.raises(LoadError) as info:
                    load_file(path, folder)
            else:  # root without the right to drop privileges: root can read it
                docs = load_file(path, folder)
        if enforced:
            assert str(info.value) == "permission denied"
        else:
            assert docs[0].text == "classified"


# --- Markdown -------------------------------------------------------------------------

MARKDOWN = """\
Intro paragraph before any heading.

# Guide

Welcome text.

## Install

Run the installer.

```bash
# this is a shell comment, not a heading
pip install thing
```

### From source

Clone it first.

## Usage ##

Use it well.

~~~
## also not a heading
~~~

# Appendix
## Empty parent
### Deep child

Deep text.
"""


def test_markdown_heading_paths_and_code_fences(tmp_path):
    path = tmp_path / "guide.md"
    path.write_text(MARKDOWN, encoding="utf-8")
    doc = load_one(path)
    assert doc.kind == "markdown"
    assert doc.line_numbers is True
    assert doc.title == "Guide"
    assert [s.location.heading for s in doc.sections] == [
        (),
        ("Guide",),
        ("Guide", "Install"),
        ("Guide", "Install", "From source"),
        ("Guide", "Usage"),
        ("Appendix", "Empty parent", "Deep child"),
    ]
    texts = section_texts(doc)
    assert texts[0].startswith("Intro paragraph")
    assert texts[1].startswith("# Guide\n")
    # the fenced '#' lines stay inside their sections
    assert "# this is a shell comment" in texts[2]
    assert "## also not a heading" in texts[4]
    # heading-only sections are merged into the next one, so nothing is lost
    assert texts[5].startswith("# Appendix\n## Empty parent\n### Deep child")
    # sections tile the text
    assert doc.sections[0].start == 0
    assert doc.sections[-1].end == len(doc.text)
    for before, after in zip(doc.sections, doc.sections[1:], strict=False):
        assert before.end == after.start


def test_markdown_text_is_verbatim_so_line_numbers_hold(tmp_path):
    path = tmp_path / "guide.md"
    path.write_text(MARKDOWN, encoding="utf-8")
    doc = load_one(path)
    assert doc.text == MARKDOWN
    source_section = doc.sections[3]
    line = doc.text.count("\n", 0, source_section.start) + 1
    assert MARKDOWN.splitlines()[line - 1] == "### From source"


def test_markdown_front_matter_setext_and_no_headings(tmp_path):
    fm = tmp_path / "post.md"
    fm.write_text(
        "---\ntitle: 'Front Title'\ntags: [a]\n---\nSetext Top\n==========\n\nBody.\n\n"
        "Sub part\n--------\n\nMore.\n",
        encoding="utf-8",
    )
    doc = load_one(fm)
    assert doc.title == "Front Title"
    assert [s.location.heading for s in doc.sections] == [
        ("Setext Top",),
        ("Setext Top", "Sub part"),
    ]
    assert "tags:" not in "".join(section_texts(doc))  # front matter is outside sections
    assert doc.text.startswith("---\ntitle:")  # but kept in the text for line numbers

    plain = tmp_path / "plain-notes.md"
    plain.write_text("Just a paragraph.\n\n---\n\nAnother one.\n", encoding="utf-8")
    doc = load_one(plain)
    assert doc.title == "plain-notes"
    assert len(doc.sections) == 1
    assert doc.sections[0].location.heading == ()


# --- HTML -----------------------------------------------------------------------------

HTML = """<!doctype html>
<html><head><title>Widget &amp; Co manual</title>
<style>.x { color: red } STYLETOKEN</style>
<script>var s = "SCRIPTTOKEN";</script></head>
<body>
<nav><ul><li><a href="/">Home NAVTOKEN</a></li><li><a href="/b">Blog</a></li></ul></nav>
<header><p>Site banner HEADERTOKEN</p></header>
<main><article>
<h1>Installing the widget</h1>
<p>The widget is a small device that measures the quality of retrieval in a fairly
robust way across many different corpora and languages.</p>
<h2>Requirements</h2>
<p>You need Python 3.11 and a working compiler toolchain to build the native extension
modules that ship with the widget package.</p>
<h3>Optional extras</h3>
<p>Extras include plotting support and a faster tokenizer, both installed through the
usual package manager command line.</p>
<h2>Usage</h2>
<p>Run the command with a folder argument and it prints a table of scores for each
file it finds in that folder.</p>
</article></main>
<footer><p>Copyright FOOTERTOKEN 2024</p></footer>
<script>trackVisit("SCRIPTTOKEN2")</script>
</body></html>
"""


def test_html_main_text_with_heading_sections(tmp_path):
    path = tmp_path / "manual.html"
    path.write_text(HTML, encoding="utf-8")
    doc = load_one(path)
    assert doc.kind == "html"
    assert doc.title == "Widget & Co manual"
    for token in ["SCRIPTTOKEN", "STYLETOKEN", "NAVTOKEN", "HEADERTOKEN", "FOOTERTOKEN"]:
        assert token not in doc.text, token
    assert "fairly robust way" in " ".join(doc.text.split())
    assert [s.location.heading for s in doc.sections] == [
        ("Installing the widget",),
        ("Installing the widget", "Requirements"),
        ("Installing the widget", "Requirements", "Optional extras"),
        ("Installing the widget", "Usage"),
    ]
    assert "prints a table" in section_texts(doc)[3]


def test_tiny_html_page_and_declared_charset(tmp_path):
    path = tmp_path / "tiny.htm"
    path.write_bytes(
        b'<html><head><meta charset="iso-8859-1"><title>Caf\xe9</title></head>'
        b"<body><nav>MENU</nav><p>Cr\xe8me br\xfbl\xe9e.</p><footer>FOOT</footer></body></html>"
    )
    doc = load_one(path)
    assert doc.title == "Café"
    assert doc.text.strip() == "Crème brûlée."


def test_html_blocks_drop_boilerplate_and_keep_heading_levels():
    blocks = html_blocks(HTML)
    text = "\n".join(text for _, text in blocks)
    for token in ["SCRIPTTOKEN", "STYLETOKEN", "NAVTOKEN", "HEADERTOKEN", "FOOTERTOKEN"]:
        assert token not in text, token
    assert (1, "Installing the widget") in blocks
    assert (2, "Requirements") in blocks


def test_html_without_main_text(tmp_path):
    path = tmp_path / "nav-only.html"
    path.write_text("<html><body><nav>Home</nav><script>x()</script></body></html>")
    assert load_error(path) == "no main text found in the HTML"


# --- PDF ------------------------------------------------------------------------------


def test_multi_page_pdf_sections_are_pages(tmp_path):
    path = text_pdf(
        tmp_path / "report.pdf",
        ["Alpha page one text.", "", "Gamma page three text.", "Delta page four text."],
        title="Quarterly Report",
    )
    doc = load_one(path)
    assert doc.kind == "pdf"
    assert doc.title == "Quarterly Report"
    assert doc.metadata["pages"] == 4
    assert [s.location.page for s in doc.sections] == [1, 3, 4]  # blank page 2 skipped
    assert section_texts(doc) == [
        "Alpha page one text.",
        "Gamma page three text.",
        "Delta page four text.",
    ]
    assert doc.text == "Alpha page one text.\n\nGamma page three text.\n\nDelta page four text."
    assert doc.line_numbers is False


def test_pdf_without_metadata_title_uses_stem(tmp_path):
    doc = load_one(text_pdf(tmp_path / "untitled-scan.pdf", ["Some words."]))
    assert doc.title == "untitled-scan"


def test_encrypted_pdf(tmp_path):
    locked = encrypted_pdf(tmp_path / "locked.pdf", "Top secret.", user_password="pw")
    assert load_error(locked) == "encrypted PDF"
    # encrypted for permissions only: opens with the empty password
    open_pdf = encrypted_pdf(tmp_path / "restricted.pdf", "Readable words.", user_password=None)
    doc = load_one(open_pdf)
    assert doc.text == "Readable words."
    assert doc.metadata["encrypted"] is True


def test_corrupt_pdfs(tmp_path):
    good = text_pdf(tmp_path / "good.pdf", ["Some text here.", "More text."]).read_bytes()
    truncated = tmp_path / "truncated.pdf"
    truncated.write_bytes(good[: len(good) // 2])
    assert load_error(truncated).startswith("corrupt PDF: ")
    garbage = tmp_path / "garbage.pdf"
    garbage.write_bytes(b"this is not a pdf at all\n" * 20)
    assert load_error(garbage) == "corrupt PDF: no PDF header"
    header_only = tmp_path / "header-only.pdf"
    header_only.write_bytes(b"%PDF-1.7\n" + os.urandom(300))
    assert load_error(header_only).startswith("corrupt PDF: ")


def test_pdf_without_text(tmp_path):
    path = image_only_pdf(tmp_path / "scan.pdf")
    assert load_error(path) == (
        "no extractable text (scanned PDF?; OCR is off: rag ingest --ocr reads it)"
    )


# --- code -----------------------------------------------------------------------------


def test_code_file(tmp_path):
    (tmp_path / "pkg").mkdir()
    path = tmp_path / "pkg" / "__init__.py"
    path.write_text("# comment\ndef f():\n    return 1\n", encoding="utf-8")
    doc = load_one(path, tmp_path)
    assert doc.kind == "code"
    assert doc.doc_id == "pkg/__init__.py"
    assert doc.title == "__init__.py"
    assert doc.metadata["language"] == "python"
    assert doc.line_numbers is True
    assert len(doc.sections) == 1 and doc.sections[0].location.heading == ()

    makefile = tmp_path / "Makefile"
    makefile.write_text("all:\n\techo hi\n", encoding="utf-8")
    assert load_one(makefile).metadata["language"] == "make"


# --- JSONL ----------------------------------------------------------------------------


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_jsonl_beir_and_alternative_layouts(tmp_path):
    (tmp_path / "beir").mkdir()
    path = write_jsonl(
        tmp_path / "beir" / "corpus.jsonl",
        [
            json.dumps({"_id": "d1", "title": "First", "text": "Body one."}),
            "",
            json.dumps({"id": 2, "contents": "Body two."}),
            "   ",
            json.dumps({"doc_id": "d3", "title": None, "body": "Body three."}),
            json.dumps({"_id": "d4", "title": "Empty body", "text": ""}),
        ],
    )
    docs = load_file(path, tmp_path)
    assert [d.doc_id for d in docs] == ["d1", "2", "d3", "d4"]
    assert {d.source for d in docs} == {"beir/corpus.jsonl"}
    assert {d.kind for d in docs} == {"jsonl"}
    assert [d.title for d in docs] == ["First", "", "", "Empty body"]
    # a title-only record is its title, so it can be found (issue 21)
    assert [d.text for d in docs] == ["Body one.", "Body two.", "Body three.", "Empty body"]
    assert docs[0].sections[0].start == 0 and docs[0].sections[0].end == len("Body one.")
    assert docs[3].sections[0].end == len("Empty body")
    assert [d.metadata["line"] for d in docs] == [1, 3, 5, 6]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"_id": "x", "text": "unterminated', "line 2: invalid JSON"),
        ('["a", "list"]', "line 2: expected a JSON object, got a list"),
        ('{"title": "no id", "text": "t"}', "line 2: no id field"),
        ('{"_id": "x"}', "line 2: no text field"),
        ('{"_id": "a", "text": "again"}', "line 2: duplicate id 'a' (first on line 1)"),
        ('{"_id": "y", "text": 5}', "line 2: text must be a string"),
    ],
)
def test_jsonl_bad_line_names_the_line(tmp_path, line, reason):
    path = write_jsonl(tmp_path / "c.jsonl", ['{"_id": "a", "text": "fine"}', line])
    assert load_error(path).startswith(reason)


def test_jsonl_error_on_a_late_line_is_not_a_partial_corpus(tmp_path):
    lines = [json.dumps({"_id": str(i), "text": f"doc {i}"}) for i in range(16)]
    path = write_jsonl(tmp_path / "corpus.jsonl", [*lines, "{not json"])
    assert load_error(path).startswith("line 17: invalid JSON")


def test_jsonl_invalid_utf8_and_binary(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"_id": "a", "text": "ok"}\n{"_id": "b", "text": "caf\xe9"}\n')
    assert load_error(path) == "line 2: not valid UTF-8"
    binary = tmp_path / "b.jsonl"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    assert load_error(binary) == "binary data, not text"


@pytest.mark.skipif(
    not (SHARED_DATA / "scifact/beir/corpus.jsonl").exists(), reason="shared data not present"
)
def test_real_beir_corpora():
    root = SHARED_DATA / "scifact" / "beir"
    docs = load_file(root / "corpus.jsonl", root)
    assert len(docs) == 5183
    assert len({d.doc_id for d in docs}) == 5183
    assert all(d.text and d.title for d in docs)
    assert docs[0].doc_id == "4983" and docs[0].source == "corpus.jsonl"

    cran = load_file(SHARED_DATA / "cranfield/beir/corpus.jsonl", SHARED_DATA)
    assert len(cran) == 1400  # two records have empty abstracts and are kept
    empty = [d.doc_id for d in cran if not d.text]
    assert empty == ["471", "995"]


def test_load_errors_are_rag_errors(tmp_path):
    path = tmp_path / "x.txt"
    path.write_bytes(b"")
    with pytest.raises(RagError):
        load_file(path, tmp_path)


def test_markdown_offsets_survive_unicode_line_separators(tmp_path):
    text = "# One\n\nform\x0cfeed and\u2028separator\n\n## Two\n\nend\n"
    path = tmp_path / "odd.md"
    path.write_text(text, encoding="utf-8")
    doc = load_one(path)
    assert [s.location.heading for s in doc.sections] == [("One",), ("One", "Two")]
    assert section_texts(doc)[1] == "## Two\n\nend\n"
