"""An index built by an older loader is re-read by the next `rag ingest` (not only with
--rebuild): the manifest records each kind's loader version, and files of a kind whose
loader changed are re-loaded, with one line saying why."""

from __future__ import annotations

from pathlib import Path

from helpers_ingest import clean_env, write_files
from helpers_serve import HashEncoder

from ragcli.config import load_settings
from ragcli.index import Index
from ragcli.ingest import ingest
from ragcli.load import versions
from ragcli.store.local import LocalWriter

GUIDE = "Broadcasting\n============\n\nTwo dimensions are compatible when they are equal.\n"


def run_ingest(root: Path):
    writer = LocalWriter(root / ".rag" / "default")
    return ingest(writer, [root / "docs"], load_settings(root), base_dir=root,
                  encoder=HashEncoder())  # fmt: skip


def test_files_of_a_kind_whose_loader_changed_are_loaded_again(tmp_path, monkeypatch, capsys):
    clean_env(monkeypatch, tmp_path)
    root = tmp_path / "project"
    write_files(root, {"docs/guide.rst": GUIDE, "docs/notes.txt": "Walruses sleep on ice.\n"})
    first = run_ingest(root)
    assert sorted(first.added) == ["docs/guide.rst", "docs/notes.txt"]
    manifest = Index(root / ".rag" / "default").store.manifest
    assert manifest["loaders"] == versions.loader_versions()
    assert run_ingest(root).updated == []  # nothing changed: nothing re-read
    capsys.readouterr()

    version, _ = versions.LOADER_CHANGES["rst"]
    bumped = {**versions.LOADER_CHANGES, "rst": (version + 1, "tables are rows now")}
    monkeypatch.setattr(versions, "LOADER_CHANGES", bumped)
    second = run_ingest(root)
    assert second.updated == ["docs/guide.rst"]  # the text file's loader did not change
    assert second.unchanged == ["docs/notes.txt"]
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "re-loading 1 indexed file" in err and f"rst loader {version} -> {version + 1}" in err
    assert "tables are rows now" in err
    manifest = Index(root / ".rag" / "default").store.manifest
    assert manifest["loaders"]["rst"] == version + 1
    third = run_ingest(root)
    assert third.updated == [] and capsys.readouterr().err == ""


def test_an_index_from_before_loader_versions_reads_its_changed_kinds_again():
    assert versions.stale_kinds(None) == {}  # a new index: nothing to re-read
    stale = versions.stale_kinds({})  # a manifest without "loaders": every kind at 1
    assert set(stale) == set(versions.loader_versions())
    assert versions.stale_kinds(versions.loader_versions()) == {}
