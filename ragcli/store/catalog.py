"""The catalog: files, documents and chunks (text, location, offsets) in SQLite."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ragcli.types import EXTRA_FIELDS, Chunk, Document, Location

CATALOG_FILE = "catalog.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,      -- absolute path at ingest time
    source TEXT NOT NULL,       -- path as shown to users (relative to the project)
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ingested_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    file TEXT NOT NULL REFERENCES files(path),
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    n_chunks INTEGER NOT NULL,
    metadata TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_file ON documents(file);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id),
    ordinal INTEGER NOT NULL,
    text TEXT NOT NULL,
    page INTEGER,
    heading TEXT,               -- JSON list, outermost first
    line_start INTEGER,
    line_end INTEGER,
    char_start INTEGER NOT NULL,
    char_end INTEGER NOT NULL,
    n_tokens INTEGER NOT NULL,
    place TEXT                  -- JSON object: slide, sheet, row_start/row_end, cell
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
"""


@dataclass(frozen=True)
class FileRecord:
    path: str
    source: str
    sha256: str
    size: int
    mtime_ns: int


class Catalog:
    def __init__(self, path: Path, readonly: bool = False):
        if readonly:
            uri = f"file:{path}?mode=ro&immutable=1"
            self.db = sqlite3.connect(uri, uri=True, check_same_thread=False)
        else:
            self.db = sqlite3.connect(path)
            self.db.executescript(SCHEMA)
            _add_place_column(self.db)
        self.db.row_factory = sqlite3.Row

    def close(self) -> None:
        self.db.close()

    # reading ----------------------------------------------------------------------
    def files(self) -> dict[str, FileRecord]:
        rows = self.db.execute("SELECT path, source, sha256, size, mtime_ns FROM files")
        return {row["path"]: FileRecord(*row) for row in rows}

    def chunk_ids_of_file(self, path: str) -> list[int]:
        rows = self.db.execute(
            "SELECT c.chunk_id FROM chunks c JOIN documents d USING (doc_id) WHERE d.file = ?",
            (path,),
        )
        return [row[0] for row in rows]

    def doc_ids_of_file(self, path: str) -> list[str]:
        rows = self.db.execute("SELECT doc_id FROM documents WHERE file = ?", (path,))
        return [row[0] for row in rows]

    def has_document(self, doc_id: str) -> bool:
        row = self.db.execute("SELECT 1 FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        return row is not None

    def next_chunk_id(self) -> int:
        row = self.db.execute("SELECT MAX(chunk_id) FROM chunks").fetchone()
        return 0 if row[0] is None else row[0] + 1

    def chunks(self, chunk_ids: Sequence[int]) -> dict[int, Chunk]:
        found: dict[int, Chunk] = {}
        ids = [int(i) for i in chunk_ids]
        for start in range(0, len(ids), 900):  # SQLite's bound-parameter limit
            batch = ids[start : start + 900]
            marks = ",".join("?" * len(batch))
            rows = self.db.execute(
                "SELECT c.*, d.source, d.title FROM chunks c JOIN documents d USING (doc_id) "
                f"WHERE c.chunk_id IN ({marks})",
                batch,
            )
            for row in rows:
                found[row["chunk_id"]] = _chunk_from_row(row)
        return found

    def iter_chunk_texts(self) -> Iterator[tuple[int, str, tuple[str, ...], str]]:
        """(chunk id, document title, heading path, chunk text) in chunk id order."""
        rows = self.db.execute(
            "SELECT c.chunk_id, d.title, c.heading, c.text FROM chunks c "
            "JOIN documents d USING (doc_id) ORDER BY c.chunk_id"
        )
        for chunk_id, title, heading, text in rows:
            yield chunk_id, title, tuple(json.loads(heading)) if heading else (), text

    def documents(self) -> Iterator[sqlite3.Row]:
        yield from self.db.execute("SELECT doc_id, source, kind, title, file FROM documents")

    def chunk_ids_of_docs(self, doc_ids: Iterable[str]) -> list[int]:
        ids = list(doc_ids)
        out: list[int] = []
        for start in range(0, len(ids), 900):
            batch = ids[start : start + 900]
            marks = ",".join("?" * len(batch))
            rows = self.db.execute(f"SELECT chunk_id FROM chunks WHERE doc_id IN ({marks})", batch)
            out.extend(row[0] for row in rows)
        return out

    def counts(self) -> dict[str, int]:
        one = self.db.execute
        return {
            "files": one("SELECT COUNT(*) FROM files").fetchone()[0],
            "documents": one("SELECT COUNT(*) FROM documents").fetchone()[0],
            "chunks": one("SELECT COUNT(*) FROM chunks").fetchone()[0],
        }

    def kinds(self) -> dict[str, int]:
        rows = self.db.execute("SELECT kind, COUNT(*) FROM documents GROUP BY kind")
        return {row[0]: row[1] for row in rows}

    # writing ----------------------------------------------------------------------
    def remove_file(self, path: str) -> None:
        doc_ids = self.doc_ids_of_file(path)
        for start in range(0, len(doc_ids), 900):
            batch = doc_ids[start : start + 900]
            marks = ",".join("?" * len(batch))
            self.db.execute(f"DELETE FROM chunks WHERE doc_id IN ({marks})", batch)
            self.db.execute(f"DELETE FROM documents WHERE doc_id IN ({marks})", batch)
        self.db.execute("DELETE FROM files WHERE path = ?", (path,))

    def add_file(self, record: FileRecord, ingested_at: str) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)",
            (record.path, record.source, record.sha256, record.size, record.mtime_ns, ingested_at),
        )

    def add_document(self, doc: Document, file: str, chunks: Sequence[Chunk]) -> None:
        self.db.execute(
            "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                doc.doc_id,
                file,
                doc.source,
                doc.kind,
                doc.title,
                len(chunks),
                json.dumps(doc.metadata, default=str),
            ),
        )
        self.db.executemany(
            f"INSERT INTO chunks ({_CHUNK_COLUMNS}) VALUES ({', '.join('?' * 12)})",
            [
                (
                    chunk.chunk_id,
                    chunk.doc_id,
                    chunk.ordinal,
                    chunk.text,
                    chunk.location.page,
                    json.dumps(list(chunk.location.heading)) if chunk.location.heading else None,
                    chunk.location.line_start,
                    chunk.location.line_end,
                    chunk.start,
                    chunk.end,
                    chunk.n_tokens,
                    json.dumps(extra) if (extra := chunk.location.extra()) else None,
                )
                for chunk in chunks
            ],
        )

    def commit(self) -> None:
        self.db.commit()


_CHUNK_COLUMNS = (
    "chunk_id, doc_id, ordinal, text, page, heading, line_start, line_end, "
    "char_start, char_end, n_tokens, place"
)


def _add_place_column(db: sqlite3.Connection) -> None:
    """Catalogs written before ``place`` existed gain it when a new generation is
    written from them; read-only, they read as having no such locations."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(chunks)")}
    if "place" not in columns:
        db.execute("ALTER TABLE chunks ADD COLUMN place TEXT")


def _chunk_from_row(row: sqlite3.Row) -> Chunk:
    heading = tuple(json.loads(row["heading"])) if row["heading"] else ()
    place = row["place"] if "place" in row.keys() else None  # noqa: SIM118 (sqlite3.Row)
    extra = (
        {name: value for name, value in json.loads(place).items() if name in EXTRA_FIELDS}
        if place
        else {}
    )
    return Chunk(
        doc_id=row["doc_id"],
        source=row["source"],
        title=row["title"],
        text=row["text"],
        location=Location(
            page=row["page"],
            heading=heading,
            line_start=row["line_start"],
            line_end=row["line_end"],
            **extra,
        ),
        start=row["char_start"],
        end=row["char_end"],
        ordinal=row["ordinal"],
        n_tokens=row["n_tokens"],
        chunk_id=row["chunk_id"],
    )
