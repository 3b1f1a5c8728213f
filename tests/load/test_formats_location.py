"""Locations of the office, spreadsheet and notebook formats: text, JSON, the catalog."""

from __future__ import annotations

import sqlite3

from ragcli.store.catalog import Catalog, FileRecord
from ragcli.types import Chunk, Document, Location

OLD_SCHEMA = """
CREATE TABLE files (path TEXT PRIMARY KEY, source TEXT NOT NULL, sha256 TEXT NOT NULL,
    size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ingested_at TEXT NOT NULL);
CREATE TABLE documents (doc_id TEXT PRIMARY KEY, file TEXT NOT NULL, source TEXT NOT NULL,
    kind TEXT NOT NULL, title TEXT NOT NULL, n_chunks INTEGER NOT NULL, metadata TEXT NOT NULL);
CREATE TABLE chunks (chunk_id INTEGER PRIMARY KEY, doc_id TEXT NOT NULL, ordinal INTEGER NOT NULL,
    text TEXT NOT NULL, page INTEGER, heading TEXT, line_start INTEGER, line_end INTEGER,
    char_start INTEGER NOT NULL, char_end INTEGER NOT NULL, n_tokens INTEGER NOT NULL);
INSERT INTO files VALUES ('/x/a.md', 'a.md', '00', 1, 1, 'now');
INSERT INTO documents VALUES ('a.md', '/x/a.md', 'a.md', 'markdown', 'A', 1, '{}');
INSERT INTO chunks VALUES (0, 'a.md', 0, 'hello', NULL, '["Intro"]', 1, 2, 0, 5, 1);
"""


def test_describe_names_each_new_field():
    assert Location(slide=3, heading=("Results",)).describe() == "slide 3, Results"
    assert Location(sheet="Budget", row_start=2, row_end=40).describe() == "sheet Budget, rows 2-40"
    assert Location(row_start=7, row_end=7).describe() == "row 7"
    assert Location(cell=5, line_start=1, line_end=3).describe() == "cell 5, lines 1-3"


def test_to_dict_keeps_the_old_keys_and_adds_only_set_fields():
    assert Location(page=2).to_dict() == {
        "page": 2,
        "heading": [],
        "line_start": None,
        "line_end": None,
    }
    location = Location(sheet="S", row_start=2, row_end=9)
    data = location.to_dict()
    assert data["sheet"] == "S" and data["row_start"] == 2 and data["row_end"] == 9
    assert "slide" not in data and "cell" not in data
    assert Location.from_dict(data) == location
    assert Location.from_dict({"page": 1}) == Location(page=1)


def _chunk(location: Location, chunk_id: int) -> Chunk:
    return Chunk("d", "d.xlsx", "D", "text", location, 0, 4, chunk_id, 1, chunk_id)


def test_catalog_stores_and_reads_the_new_fields(tmp_path):
    catalog = Catalog(tmp_path / "catalog.sqlite")
    catalog.add_file(FileRecord("/x/d.xlsx", "d.xlsx", "00", 1, 1), "now")
    locations = [
        Location(sheet="Q1", row_start=2, row_end=30),
        Location(slide=4, heading=("Plan",)),
        Location(cell=2, line_start=1, line_end=4),
        Location(page=1),
    ]
    doc = Document("d", "d.xlsx", "D", "xlsx", "text")
    catalog.add_document(doc, "/x/d.xlsx", [_chunk(loc, i) for i, loc in enumerate(locations)])
    catalog.commit()
    catalog.close()
    reader = Catalog(tmp_path / "catalog.sqlite", readonly=True)
    found = reader.chunks(range(len(locations)))
    assert [found[i].location for i in range(len(locations))] == locations
    reader.close()


def test_a_catalog_without_the_place_column_reads_and_migrates(tmp_path):
    path = tmp_path / "catalog.sqlite"
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    db.commit()
    db.close()
    old = Catalog(path, readonly=True)
    assert old.chunks([0])[0].location == Location(heading=("Intro",), line_start=1, line_end=2)
    old.close()

    writable = Catalog(path)  # a new generation is written from a copy of the old one
    writable.add_file(FileRecord("/x/b.csv", "b.csv", "00", 1, 1), "now")
    chunk = _chunk(Location(row_start=2, row_end=5), 1)
    writable.add_document(Document("d", "b.csv", "B", "csv", "x"), "/x/b.csv", [chunk])
    writable.commit()
    found = writable.chunks([0, 1])
    assert found[0].location.heading == ("Intro",)
    assert found[1].location == Location(row_start=2, row_end=5)
    writable.close()
