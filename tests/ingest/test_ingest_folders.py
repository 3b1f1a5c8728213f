"""Ingesting real folders: files outside the project keep a path that identifies them,
document id collisions name both places and are retried, hostile names and symlinks out
of the folder never abort a run or leak in, and every file not indexed is reported."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from helpers_ingest import (
    catalog_rows,
    check_consistent,
    clean_env,
    live_name,
    one_model_load,
    sparse_sources,
    topic_text,
    write_files,
)

from ragcli.cli import render
from ragcli.config import Settings
from ragcli.discover import OUTSIDE_LINK
from ragcli.index import Index
from ragcli.ingest import ingest
from ragcli.store.local import LocalWriter
from ragcli.store.verify import write_checksums
from ragcli.types import SearchFilter


@pytest.fixture(scope="module", autouse=True)
def _shared_model():
    with one_model_load():
        yield


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    clean_env(monkeypatch, tmp_path)


def run(project: Path, *roots: Path, **options):
    writer = LocalWriter(project / ".rag" / "default")
    return ingest(writer, list(roots), Settings(), base_dir=project, **options)


def jsonl(*records: tuple[str, str]) -> str:
    return "".join(json.dumps({"_id": i, "text": text}) + "\n" for i, text in records)


def test_folder_outside_the_project_keeps_every_file_under_its_own_path(tmp_path):
    project, corpus = tmp_path / "work", tmp_path / "corpus"
    project.mkdir()
    write_files(
        corpus,
        {
            "a/index.md": "# A\n\n" + topic_text("volcano"),
            "b/index.md": "# B\n\n" + topic_text("glacier"),
            "papers/2020/raft.txt": topic_text("lighthouse"),
        },
    )
    report = run(project, corpus)
    expected = [f"{corpus}/a/index.md", f"{corpus}/b/index.md", f"{corpus}/papers/2020/raft.txt"]
    assert report.added == expected and report.skipped == []
    index_dir = project / ".rag" / "default"
    assert check_consistent(index_dir) == {"files": 3, "documents": 3, "chunks": 3}
    assert sparse_sources(index_dir, "caldera") == [f"{corpus}/a/index.md"]
    assert sparse_sources(index_dir, "moraines") == [f"{corpus}/b/index.md"]

    index = Index(index_dir)
    for pattern, wanted in (
        ("papers/**/*.txt", [f"{corpus}/papers/2020/raft.txt"]),  # relative to the root
        (f"{corpus}/b/*.md", [f"{corpus}/b/index.md"]),  # the source as shown
        ("a/", [f"{corpus}/a/index.md"]),
    ):
        filters = SearchFilter(paths=[pattern])
        hits = index.search("night glacier lamp", k=5, mode="sparse", rerank=False, filters=filters)
        assert sorted({hit.chunk.source for hit in hits}) == wanted, pattern


def test_index_with_bare_file_name_ids_is_reindexed_under_full_paths(tmp_path):
    """Indexes made before ids were full paths: the next ingest re-indexes those files."""
    project, corpus = tmp_path / "work", tmp_path / "corpus"
    project.mkdir()
    write_files(corpus, {"a/volcano.md": topic_text("volcano")})
    run(project, corpus)
    index_dir = project / ".rag" / "default"
    full = f"{corpus}/a/volcano.md"
    db = sqlite3.connect(index_dir / live_name(index_dir) / "catalog.sqlite")
    with db:  # what the old code stored: the bare file name
        db.execute("UPDATE files SET source = 'volcano.md'")
        db.execute("UPDATE documents SET doc_id = 'volcano.md', source = 'volcano.md'")
        db.execute("UPDATE chunks SET doc_id = 'volcano.md'")
    db.close()
    write_checksums(index_dir / live_name(index_dir))  # as if the old code had written it
    assert sparse_sources(index_dir, "caldera") == ["volcano.md"]  # old index still answers

    report = run(project, corpus)
    assert report.updated == [full] and report.unchanged == []
    assert check_consistent(index_dir) == {"files": 1, "documents": 1, "chunks": 1}
    assert sparse_sources(index_dir, "caldera") == [full]
    assert run(project, corpus).unchanged == [full]


def test_jsonl_id_used_by_another_file_names_both_places_and_is_retried(tmp_path):
    project = tmp_path
    write_files(
        project / "corpus",
        {
            "a.jsonl": jsonl(("d1", topic_text("violin")), ("d2", topic_text("honeybee"))),
            "b.jsonl": jsonl(("d3", topic_text("sourdough")), ("d2", topic_text("glacier"))),
        },
    )
    report = run(project, project / "corpus")
    assert report.added == ["corpus/a.jsonl"]
    assert report.skipped == [
        {
            "path": "corpus/b.jsonl",
            "reason": "duplicate document id 'd2': line 2, and in corpus/a.jsonl line 2",
        }
    ]
    index_dir = project / ".rag" / "default"
    assert catalog_rows(index_dir, "SELECT source FROM files") == [("corpus/a.jsonl",)]

    again = run(project, project / "corpus")  # retried, not "unchanged"
    assert again.unchanged == ["corpus/a.jsonl"]
    reason = "duplicate document id 'd2': line 2, and in corpus/a.jsonl"
    assert again.skipped == [{"path": "corpus/b.jsonl", "reason": reason}]

    (project / "corpus" / "a.jsonl").unlink()
    third = run(project, project / "corpus")
    assert third.added == ["corpus/b.jsonl"] and third.removed == ["corpus/a.jsonl"]
    assert third.skipped == []
    assert sparse_sources(index_dir, "moraines") == ["corpus/b.jsonl"]


def test_bad_file_names_and_links_out_of_the_folder_do_not_stop_the_run(tmp_path):
    project = tmp_path
    docs = project / "d"
    write_files(docs, {"good.txt": topic_text("violin")})
    with open(os.fsencode(docs) + b"/bad_\xff.txt", "w") as handle:
        handle.write(topic_text("glacier"))
    (docs / "x\nrag: error: fake.txt").write_text(topic_text("honeybee"))
    (docs / "notes.txt").symlink_to("/etc/passwd")
    (docs / "s.txt").symlink_to("/proc/self/status")
    report = run(project, docs)
    reasons = {skip["path"]: skip["reason"] for skip in report.skipped}
    assert reasons == {
        "d/bad_\\xff.txt": "file name is not valid UTF-8",
        "d/notes.txt": OUTSIDE_LINK,
        "d/s.txt": OUTSIDE_LINK,
    }
    assert report.added == ["d/good.txt", "d/x\nrag: error: fake.txt"]
    index_dir = project / ".rag" / "default"
    assert sparse_sources(index_dir, "root") == []  # nothing of /etc/passwd
    json.dumps(report.to_dict(), ensure_ascii=False).encode("utf-8")  # printable as JSON

    followed = run(project, docs, follow_links=True)
    assert sorted(followed.added) == ["d/notes.txt", "d/s.txt"]


def test_summary_lists_problems_and_counts_unsupported_files_in_one_line(tmp_path, capsys):
    project = tmp_path
    write_files(
        project / "docs",
        {
            "a.md": topic_text("volcano"),
            "README": "Plain text without an extension about the lighthouse keeper.\n",
            "latin1.txt": "Caf\xe9 cr\xe8me au sourdough.\n".encode("latin-1"),
            "p1.png": b"\x89PNG\r\n\x1a\n\x00",
            "p2.png": b"\x89PNG\r\n\x1a\n\x00",
            "deck.key": b"PK\x03\x04\x00",
            "program": b"\x7fELF\x00\x00\x00",
            "empty.txt": "",
        },
    )
    (project / "docs" / "x\nrag: error: fake.txt").write_text("")
    report = run(project, project / "docs")
    assert report.added == ["docs/README", "docs/a.md", "docs/latin1.txt"]
    reasons = {skip["path"]: skip["reason"] for skip in report.to_dict()["skipped"]}
    assert reasons["docs/p1.png"] == "unsupported type .png"
    assert reasons["docs/deck.key"] == "unsupported type .key"
    assert reasons["docs/program"] == "unsupported type (binary, no extension)"
    assert report.to_dict()["counts"]["skipped"] == 6

    render.ingest_summary(report)
    err = capsys.readouterr().err.splitlines()
    assert "rag: 4 files not indexed: 2 .png, 1 (binary, no extension), 1 .key" in err
    assert "rag: skipped docs/empty.txt: empty file" in err
    assert "rag: skipped docs/x\\nrag: error: fake.txt: empty file" in err
    assert not any(line.startswith("rag: error") for line in err)


def test_many_empty_files_are_counted_in_one_line_and_other_problems_still_listed(tmp_path, capsys):
    files = {f"pkg{i}/__init__.py": "" for i in range(6)}
    files.update({"guide.md": topic_text("volcano"), "bad.txt": b"\xff\xfe\x00\x01\x02binary"})
    write_files(tmp_path / "docs", files)
    report = run(tmp_path, tmp_path / "docs")
    assert report.to_dict()["counts"]["skipped"] == 7

    render.ingest_summary(report)
    err = capsys.readouterr().err.splitlines()
    empties = [line for line in err if "empty file" in line]
    assert empties == [
        "rag: skipped 6 empty files, e.g. docs/pkg0/__init__.py (rag status --files lists them)"
    ]
    assert any(line.startswith("rag: skipped docs/bad.txt: ") for line in err)
