"""Issue 25, parsing: small files that inflate, claim or produce far more than they are.
Each is skipped with one line naming the limit, the rest of the ingest goes on, and the
`rag ingest` process stays under the time and memory ceilings (bounded.py)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from bombs import MB, lie_about_size, pdf_claiming_pages, pdf_stream_bomb, replace_member
from bounded import run_bounded
from formats_corpus import make_docx, make_epub, make_odt, make_xlsx
from helpers_ingest import clean_env, subprocess_env

W = b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
WORDS = b"<w:p><w:r><w:t>" + b"keeper " * 140 + b"</w:t></w:r></w:p>"
XHTML = b'<html xmlns="http://www.w3.org/1999/xhtml"><body>'
ODT_TEXT = b"urn:oasis:names:tc:opendocument:xmlns:text:1.0"


def docx_bomb(folder: Path) -> Path:  # 40 MiB of document.xml
    make_docx(folder / "seed.docx")
    return replace_member(folder / "seed.docx", folder / "bomb.docx", "word/document.xml",
                          W, WORDS, b"</w:body></w:document>", 40 * MB)  # fmt: skip


def docx_lying(folder: Path) -> Path:  # declares 1,000 bytes, inflates to 20 MiB
    make_docx(folder / "seed.docx")
    path = replace_member(folder / "seed.docx", folder / "lying.docx", "word/document.xml",
                          W, WORDS, b"</w:body></w:document>", 20 * MB)  # fmt: skip
    lie_about_size(path, "word/document.xml", 1000)
    return path


def docx_elements(folder: Path) -> Path:  # 3 million empty paragraphs in 12 MiB
    make_docx(folder / "seed.docx")
    return replace_member(folder / "seed.docx", folder / "many.docx", "word/document.xml",
                          W, b"<w:p/>", b"</w:body></w:document>", 18 * MB)  # fmt: skip


def epub_bomb(folder: Path) -> Path:  # a 40 MiB chapter
    make_epub(folder / "seed.epub")
    return replace_member(folder / "seed.epub", folder / "bomb.epub", "EPUB/winter.xhtml",
                          XHTML, b"<p>" + b"storm " * 160 + b"</p>", b"</body></html>",
                          40 * MB)  # fmt: skip


def epub_characters(folder: Path) -> Path:  # two chapters of 20 MiB of text
    make_epub(folder / "seed.epub")
    replace_member(folder / "seed.epub", folder / "half.epub", "EPUB/winter.xhtml", XHTML,
                   b"<p>" + b"storm " * 1000 + b"</p>", b"</body></html>", 20 * MB)  # fmt: skip
    return replace_member(folder / "half.epub", folder / "long.epub", "EPUB/spring.xhtml",
                          XHTML, b"<p>" + b"gulls " * 1000 + b"</p>", b"</body></html>",
                          20 * MB)  # fmt: skip


def odt_spaces(folder: Path) -> Path:  # text:s asking for a billion spaces, 10,000 times
    make_odt(folder / "seed.odt")
    head = (b'<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:'
            b'office:1.0" xmlns:text="' + ODT_TEXT + b'"><office:body><office:text>'
            b"<text:p>Spaces follow.</text:p>")  # fmt: skip
    spaces = b'<text:p>x<text:s text:c="1000000000"/>y</text:p>' * 10_000
    tail = b"</office:text></office:body></office:document-content>"
    return replace_member(folder / "seed.odt", folder / "spaces.odt", "content.xml", head,
                          spaces, tail, 0)  # fmt: skip


def xlsx_edge(folder: Path) -> Path:  # a sheet reaching row 1,048,576, column XFD
    make_xlsx(folder / "seed.xlsx")
    head = (b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            b'<dimension ref="A1:XFD1048576"/><sheetData>'
            b'<row r="1"><c r="A1" t="inlineStr"><is><t>edge</t></is></c></row>')  # fmt: skip
    tail = (b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>far</t></is></c></row>'
            b"</sheetData></worksheet>")  # fmt: skip
    return replace_member(folder / "seed.xlsx", folder / "edge.xlsx",
                          "xl/worksheets/sheet1.xml", head, b"", tail, 0)  # fmt: skip


def html_large(folder: Path) -> Path:
    path = folder / "large.html"
    path.write_bytes(b"<html><body>" + b"<p>lighthouse keeper notes</p>" * (20 * MB // 30))
    return path


def html_elements(folder: Path) -> Path:  # 1.2 million elements in 6 MB
    path = folder / "dense.html"
    path.write_bytes(b"<html><body>" + b"<p>a" * 1_200_000)
    return path


def pdf_pages(folder: Path) -> Path:
    return pdf_claiming_pages(folder / "million.pdf", 1_000_000)


def pdf_stream(folder: Path) -> Path:
    return pdf_stream_bomb(folder / "stream.pdf", 400 * MB)


CASES = {
    "docx_bomb": (docx_bomb, "word/document.xml inflates past 32 MiB (the limit per member)"),
    "docx_lying": (docx_lying, "bytes, not the 1000 it declares)"),
    "docx_elements": (docx_elements, "has over 2,000,000 elements (the limit per member)"),
    "epub_bomb": (epub_bomb, "EPUB/winter.xhtml inflates past 32 MiB (the limit per member)"),
    "epub_characters": (epub_characters, "over 33,554,432 characters of text (the limit per"),
    "xlsx_edge": (xlsx_edge, "over 5,000,000 cells (the limit per spreadsheet)"),
    "html_large": (html_large, "the limit for this format is 16 MiB"),
    "html_elements": (html_elements, "over 1,000,000 elements (the limit per HTML page)"),
    "pdf_pages": (pdf_pages, "over 10,000 pages (the limit per PDF; it claims 1,000,000)"),
    "pdf_stream": (pdf_stream, "over 512 MiB of memory (the limit per PDF)"),
}


@pytest.fixture
def project(tmp_path, monkeypatch, onnx_export_dir):
    clean_env(monkeypatch, tmp_path)
    root = tmp_path / "project"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "notes.txt").write_text("The tesla coil hums at night.\n")
    return root, subprocess_env(tmp_path)


@pytest.mark.slow  # a `rag ingest` process each
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bomb_is_skipped_with_its_limit_and_the_ingest_goes_on(project, tmp_path, case):
    root, env = project
    make, reason = CASES[case]
    workshop = tmp_path / "workshop"
    workshop.mkdir()
    bomb = make(workshop)
    assert bomb.suffix == ".html" or bomb.stat().st_size < 2 * MB  # small on disk
    bomb.rename(root / "docs" / bomb.name)
    done = run_bounded(["ingest", "docs"], root, env)
    assert done.returncode == 0, done.stderr
    [line] = done.lines()
    assert line.startswith(f"rag: skipped docs/{bomb.name}: ") and reason in line, line
    assert done.stdout.startswith("1 added"), done.stdout


@pytest.mark.slow
def test_spaces_asked_a_billion_times_are_a_few_each(project, tmp_path):
    root, env = project
    bomb = odt_spaces(tmp_path)
    bomb.rename(root / "docs" / bomb.name)
    done = run_bounded(["ingest", "docs"], root, env)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.startswith("2 added"), done.stdout
    found = run_bounded(["get", "docs/spaces.odt", "--json"], root, env)
    assert found.returncode == 0 and len(found.stdout) < 200_000


def test_the_limits_stop_reading_early(tmp_path):
    """In process: a 40 MiB member is refused after inflating at most its limit."""
    import time

    from ragcli.errors import LoadError
    from ragcli.load import load_file

    bomb = docx_bomb(tmp_path)
    started = time.monotonic()
    with pytest.raises(LoadError, match="inflates past 32 MiB"):
        load_file(bomb, tmp_path)
    assert time.monotonic() - started < 5
    with zipfile.ZipFile(bomb) as archive:
        assert archive.getinfo("word/document.xml").file_size > 39 * MB
