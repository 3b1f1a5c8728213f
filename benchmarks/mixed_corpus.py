"""A folder of PDFs and office files for ingest and parse benchmarks, each written by its
own library (fpdf2, python-docx, python-pptx, openpyxl, odfpy, ebooklib) from SciFact
abstracts, no two files with the same text.

    python benchmarks/mixed_corpus.py FOLDER [--pdfs 80] [--office 16] [--pages 5]

Writes ``--pdfs`` PDFs of ``--pages`` pages (two abstracts a page) and ``--office`` files
of each of DOCX, PPTX, XLSX, ODT and EPUB (eight abstracts each) into FOLDER.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator
from pathlib import Path

DATA = Path(os.environ.get("RAG_SHARED_DATA", "/work/shared/data"))
Docs = list[tuple[str, str]]


def abstracts() -> Iterator[tuple[str, str]]:
    with (DATA / "scifact" / "beir" / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if record["text"].strip():
                yield record["title"].strip(" ."), record["text"]


def latin1(text: str) -> str:
    """fpdf2's core fonts are Latin-1 only."""
    return text.encode("latin-1", "replace").decode("latin-1")


def write_pdf(path: Path, docs: Docs) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title(latin1(docs[0][0]))
    for i in range(0, len(docs), 2):
        pdf.add_page()
        for title, text in docs[i : i + 2]:
            pdf.set_font("helvetica", style="B", size=14)
            pdf.multi_cell(0, 8, latin1(title), new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("helvetica", size=10)
            pdf.multi_cell(0, 5, latin1(text), new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))


def write_docx(path: Path, docs: Docs) -> None:
    import docx

    document = docx.Document()
    for title, text in docs:
        document.add_heading(title, level=1)
        document.add_paragraph(text)
    document.save(path)


def write_pptx(path: Path, docs: Docs) -> None:
    import pptx

    deck = pptx.Presentation()
    for title, text in docs:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = text
    deck.save(path)


def write_xlsx(path: Path, docs: Docs) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["id", "title", "abstract"])
    for i, (title, text) in enumerate(docs):
        sheet.append([i, title, text])
    book.save(path)


def write_odt(path: Path, docs: Docs) -> None:
    from odf.opendocument import OpenDocumentText
    from odf.text import H, P

    document = OpenDocumentText()
    for title, text in docs:
        document.text.addElement(H(outlinelevel=1, text=title))
        document.text.addElement(P(text=text))
    document.save(str(path))


def write_epub(path: Path, docs: Docs) -> None:
    from html import escape

    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier(path.stem)
    book.set_title(docs[0][0])
    chapters = []
    for i, (title, text) in enumerate(docs):
        chapter = epub.EpubHtml(title=title, file_name=f"c{i}.xhtml")
        chapter.content = f"<h1>{escape(title)}</h1><p>{escape(text)}</p>"
        book.add_item(chapter)
        chapters.append(chapter)
    book.spine = chapters
    book.add_item(epub.EpubNcx())
    epub.write_epub(str(path), book)


OFFICE = {"docx": write_docx, "pptx": write_pptx, "xlsx": write_xlsx, "odt": write_odt,
          "epub": write_epub}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--pdfs", type=int, default=80)
    parser.add_argument("--office", type=int, default=16, help="files of each office format")
    parser.add_argument("--pages", type=int, default=5)
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    source = abstracts()

    def take(n: int) -> Docs:
        return [next(source) for _ in range(n)]

    for i in range(args.pdfs):
        write_pdf(args.folder / f"paper{i:03d}.pdf", take(2 * args.pages))
    for ext, write in OFFICE.items():
        for i in range(args.office):
            write(args.folder / f"{ext}{i:03d}.{ext}", take(8))
    print(f"{args.pdfs} PDFs and {args.office} files each of {', '.join(OFFICE)} in {args.folder}")


if __name__ == "__main__":
    main()
