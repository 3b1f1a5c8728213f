"""ragcli.ingest on real files with the real embedding model, FAISS and bm25s.

Incremental runs (added, updated, removed, unchanged, touched), bad files, the manifest
check and the consistency of catalog, FAISS and BM25 after every run.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers_ingest import (
    catalog_rows,
    check_consistent,
    clean_env,
    dense_top_source,
    generations,
    live_name,
    npy_files_load_without_pickle,
    one_model_load,
    sparse_sources,
    topic_text,
    write_files,
)
from pdfs import encrypted_pdf, text_pdf
from privileges import public_dir, unprivileged

from ragcli.config import Settings
from ragcli.errors import IndexStateError, RagError
from ragcli.index import Index
from ragcli.ingest import ingest
from ragcli.store.local import LocalWriter


@pytest.fixture(scope="module", autouse=True)
def _shared_model():
    with one_model_load():
        yield


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    clean_env(monkeypatch, tmp_path)


def run(project: Path, *roots: str, settings: Settings | None = None, **options):
    """Ingest ``roots`` (relative to ``project``) into ``project/.rag/default``."""
    rebuild = options.pop("rebuild", False)
    return ingest(
        LocalWriter(project / ".rag" / "default", rebuild=rebuild),
        [project / root for root in roots],
        settings or Settings(),
        base_dir=project,
        **options,
    )


@pytest.fixture(scope="session")
def built(tmp_path_factory, embed_model_path):
    """A small mixed corpus (Markdown, text, PDF) ingested once; tests only read it."""
    project = tmp_path_factory.mktemp("built")
    write_files(
        project / "docs",
        {
            "volcano.md": "# Volcanoes\n\n" + topic_text("volcano"),
            "honeybee.txt": topic_text("honeybee"),
            "notes/violin.txt": topic_text("violin"),
        },
    )
    text_pdf(project / "docs" / "glacier.pdf", [topic_text("glacier")], title="Glaciers")
    with one_model_load():
        report = run(project, "docs")
    return project, report


# --- a first ingest ---------------------------------------------------------------------


def test_first_ingest_writes_one_consistent_generation(built):
    project, report = built
    index_dir = project / ".rag" / "default"
    assert sorted(report.added) == [
        "docs/glacier.pdf",
        "docs/honeybee.txt",
        "docs/notes/violin.txt",
        "docs/volcano.md",
    ]
    assert report.updated == report.removed == report.unchanged == report.skipped == []
    assert report.generation == 1 and live_name(index_dir) == "gen-000001"
    assert generations(index_dir) == ["gen-000001"]
    counts = check_consistent(index_dir)
    assert counts == {"files": 4, "documents": 4, "chunks": report.chunks}
    assert report.chunks_added == report.chunks >= 4 and report.chunks_removed == 0
    kinds = dict(catalog_rows(index_dir, "SELECT kind, COUNT(*) FROM documents GROUP BY kind"))
    assert kinds == {"markdown": 1, "pdf": 1, "text": 2}
    manifest = json.loads((index_dir / "gen-000001" / "manifest.json").read_text())
    assert manifest["embed_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert manifest["dimension"] == 384
    assert manifest["chunking"] == {"size": 200, "overlap": 32}
    assert manifest["roots"] == [str(project / "docs")]


def test_every_document_is_found_by_sparse_and_dense_search(built):
    project, _ = built
    index_dir = project / ".rag" / "default"
    expected = {
        "caldera": "docs/volcano.md",
        "waggle": "docs/honeybee.txt",
        "horsehair": "docs/notes/violin.txt",
        "moraines": "docs/glacier.pdf",
    }
    for word, source in expected.items():
        assert sparse_sources(index_dir, word) == [source]
    assert dense_top_source(index_dir, "bees dancing to tell others about flowers") == (
        "docs/honeybee.txt"
    )
    assert dense_top_source(index_dir, "ice sheets shaping mountain valleys") == (
        "docs/glacier.pdf"
    )


def test_index_files_are_never_pickled(built):
    project, _ = built
    gen = project / ".rag" / "default" / "gen-000001"
    sparse = sorted(p.name for p in (gen / "sparse").iterdir())
    assert sparse and all(name.endswith((".npy", ".json")) for name in sparse)
    assert npy_files_load_without_pickle(gen / "sparse") >= 4  # csc data/indices/indptr, ids
    for path in (gen / "sparse").glob("*.json"):
        json.loads(path.read_text())
    assert {p.name for p in gen.iterdir()} == {
        "catalog.sqlite",
        "checksums.json",
        "dense.faiss",
        "manifest.json",
        "sparse",
    }
    # Nothing anywhere in the index is a pickle stream (protocol 2+ starts with 0x80).
    for path in gen.rglob("*"):
        if path.is_file() and path.suffix != ".npy":
            assert not path.read_bytes().startswith(b"\x80"), path


def test_second_run_on_unchanged_files_writes_nothing(built):
    project, first = built
    index_dir = project / ".rag" / "default"
    before = {p: p.stat().st_mtime_ns for p in (index_dir / "gen-000001").rglob("*")}
    report = run(project, "docs")
    assert sorted(report.unchanged) == sorted(first.added)
    assert report.added == report.updated == report.removed == report.skipped == []
    assert report.generation == 1  # the live generation, not None
    assert (report.documents, report.chunks) == (4, first.chunks)
    assert report.chunks_added == report.chunks_removed == 0
    assert report.to_dict()["counts"] == {
        "added": 0,
        "updated": 0,
        "removed": 0,
        "unchanged": 4,
        "skipped": 0,
    }
    assert generations(index_dir) == ["gen-000001"]
    assert {p: p.stat().st_mtime_ns for p in (index_dir / "gen-000001").rglob("*")} == before


# --- incremental runs on a project of their own ------------------------------------------


@pytest.fixture
def project(tmp_path) -> Path:
    write_files(
        tmp_path / "docs",
        {f"{word}.txt": topic_text(word) for word in ("volcano", "honeybee", "violin")},
    )
    report = run(tmp_path, "docs")
    assert len(report.added) == 3 and report.generation == 1
    return tmp_path


def test_changed_file_has_its_chunks_replaced(project):
    index_dir = project / ".rag" / "default"
    old_ids = catalog_rows(
        index_dir,
        "SELECT chunk_id FROM chunks JOIN documents USING (doc_id) WHERE source = ?",
        ("docs/honeybee.txt",),
    )
    assert sparse_sources(index_dir, "waggle") == ["docs/honeybee.txt"]
    (project / "docs" / "honeybee.txt").write_text(
        "Notes on the zeppelin.\n\nA zeppelin is a rigid airship filled with hydrogen.\n"
    )
    report = run(project, "docs")
    assert report.updated == ["docs/honeybee.txt"]
    assert sorted(report.unchanged) == ["docs/violin.txt", "docs/volcano.txt"]
    assert report.added == report.removed == report.skipped == []
    assert report.chunks_removed == len(old_ids) and report.chunks_added == 1
    assert report.generation == 2 and live_name(index_dir) == "gen-000002"
    counts = check_consistent(index_dir)
    assert counts == {"files": 3, "documents": 3, "chunks": 3}
    assert sparse_sources(index_dir, "waggle") == []
    assert sparse_sources(index_dir, "zeppelin airship") == ["docs/honeybee.txt"]
    texts = [row[0] for row in catalog_rows(index_dir, "SELECT text FROM chunks")]
    assert not any("waggle" in text for text in texts)
    assert sum("zeppelin" in text for text in texts) == 1
    new_ids = catalog_rows(
        index_dir,
        "SELECT chunk_id FROM chunks JOIN documents USING (doc_id) WHERE source = ?",
        ("docs/honeybee.txt",),
    )
    assert not set(old_ids) & set(new_ids)  # fresh ids, the old vectors are gone
    assert dense_top_source(index_dir, "airship") == "docs/honeybee.txt"


def test_deleted_file_is_removed(project):
    index_dir = project / ".rag" / "default"
    (project / "docs" / "violin.txt").unlink()
    report = run(project, "docs")
    assert report.removed == ["docs/violin.txt"]
    assert report.added == report.updated == report.skipped == []
    assert report.chunks_removed == 1 and report.chunks_added == 0
    assert check_consistent(index_dir) == {"files": 2, "documents": 2, "chunks": 2}
    assert sparse_sources(index_dir, "horsehair") == []
    assert catalog_rows(index_dir, "SELECT 1 FROM documents WHERE source LIKE '%violin%'") == []


def test_touch_without_change_is_unchanged(project):
    index_dir = project / ".rag" / "default"
    path = project / "docs" / "volcano.txt"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    for _ in range(2):  # the new mtime is not recorded, so the second run re-hashes too
        report = run(project, "docs")
        assert len(report.unchanged) == 3
        assert report.added == report.updated == report.removed == []
        assert report.generation == 1
    assert generations(index_dir) == ["gen-000001"]


def test_mixed_run_counts_every_outcome(project):
    index_dir = project / ".rag" / "default"
    docs = project / "docs"
    write_files(docs, {"glacier.txt": topic_text("glacier"), "broken.txt": b"\x00\x01\x02\xff"})
    (docs / "violin.txt").unlink()
    (docs / "volcano.txt").write_text(topic_text("lighthouse"))
    report = run(project, "docs")
    assert report.added == ["docs/glacier.txt"]
    assert report.updated == ["docs/volcano.txt"]
    assert report.removed == ["docs/violin.txt"]
    assert report.unchanged == ["docs/honeybee.txt"]
    assert report.skipped == [{"path": "docs/broken.txt", "reason": "binary data, not text"}]
    data = report.to_dict()
    assert data["counts"] == {"added": 1, "updated": 1, "removed": 1, "unchanged": 1, "skipped": 1}
    assert data["generation"] == 2 and data["chunks"] == 3 and data["documents"] == 3
    assert json.loads(json.dumps(data)) == data  # --json prints exactly this
    assert check_consistent(index_dir) == {"files": 3, "documents": 3, "chunks": 3}
    assert sparse_sources(index_dir, "lighthouse keeper") == ["docs/volcano.txt"]
    assert sparse_sources(index_dir, "caldera") == []


def test_previously_ingested_file_that_fails_to_load_is_removed_and_skipped(project):
    index_dir = project / ".rag" / "default"
    (project / "docs" / "violin.txt").write_bytes(b"violin \x00\x01 strings")
    report = run(project, "docs")
    assert report.removed == ["docs/violin.txt"]
    assert report.updated == report.added == []
    assert len(report.skipped) == 1
    assert report.skipped[0]["path"] == "docs/violin.txt"
    assert report.skipped[0]["reason"] == "binary data, not text"
    assert report.chunks_removed == 1
    assert check_consistent(index_dir) == {"files": 2, "documents": 2, "chunks": 2}
    assert sparse_sources(index_dir, "horsehair") == []
    # Fixed again later: it comes back as an added file.
    (project / "docs" / "violin.txt").write_text(topic_text("violin"))
    again = run(project, "docs")
    assert again.added == ["docs/violin.txt"] and again.removed == [] and again.skipped == []
    assert sparse_sources(index_dir, "horsehair") == ["docs/violin.txt"]


def test_emptied_file_is_removed_and_skipped(project):
    index_dir = project / ".rag" / "default"
    (project / "docs" / "volcano.txt").write_text("")
    report = run(project, "docs")
    assert report.removed == ["docs/volcano.txt"]
    assert report.skipped == [{"path": "docs/volcano.txt", "reason": "empty file"}]
    assert check_consistent(index_dir)["chunks"] == 2


def test_files_outside_the_given_roots_are_kept(project):
    index_dir = project / ".rag" / "default"
    write_files(project / "more", {"sourdough.txt": topic_text("sourdough")})
    report = run(project, "more")
    assert report.added == ["more/sourdough.txt"] and report.removed == []
    assert check_consistent(index_dir) == {"files": 4, "documents": 4, "chunks": 4}
    manifest = json.loads((index_dir / live_name(index_dir) / "manifest.json").read_text())
    assert manifest["roots"] == sorted([str(project / "docs"), str(project / "more")])


def test_include_filter_adds_without_dropping_the_files_it_leaves_out(project):
    index_dir = project / ".rag" / "default"
    write_files(project / "docs", {"glacier.md": "# Glaciers\n\n" + topic_text("glacier")})
    (project / "docs" / "violin.txt").unlink()
    report = run(project, "docs", include=["*.md"])
    assert report.added == ["docs/glacier.md"]
    # the .txt files the filter leaves out stay; a deleted one is still removed
    assert report.removed == ["docs/violin.txt"]
    assert check_consistent(index_dir) == {"files": 3, "documents": 3, "chunks": 3}
    assert sparse_sources(index_dir, "waggle") == ["docs/honeybee.txt"]


def test_only_one_previous_generation_is_kept(project):
    index_dir = project / ".rag" / "default"
    for number, word in enumerate(["glacier", "lighthouse", "sourdough"], start=2):
        write_files(project / "docs", {f"{word}.txt": topic_text(word)})
        assert run(project, "docs").generation == number
    assert generations(index_dir) == ["gen-000003", "gen-000004"]
    assert check_consistent(index_dir)["files"] == 6


# --- settings in the manifest ------------------------------------------------------------


def test_different_chunking_is_refused_and_rebuild_rebuilds(project):
    index_dir = project / ".rag" / "default"
    smaller = Settings(chunk_size=64, chunk_overlap=8)
    with pytest.raises(IndexStateError) as info:
        run(project, "docs", settings=smaller)
    message = str(info.value)
    assert "\n" not in message
    assert "different settings" in message and "--rebuild" in message
    assert "'size': 64" in message
    assert generations(index_dir) == ["gen-000001"]

    report = run(project, "docs", settings=smaller, rebuild=True)
    assert len(report.added) == 3 and report.unchanged == [] and report.generation == 2
    manifest = json.loads((index_dir / "gen-000002" / "manifest.json").read_text())
    assert manifest["chunking"] == {"size": 64, "overlap": 8}
    assert check_consistent(index_dir) == {"files": 3, "documents": 3, "chunks": 3}
    # From now on the new settings are the index's settings.
    assert len(run(project, "docs", settings=smaller).unchanged) == 3
    with pytest.raises(IndexStateError):
        run(project, "docs")


def test_different_model_is_refused_before_loading_it(project):
    with pytest.raises(IndexStateError, match="embed_model .*asked for 'acme/not-a-model'"):
        run(project, "docs", settings=Settings(embed_model="acme/not-a-model"))


def test_short_alias_of_the_same_model_is_accepted(project):
    report = run(project, "docs", settings=Settings(embed_model="all-MiniLM-L6-v2"))
    assert len(report.unchanged) == 3 and report.generation == 1


# --- bad input -----------------------------------------------------------------------------


def test_bad_files_are_skipped_with_one_line_reasons(tmp_path):
    docs = tmp_path / "docs"
    write_files(
        docs,
        {
            "good.txt": topic_text("glacier"),
            "corrupt.pdf": b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\ngarbage\n",
            "binary.txt": bytes(range(256)) * 4,
            "latin1.txt": "caf\xe9 cr\xe8me".encode("latin-1"),
            "empty.txt": "",
            "blank.md": "  \n\n ",
        },
    )
    encrypted_pdf(docs / "locked.pdf", "secret text", user_password="letmein")
    (docs / "dangling.txt").symlink_to(docs / "missing.txt")
    (docs / "self.txt").symlink_to(docs / "self.txt")
    (docs / "sub").mkdir()
    (docs / "sub" / "up").symlink_to(docs, target_is_directory=True)

    report = run(tmp_path, "docs")
    reasons = {skip["path"]: skip["reason"] for skip in report.skipped}
    assert report.added == ["docs/good.txt", "docs/latin1.txt"]  # Latin-1 is detected
    assert set(reasons) == {
        "docs/corrupt.pdf",
        "docs/locked.pdf",
        "docs/binary.txt",
        "docs/empty.txt",
        "docs/blank.md",
        "docs/dangling.txt",
        "docs/self.txt",
        "docs/sub/up",
    }
    assert reasons["docs/corrupt.pdf"].startswith("corrupt PDF")
    assert reasons["docs/locked.pdf"] == "encrypted PDF"
    assert reasons["docs/binary.txt"] == "binary data, not text"
    assert reasons["docs/empty.txt"] == "empty file"
    assert reasons["docs/blank.md"].startswith("empty file")
    assert reasons["docs/dangling.txt"] == "broken symlink"
    assert reasons["docs/self.txt"] == "symlink loop"
    assert reasons["docs/sub/up"] == "symlink loop"
    assert all(reason and "\n" not in reason for reason in reasons.values())
    assert report.to_dict()["counts"]["skipped"] == 8
    index_dir = tmp_path / ".rag" / "default"
    assert check_consistent(index_dir) == {"files": 2, "documents": 2, "chunks": 2}
    assert sparse_sources(index_dir, "moraines") == ["docs/good.txt"]
    assert sparse_sources(index_dir, "crème") == ["docs/latin1.txt"]

    # The same bad files on the next run: still skipped, nothing rewritten.
    again = run(tmp_path, "docs")
    assert again.unchanged == ["docs/good.txt", "docs/latin1.txt"] and len(again.skipped) == 8
    assert again.generation == 1 and generations(index_dir) == ["gen-000001"]


def test_unreadable_file_is_skipped(embed_model_path):
    with public_dir() as project:
        project.chmod(0o777)
        write_files(
            project / "docs",
            {"open.txt": topic_text("violin"), "closed.txt": topic_text("sourdough")},
        )
        (project / "docs").chmod(0o777)
        (project / "docs" / "closed.txt").chmod(0o000)
        with unprivileged() as enforced:
            report = run(project, "docs")
        if enforced:
            assert report.added == ["docs/open.txt"]
            assert report.skipped == [{"path": "docs/closed.txt", "reason": "permission denied"}]
            expected = {"files": 1, "documents": 1, "chunks": 1}
        else:  # root that may not drop privileges reads everything
            assert report.added == ["docs/closed.txt", "docs/open.txt"]
            expected = {"files": 2, "documents": 2, "chunks": 2}
        assert check_consistent(project / ".rag" / "default") == expected


def test_empty_folder_is_an_error_and_creates_nothing(tmp_path):
    (tmp_path / "empty").mkdir()
    write_files(tmp_path / "empty", {"picture.png": b"\x89PNG", ".hidden.txt": "hidden"})
    with pytest.raises(RagError, match="no supported files found under .*empty$"):
        run(tmp_path, "empty")
    assert not (tmp_path / ".rag").exists()
    with pytest.raises(RagError, match="no such file or directory"):
        run(tmp_path, "missing")
    assert not (tmp_path / ".rag").exists()


def test_empty_folder_next_to_an_existing_index_is_an_error(project):
    (project / "empty").mkdir()
    with pytest.raises(RagError, match="no supported files found"):
        run(project, "empty")
    assert generations(project / ".rag" / "default") == ["gen-000001"]


def test_folder_emptied_since_last_run_removes_its_files(project):
    for path in (project / "docs").iterdir():
        path.unlink()
    report = run(project, "docs")
    assert len(report.removed) == 3 and report.generation == 2
    assert check_consistent(project / ".rag" / "default") == {
        "files": 0,
        "documents": 0,
        "chunks": 0,
    }
    assert Index(project / ".rag" / "default").search("caldera", mode="sparse") == []


def test_stale_tmp_folder_is_cleared_even_when_nothing_changed(project):
    index_dir = project / ".rag" / "default"
    stale = index_dir / "gen-000002.tmp"
    stale.mkdir()
    (stale / "catalog.sqlite").write_bytes(b"half written")
    report = run(project, "docs")
    assert report.generation == 1 and not stale.exists()


def test_vectors_are_carried_over_not_recomputed(project):
    """Unchanged files keep their stored vectors bit for bit across a generation."""
    import faiss

    index_dir = project / ".rag" / "default"
    first = faiss.read_index(str(index_dir / "gen-000001" / "dense.faiss"))
    ids = np.sort(faiss.vector_to_array(first.id_map))
    before = first.reconstruct_batch(ids)
    write_files(project / "docs", {"glacier.txt": topic_text("glacier")})
    assert run(project, "docs").generation == 2
    second = faiss.read_index(str(index_dir / "gen-000002" / "dense.faiss"))
    assert np.array_equal(second.reconstruct_batch(ids), before)
    assert second.ntotal == len(ids) + 1


def test_rebuild_into_a_fresh_copy_keeps_the_original(project, tmp_path):
    """--rebuild writes a new generation; the old one stays readable until replaced."""
    index_dir = project / ".rag" / "default"
    copy = tmp_path / "copy"
    shutil.copytree(index_dir / "gen-000001", copy)
    report = run(project, "docs", rebuild=True)
    assert report.generation == 2 and len(report.added) == 3
    assert generations(index_dir) == ["gen-000001", "gen-000002"]
    assert (index_dir / "gen-000001" / "catalog.sqlite").read_bytes() == (
        copy / "catalog.sqlite"
    ).read_bytes()
