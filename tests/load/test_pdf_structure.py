"""PDF headings from font sizes when there is no outline, and the title beside them."""

from __future__ import annotations

from pdfs import paper_pdf, text_pdf
from test_pdf_text import PAGES

from ragcli.load import load_file


def test_headings_from_font_sizes_without_an_outline(tmp_path):
    path = paper_pdf(tmp_path / "raft.pdf", "Consensus for Tests", "paper.dvi", PAGES, outline=False)
    [doc] = load_file(path, tmp_path)
    assert {s.location.page: s.location.heading for s in doc.sections} == {
        1: ("1 Introduction",),
        2: ("2 Design",),
        3: ("2 Design", "2.1 Log compaction"),
    }
    page_three = next(s for s in doc.sections if s.location.page == 3)
    assert doc.text[page_three.start : page_three.end].startswith("2.1 Log compaction")
    # The first page's largest line is the title, not a heading.
    assert doc.title == "Consensus for Tests"
    assert all("Consensus for Tests" not in s.location.heading for s in doc.sections)


def test_text_in_one_size_has_no_headings(tmp_path):
    path = text_pdf(tmp_path / "memo.pdf", ["First page of plain text.", "Second page."])
    [doc] = load_file(path, tmp_path)
    assert [s.location.heading for s in doc.sections] == [(), ()]
