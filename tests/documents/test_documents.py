"""ragcli.documents: get and multi_get over an index, through the Index facade."""

from __future__ import annotations

import os

import pytest
from helpers_ingest import clean_env
from helpers_serve import build_project, long_text, reindex
from pdfs import text_pdf

from ragcli.documents import NotInIndex, hit_files, rebuild_text, split_range
from ragcli.errors import UsageError
from ragcli.index import Index


@pytest.fixture
def project(tmp_path, monkeypatch):
    clean_env(monkeypatch, tmp_path)
    root = tmp_path / "project"
    (root / "papers").mkdir(parents=True)
    text_pdf(root / "papers" / "p.pdf", ["First page about otters.", "", "Third page on kelp."])
    build_project(root)
    reindex(root, ("docs", "src", "data", "papers"))
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def index(project):
    return Index(project / ".rag" / "default")


def test_split_range():
    assert split_range("a.md:120:40") == ("a.md", 120, 40)
    assert split_range("a.md:7") == ("a.md", 7, None)
    assert split_range("a.md") == ("a.md", None, None)


def test_whole_file_is_read_from_disk_when_unchanged(index, project):
    doc = index.get("docs/guide.md")
    assert doc.text == (project / "docs" / "guide.md").read_text()
    assert (doc.origin, doc.unit, doc.start, doc.end, doc.total) == ("file", "line", 1, 7, 7)


def test_line_range_from_spec_and_numbered(index):
    doc = index.get("docs/long.txt:120:3")
    assert doc.text == "".join(long_text().splitlines(True)[119:122])
    assert (doc.start, doc.end, doc.total) == (120, 122, 400)
    assert doc.numbered().splitlines()[0] == "120  line 120 of the long notes mentions walrus120"


def test_path_forms_doc_id_and_suffix(index, project):
    by_abs = index.get(str(project / "src" / "tool.py"))
    by_suffix = index.get("tool.py")
    by_id = index.get("#src/tool.py:2:1")
    assert by_abs.source == by_suffix.source == "src/tool.py"
    assert by_id.text == "    return 'pangolin'\n"


def test_changed_file_is_served_from_the_index(index, project):
    (project / "docs" / "long.txt").write_text("all new\n")
    doc = index.get("docs/long.txt:399:2")
    assert doc.origin == "index"
    assert doc.text == "".join(long_text().splitlines(True)[398:])
    assert doc.total == 400


def test_symlink_swap_does_not_escape(index, project, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET\n")
    target = project / "src" / "tool.py"
    target.unlink()
    os.symlink(secret, target)
    doc = index.get("src/tool.py")
    assert "SECRET" not in doc.text and "pangolin" in doc.text
    assert doc.origin == "index"


@pytest.mark.parametrize(
    "spec", ["../secret.txt", "/etc/passwd", "docs/../../secret.txt", "docs/missing.md"]
)
def test_paths_outside_the_index_are_refused(index, spec):
    with pytest.raises(NotInIndex, match="not in the index"):
        index.get(spec)


def test_pdf_pages(index):
    doc = index.get("papers/p.pdf")
    assert doc.unit == "page" and doc.total == 3
    assert [number for number, _ in doc.pages] == [1, 3]
    third = index.get("papers/p.pdf:3:1")
    assert "kelp" in third.text and "otters" not in third.text
    assert "--- page 3 ---" in third.numbered()


def test_chunk_id_gives_the_chunks_lines(index):
    hit = index.search("walrus250", k=1, mode="sparse", rerank=False)[0]
    doc = index.get(str(hit.chunk.chunk_id))
    assert doc.chunk_id == hit.chunk.chunk_id
    assert (doc.start, doc.end) == (hit.chunk.location.line_start, hit.chunk.location.line_end)
    assert "walrus250" in doc.text


def test_jsonl_records_by_id_and_file(index):
    assert index.get("#rec-b").text.strip().endswith("The bittern booms across the marsh.")
    with pytest.raises(UsageError, match="holds 2 documents"):
        index.get("data/corpus.jsonl")
    assert [d.doc_id for d in index.multi_get("data/corpus.jsonl").documents] == ["rec-a", "rec-b"]


def test_max_bytes_cuts_at_a_line(index):
    doc = index.get("docs/long.txt", max_bytes=100)
    assert doc.truncated and doc.text.endswith("\n") and len(doc.text.encode()) <= 100
    assert doc.end == doc.text.count("\n")
    with pytest.raises(UsageError, match="max_bytes"):
        index.get("docs/long.txt", max_bytes=0)


def test_bad_ranges(index):
    with pytest.raises(UsageError, match="start at 1"):
        index.get("docs/long.txt", start=0)
    with pytest.raises(UsageError, match="at least 1"):
        index.get("docs/long.txt", start=3, count=0)


def test_multi_get_glob_list_limits_and_skips(index):
    found = index.multi_get("docs/**", max_bytes=50)
    assert [d.source for d in found.documents] == ["docs/guide.md", "docs/long.txt"]
    assert all(len(d.text.encode()) <= 50 for d in found.documents)
    listed = index.multi_get(["src/tool.py", "nope.md", "#rec-a"], max_documents=1)
    assert [d.source for d in listed.documents] == ["src/tool.py"]
    assert [s["spec"] for s in listed.skipped] == ["nope.md", "data/corpus.jsonl"]
    with pytest.raises(NotInIndex):
        index.multi_get(["*.nothing"])


def test_rebuild_text_fills_gaps_with_line_breaks(index):
    store = index.fresh_store()
    from ragcli.documents import _chunks_of, find_documents

    doc = find_documents(store, "docs/guide.md")[0]
    assert rebuild_text(_chunks_of(store, doc)).strip() == (
        "# Guide\n\nInstall with pip.\n\n## Usage\n\nRun the quokka command."
    )


def test_hit_files_keeps_the_best_rank_once(index):
    hits = index.search("walrus7 walrus300 quokka", k=5, mode="sparse", rerank=False)
    files = hit_files(hits)
    assert len(files) == len(set(files)) and set(files) <= {"docs/long.txt", "docs/guide.md"}


def test_a_long_lived_index_sees_a_new_generation(index, project):
    assert not index.search("narwhal", k=3, mode="sparse", rerank=False)
    old = index.fresh_store()
    (project / "docs" / "new.md").write_text("# New\n\nThe narwhal arrives.\n")
    reindex(project, ("docs", "src", "data", "papers"))
    hits = index.search("narwhal", k=3, mode="sparse", rerank=False)
    assert [h.chunk.source for h in hits] == ["docs/new.md"]
    assert index.fresh_store() is not old
    assert index.status()["generation"] == index.fresh_store().manifest["generation"]
    assert index.get("docs/new.md").text.startswith("# New")
