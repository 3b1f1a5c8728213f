"""PDF headings from font sizes when there is no outline, and the title beside them."""

from __future__ import annotations

from pdfs import paper_pdf, text_pdf
from test_pdf_text import PAGES

from ragcli.load import load_file


def test_headings_from_font_sizes_without_an_outline(tmp_path):
    path = paper_pdf(
        tmp_path / "raft.pdf", "Consensus for Tests", "paper.dvi", PAGES, outline=False
    )
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


def test_title_set_in_two_sizes_is_one_title(tmp_path):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title("")
    pdf.add_page()
    pdf.set_font("helvetica", size=20)
    pdf.cell(8, 12, "R ")
    pdf.set_font("helvetica", size=17)
    pdf.cell(20, 12, "FAQ", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", size=14)
    pdf.cell(0, 10, "Kurt Hornik and the R Core Team", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", size=10)
    pdf.multi_cell(0, 5, "Frequently asked questions about R, answered at length. " * 8)
    pdf.output(str(tmp_path / "faq.pdf"))
    [doc] = load_file(tmp_path / "faq.pdf", tmp_path)
    assert doc.title == "R FAQ"
