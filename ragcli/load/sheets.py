"""Spreadsheets: .xlsx (openpyxl), .csv and .tsv (the csv module).

Rows become lines of text that name their columns when the first row is a header
(``Name: Ada | Year: 1843``), grouped into sections by row range: a chunk's location is
``sheet Budget, rows 2-14``, with row numbers as the spreadsheet shows them (the header
is row 1). Formulas give their last computed value, as saved by the spreadsheet.
"""

from __future__ import annotations

from pathlib import Path

from ragcli.errors import LoadError
from ragcli.load.builder import Builder, CellCount, add_table, cell_text
from ragcli.load.reading import decode_text, read_bytes, require
from ragcli.load.zipped import opened, opening
from ragcli.types import Document

XLSX_EXTENSIONS = (".xlsx", ".xlsm")
CSV_EXTENSIONS = (".csv", ".tsv", ".tab")

_SNIFF_CHARS = 64 * 1024


def _trimmed(values) -> list[str]:
    cells = [cell_text(value) for value in values]
    while cells and not cells[-1]:
        cells.pop()
    return cells


def _is_worksheet(name: str) -> bool:
    """Worksheets are read as a stream (openpyxl's read-only mode), cell by cell."""
    return name.startswith("xl/worksheets/")


def load_xlsx(path: Path, root: Path) -> list[Document]:
    openpyxl = require("openpyxl", "openpyxl", ".xlsx")
    with opened(path, "XLSX", streamed=_is_worksheet):
        pass
    book = opening(lambda: openpyxl.load_workbook(path, read_only=True, data_only=True), "XLSX")
    builder = Builder("xlsx", empty="no cell has a value")
    rows_kept, sheets, count = 0, [], CellCount()
    try:
        for sheet in book.worksheets:
            if not hasattr(sheet, "iter_rows"):  # a chart sheet
                continue
            sheets.append(sheet.title)
            rows = [
                (number, _trimmed(values))
                for number, values in enumerate(count.rows(sheet.iter_rows(values_only=True)), 1)
            ]
            rows_kept += add_table(builder, rows, sheet=sheet.title)
        title = (book.properties.title or "").strip() if book.properties else ""
    finally:
        book.close()
    return [builder.document(path, root, title or path.stem, sheets=sheets, rows=rows_kept)]


def _dialect(sample: str, suffix: str):
    import csv

    if suffix in (".tsv", ".tab"):
        return csv.excel_tab
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:  # one column, or too irregular to tell: commas
        return csv.excel


def load_csv(path: Path, root: Path) -> list[Document]:
    import csv
    import io

    text = decode_text(read_bytes(path))
    dialect = _dialect(text[:_SNIFF_CHARS], path.suffix.lower())
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        rows = [
            (number, _trimmed(values)) for number, values in enumerate(CellCount().rows(reader), 1)
        ]
    except csv.Error as err:
        raise LoadError(f"line {reader.line_num}: {err}") from None
    builder = Builder("csv", empty="no values in the table")
    kept = add_table(builder, rows)
    delimiter = getattr(dialect, "delimiter", ",")
    return [builder.document(path, root, path.stem, rows=kept, delimiter=delimiter)]
