"""Real office, ebook, notebook and mail files, written by their own libraries."""

from __future__ import annotations

import csv
import zipfile
from email.message import EmailMessage
from pathlib import Path


def make_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.core_properties.title = "Lighthouse manual"
    document.add_paragraph("Read this before the first night shift.")
    document.add_heading("Lamp", level=1)
    document.add_paragraph("The lamp burns paraffin and must be trimmed at dusk.")
    document.add_heading("Wick care", level=2)
    document.add_paragraph("Trim the wick square with the brass scissors.")
    table = document.add_table(rows=2, cols=2)
    cells = table.rows[0].cells + table.rows[1].cells
    for cell, value in zip(cells, ["Part", "Stock", "Wick", "12"], strict=True):
        cell.text = value
    document.add_heading("Fog signal", level=1)
    document.add_paragraph("Sound the horn every thirty seconds in fog.")
    document.save(path)
    return path


def make_pptx(path: Path) -> Path:
    import pptx
    from pptx.util import Inches

    deck = pptx.Presentation()
    title_slide = deck.slides.add_slide(deck.slide_layouts[0])
    title_slide.shapes.title.text = "Quarterly keeper report"
    title_slide.placeholders[1].text = "Northern station"
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Oil consumption"
    slide.placeholders[1].text = "Consumption fell by a third after the new burner."
    slide.notes_slide.notes_text_frame.text = "Mention the winter storms."
    shape = slide.shapes.add_table(2, 2, Inches(1), Inches(5), Inches(4), Inches(1))
    values = {(0, 0): "Month", (0, 1): "Litres", (1, 0): "March", (1, 1): "140"}
    for (r, c), value in values.items():
        shape.table.cell(r, c).text = value
    deck.save(path)
    return path


def make_xlsx(path: Path) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Stores"
    sheet.append(["Item", "Quantity", "Unit price"])
    for i in range(40):
        sheet.append([f"spare wick number {i}", i + 1, 2.5])
    sheet.append([])
    sheet.append(["paraffin barrel", 3, 41.0])  # row 43, after an empty row
    other = book.create_sheet("Crew")
    other.append(["Name", "Role"])
    other.append(["Ada Lovelace", "keeper"])
    book.save(path)
    return path


def make_csv(path: Path, encoding: str = "utf-8", delimiter: str = ",") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(["Station", "Keeper", "Notes"])
        writer.writerow(["Fastnet", "José Müller", "Relieved in\nDecember"])
        writer.writerow(["Skerryvore", "Anna Brun", "Café at the pier"])
    return path


def make_odt(path: Path) -> Path:
    from odf.opendocument import OpenDocumentText
    from odf.text import H, P

    document = OpenDocumentText()
    document.text.addElement(H(outlinelevel=1, text="Signals"))
    document.text.addElement(P(text="Flags are hoisted at the yardarm."))
    document.text.addElement(H(outlinelevel=2, text="Night"))
    document.text.addElement(P(text="At night the red lantern replaces the flags."))
    document.save(str(path))
    return path


def make_ods(path: Path) -> Path:
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    document = OpenDocumentSpreadsheet()
    table = Table(name="Tides")
    for values in (["Day", "High water"], ["Monday", "06:40"], ["Tuesday", "07:25"]):
        row = TableRow()
        for value in values:
            cell = TableCell()
            cell.addElement(P(text=value))
            row.addElement(cell)
        table.addElement(row)
    document.spreadsheet.addElement(table)
    document.save(str(path))
    return path


def make_odp(path: Path) -> Path:
    from odf.draw import Frame, Page, TextBox
    from odf.namespaces import PRESENTATIONNS
    from odf.opendocument import OpenDocumentPresentation
    from odf.style import MasterPage, PageLayout
    from odf.text import P

    document = OpenDocumentPresentation()
    layout = PageLayout(name="layout")
    document.automaticstyles.addElement(layout)
    master = MasterPage(name="master", pagelayoutname=layout)
    document.masterstyles.addElement(master)
    for title, body in (
        ("Welcome", "Safety first."),
        ("Rescue drill", "Launch the boat in ten minutes."),
    ):
        page = Page(masterpagename=master)
        for cls, text in (("title", title), ("outline", body)):
            frame = Frame(width="20cm", height="3cm", x="1cm", y="1cm")
            frame.setAttrNS(PRESENTATIONNS, "class", cls)
            box = TextBox()
            box.addElement(P(text=text))
            frame.addElement(box)
            page.addElement(frame)
        document.presentation.addElement(page)
    document.save(str(path))
    return path


def make_epub(path: Path) -> Path:
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("keeper-1")
    book.set_title("The Keeper's Year")
    book.set_language("en")
    chapters = []
    for name, body in (
        ("spring", "<h1>Spring</h1><p>Gulls return to the rock in April.</p>"
         "<h2>Painting</h2><p>The tower is whitewashed every spring.</p>"),
        ("winter", "<h1>Winter</h1><p>Storms keep the relief boat away for weeks.</p>"),
    ):  # fmt: skip
        chapter = epub.EpubHtml(title=name.title(), file_name=f"{name}.xhtml", lang="en")
        chapter.content = body
        book.add_item(chapter)
        chapters.append(chapter)
    # Reading order differs from the order the items were added in.
    book.spine = ["nav", chapters[1], chapters[0]]
    book.toc = chapters
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    epub.write_epub(str(path), book)
    return path


def make_notebook(path: Path) -> Path:
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    notebook = new_notebook(
        cells=[
            new_markdown_cell("# Tide analysis\nWe fit the tide table."),
            new_code_cell(
                "levels = [1.2, 3.4]\nprint(max(levels))",
                outputs=[new_output("stream", name="stdout", text="3.4\n")],
            ),
            new_markdown_cell("## Spring tides\nThey peak after the full moon."),
            new_code_cell("big = 'x' * 5000", outputs=[new_output("stream", text="x" * 5000)]),
        ],
        metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "P"}},
    )
    nbformat.write(notebook, str(path))
    return path


def make_email(path: Path, html_only: bool = False) -> Path:
    message = EmailMessage()
    message["From"] = "Ada Keeper <ada@lighthouse.example>"
    message["To"] = "harbour@example.org"
    message["Date"] = "Tue, 02 Jan 2024 10:00:00 +0000"
    message["Subject"] = "Relief boat delayed"
    if html_only:
        message.set_content(
            "<html><body><h1>Delay</h1><p>The <b>relief boat</b> waits for calm seas.</p>"
            "</body></html>",
            subtype="html",
        )
    else:
        message.set_content("The relief boat waits for calm seas.\nExpect it on Friday.\n")
        message.add_attachment(
            b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="rota.pdf"
        )
    path.write_bytes(message.as_bytes())
    return path


def make_corrupt_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "not an office document")
    return path


WRITERS = {
    "manual.docx": make_docx,
    "report.pptx": make_pptx,
    "stores.xlsx": make_xlsx,
    "stations.csv": make_csv,
    "signals.odt": make_odt,
    "tides.ods": make_ods,
    "drill.odp": make_odp,
    "year.epub": make_epub,
    "tides.ipynb": make_notebook,
    "delay.eml": make_email,
}


def make_corpus(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return {name: write(folder / name) for name, write in WRITERS.items()}
