"""Office, ebook, notebook, spreadsheet and mail files written by their own libraries:
the text each loader keeps and the location of every section."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from formats_corpus import (
    make_corrupt_zip,
    make_csv,
    make_docx,
    make_email,
    make_epub,
    make_notebook,
    make_odp,
    make_ods,
    make_odt,
    make_pptx,
    make_xlsx,
)

from ragcli.errors import LoadError
from ragcli.load import LOADERS, kind_of, load_file
from ragcli.types import Document, Location


def _one(path: Path) -> Document:
    docs = load_file(path, path.parent)
    assert len(docs) == 1
    return docs[0]


def _sections(doc: Document) -> list[tuple[Location, str]]:
    return [(s.location, doc.text[s.start : s.end]) for s in doc.sections]


def _where(doc: Document, needle: str) -> Location:
    found = [location for location, text in _sections(doc) if needle in text]
    assert len(found) == 1, (needle, _sections(doc))
    return found[0]


def test_docx_paragraphs_tables_and_heading_paths(tmp_path):
    doc = _one(make_docx(tmp_path / "manual.docx"))
    assert (doc.kind, doc.title, doc.doc_id) == ("docx", "Lighthouse manual", "manual.docx")
    assert _where(doc, "first night shift") == Location()
    assert _where(doc, "burns paraffin") == Location(heading=("Lamp",))
    assert _where(doc, "brass scissors") == Location(heading=("Lamp", "Wick care"))
    assert "Part: Wick | Stock: 12" in doc.text  # the table row names its columns
    assert _where(doc, "thirty seconds") == Location(heading=("Fog signal",))
    assert doc.text.index("Lamp") < doc.text.index("Wick care") < doc.text.index("Fog signal")


def test_pptx_one_section_per_slide_with_its_title_table_and_notes(tmp_path):
    doc = _one(make_pptx(tmp_path / "report.pptx"))
    assert (doc.kind, doc.title) == ("pptx", "Quarterly keeper report")
    sections = _sections(doc)
    assert [location for location, _ in sections] == [
        Location(slide=1, heading=("Quarterly keeper report",)),
        Location(slide=2, heading=("Oil consumption",)),
    ]
    second = sections[1][1]
    assert second.startswith("Oil consumption\n\nConsumption fell by a third")
    assert "Month: March | Litres: 140" in second
    assert second.endswith("Notes: Mention the winter storms.")
    assert "Northern station" in sections[0][1]


def test_xlsx_rows_name_their_columns_and_sections_carry_real_row_numbers(tmp_path):
    doc = _one(make_xlsx(tmp_path / "stores.xlsx"))
    assert doc.kind == "xlsx" and doc.metadata["sheets"] == ["Stores", "Crew"]
    assert doc.metadata["rows"] == 41 + 1  # data rows of both sheets
    sections = _sections(doc)
    first_location, first_text = sections[0]
    assert first_text.startswith("Item | Quantity | Unit price\n")
    assert "Item: spare wick number 0 | Quantity: 1 | Unit price: 2.5" in first_text
    stores = [location for location, _ in sections if location.sheet == "Stores"]
    assert stores[0].row_start == 1 and len(stores) > 2  # 41 rows do not fit one chunk
    for before, after in zip(stores, stores[1:], strict=False):
        assert before.row_end < after.row_start  # contiguous, non-overlapping ranges
    # spare wick number 7 sits on row 9 (header on row 1), inside its section's range
    located = _where(doc, "spare wick number 7 |")
    assert located.row_start <= 9 <= located.row_end
    # the row after an empty one keeps the number the spreadsheet shows
    assert _where(doc, "paraffin barrel") == Location(sheet="Stores", row_start=43, row_end=43)
    assert _where(doc, "Ada Lovelace") == Location(sheet="Crew", row_start=1, row_end=2)
    assert "Unit price: 41 " not in doc.text and "Unit price: 41" in doc.text  # 41.0 -> 41


def test_csv_in_a_legacy_encoding_with_semicolons_and_a_quoted_newline(tmp_path):
    path = make_csv(tmp_path / "stations.csv", encoding="cp1252", delimiter=";")
    doc = _one(path)
    assert doc.kind == "csv" and doc.metadata["delimiter"] == ";"
    assert "Station: Fastnet | Keeper: José Müller | Notes: Relieved in December" in doc.text
    assert "Notes: Café at the pier" in doc.text
    assert _where(doc, "Skerryvore") == Location(row_start=1, row_end=3)


def test_tsv_is_read_with_tabs(tmp_path):
    path = tmp_path / "crew.tsv"
    path.write_text("name\trole\nAda, the elder\tkeeper\n", encoding="utf-8")
    doc = _one(path)
    assert "name: Ada, the elder | role: keeper" in doc.text


def test_csv_without_a_header_row_keeps_plain_rows(tmp_path):
    path = tmp_path / "readings.csv"
    path.write_text("1,2.5,north\n2,3.5,south\n", encoding="utf-8")
    doc = _one(path)
    assert doc.text == "1 | 2.5 | north\n2 | 3.5 | south"
    assert doc.metadata["rows"] == 2


def test_odt_headings_by_outline_level(tmp_path):
    doc = _one(make_odt(tmp_path / "signals.odt"))
    assert (doc.kind, doc.title) == ("odt", "Signals")
    assert _where(doc, "yardarm") == Location(heading=("Signals",))
    assert _where(doc, "red lantern") == Location(heading=("Signals", "Night"))


def test_ods_sheet_and_rows(tmp_path):
    doc = _one(make_ods(tmp_path / "tides.ods"))
    assert doc.kind == "ods" and doc.metadata["sheets"] == ["Tides"]
    assert "Day: Tuesday | High water: 07:25" in doc.text
    assert _where(doc, "Tuesday") == Location(sheet="Tides", row_start=1, row_end=3)


def test_odp_slides_with_their_titles(tmp_path):
    doc = _one(make_odp(tmp_path / "drill.odp"))
    assert doc.kind == "odp"
    assert _where(doc, "Safety first") == Location(slide=1, heading=("Welcome",))
    assert _where(doc, "ten minutes") == Location(slide=2, heading=("Rescue drill",))


def test_epub_chapters_in_spine_order_with_headings(tmp_path):
    doc = _one(make_epub(tmp_path / "year.epub"))
    assert (doc.kind, doc.title) == ("epub", "The Keeper's Year")
    assert doc.metadata["chapters"] == 2  # the navigation document is not a chapter
    assert doc.text.index("Storms keep") < doc.text.index("Gulls return")  # spine order
    assert _where(doc, "Storms keep") == Location(heading=("Winter",))
    assert _where(doc, "whitewashed") == Location(heading=("Spring", "Painting"))
    assert _where(doc, "Gulls return") == Location(heading=("Spring",))


def test_notebook_cells_numbered_with_short_outputs(tmp_path):
    doc = _one(make_notebook(tmp_path / "tides.ipynb"))
    assert (doc.kind, doc.title, doc.metadata["language"]) == (
        "notebook",
        "Tide analysis",
        "python",
    )
    assert _where(doc, "fit the tide table") == Location(cell=1, heading=("Tide analysis",))
    assert _where(doc, "print(max(levels))") == Location(cell=2, heading=("Tide analysis",))
    assert "print(max(levels))\n\nOutput:\n3.4" in doc.text
    assert _where(doc, "full moon") == Location(cell=3, heading=("Tide analysis", "Spring tides"))
    assert _where(doc, "big = ") == Location(cell=4, heading=("Tide analysis", "Spring tides"))
    assert "x" * 100 not in doc.text  # a long output is left out


def test_email_headers_body_and_attachments_listed_not_indexed(tmp_path):
    doc = _one(make_email(tmp_path / "delay.eml"))
    assert (doc.kind, doc.title) == ("email", "Relief boat delayed")
    sender = "from Ada Keeper <ada@lighthouse.example>, Tue, 02 Jan 2024 10:00:00 +0000"
    heading = ("Relief boat delayed", sender)
    assert {location for location, _ in _sections(doc)} == {Location(heading=heading)}
    assert doc.text.startswith("From: Ada Keeper <ada@lighthouse.example>\nTo: harbour@example.org")
    assert "Subject: Relief boat delayed\n\nThe relief boat waits for calm seas." in doc.text
    assert "rota.pdf (application/pdf, 13 bytes)" in doc.text
    assert "%PDF" not in doc.text
    assert doc.metadata["from"] == "Ada Keeper <ada@lighthouse.example>"
    assert doc.metadata["attachments"] == ["rota.pdf (application/pdf, 13 bytes)"]


def test_email_with_only_an_html_body_is_read_as_text(tmp_path):
    doc = _one(make_email(tmp_path / "delay.eml", html_only=True))
    assert "The relief boat waits for calm seas." in doc.text
    assert "<b>" not in doc.text and "<p>" not in doc.text


def test_every_format_has_its_kind():
    kinds = {ext: kind_of(Path(f"x{ext}")) for ext in (".docx", ".pptx", ".xlsx", ".csv", ".tsv")}
    kinds |= {ext: kind_of(Path(f"x{ext}")) for ext in (".odt", ".ods", ".odp", ".epub")}
    kinds |= {ext: kind_of(Path(f"x{ext}")) for ext in (".ipynb", ".eml", ".DOCX")}
    assert kinds == {
        ".docx": "docx", ".pptx": "pptx", ".xlsx": "xlsx", ".csv": "csv", ".tsv": "csv",
        ".odt": "odt", ".ods": "ods", ".odp": "odp", ".epub": "epub", ".ipynb": "notebook",
        ".eml": "email", ".DOCX": "docx",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("broken.docx", "not a valid DOCX file"),
        ("broken.pptx", "not a valid PPTX file"),
        ("broken.xlsx", "not a valid XLSX file"),
        ("broken.odt", "not a valid ODT file (content.xml is missing)"),
        ("broken.epub", "not a valid EPUB file (META-INF/container.xml is missing)"),
    ],
)
def test_a_zip_that_is_not_the_format_is_one_clear_reason(tmp_path, name, reason):
    path = make_corrupt_zip(tmp_path / name)
    with pytest.raises(LoadError) as caught:
        load_file(path, tmp_path)
    assert str(caught.value).startswith(reason)
    assert "\n" not in str(caught.value)


def test_a_text_file_named_docx_is_not_a_zip(tmp_path):
    path = tmp_path / "notes.docx"
    path.write_text("just text", encoding="utf-8")
    with pytest.raises(LoadError, match=r"^not a valid DOCX file \(not a zip archive"):
        load_file(path, tmp_path)


def test_broken_notebook_and_mail_give_their_reason(tmp_path):
    notebook = tmp_path / "bad.ipynb"
    notebook.write_text('{"cells": [\n  {"cell_type": ', encoding="utf-8")
    with pytest.raises(LoadError, match=r"^line 2: invalid JSON"):
        load_file(notebook, tmp_path)
    mail = tmp_path / "bad.eml"
    mail.write_text("just a line of text\n", encoding="utf-8")
    with pytest.raises(LoadError, match=r"^not an e-mail message"):
        load_file(mail, tmp_path)


def test_a_missing_format_library_names_the_package_to_install(tmp_path, monkeypatch):
    path = make_docx(tmp_path / "manual.docx")
    monkeypatch.setitem(sys.modules, "docx", None)  # what an install without it looks like
    with pytest.raises(LoadError) as caught:
        LOADERS[".docx"].load(path, tmp_path)  # the reader itself, in this process
    assert str(caught.value) == "install python-docx to index .docx files (pip install python-docx)"


def test_a_file_without_an_extension_is_text_by_its_content(tmp_path):
    readme = tmp_path / "README"
    readme.write_bytes("Le phare de l'île est allumé à la tombée de la nuit.\n".encode("cp1252"))
    doc = _one(readme)
    assert doc.kind == "text" and "l'île est allumé" in doc.text
    program = tmp_path / "archive"
    make_corrupt_zip(program)  # a zip without an extension is binary, not text
    with pytest.raises(LoadError, match="binary data, not text"):
        load_file(program, tmp_path)


def test_docx_custom_style_based_on_a_heading_is_a_heading(tmp_path):
    import docx
    from docx.enum.style import WD_STYLE_TYPE

    document = docx.Document()
    custom = document.styles.add_style("Chapter Heading", WD_STYLE_TYPE.PARAGRAPH)
    custom.base_style = document.styles["Heading 2"]
    document.add_paragraph("Preface text before any heading.")
    document.add_paragraph("Storm log", style="Chapter Heading")
    document.add_paragraph("Force nine gale from the west.")
    document.save(tmp_path / "log.docx")
    doc = _one(tmp_path / "log.docx")
    assert _where(doc, "Force nine") == Location(heading=("Storm log",))
    assert _where(doc, "Preface") == Location()
    assert doc.title == "Storm log"


def test_an_archive_that_inflates_too_far_is_refused(tmp_path, monkeypatch):
    import ragcli.load.zipped as zips

    path = make_docx(tmp_path / "manual.docx")
    monkeypatch.setattr(zips, "MAX_INFLATED_BYTES", 10_000)  # the real docx inflates past it
    with pytest.raises(LoadError, match=r"^inflates past 10,000 bytes \(the limit per file\)$"):
        LOADERS[".docx"].load(path, tmp_path)  # the reader itself, in this process


def test_kinds_list_every_format():
    from ragcli.load import KINDS

    assert {"docx", "pptx", "xlsx", "csv", "odt", "ods", "odp", "epub", "notebook"} <= KINDS
    assert {"email", "text", "markdown", "pdf", "html", "code", "jsonl"} <= KINDS
