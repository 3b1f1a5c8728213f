"""`rag ingest` and `rag status`: where the index goes, summaries, exit codes, and the
reliability promises (a killed ingest leaves the previous generation usable; a second
writer is refused at once)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers_ingest import (
    check_consistent,
    clean_env,
    dense_top_source,
    generations,
    live_name,
    one_model_load,
    rag_command,
    run_rag,
    sparse_sources,
    subprocess_env,
    topic_text,
    write_files,
)
from typer.testing import CliRunner

from ragcli.cli import app
from ragcli.load.reading import MAX_HTML_BYTES, MAX_PLAIN_TEXT_BYTES


@pytest.fixture(scope="module", autouse=True)
def _shared_model():
    with one_model_load():
        yield


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    clean_env(monkeypatch, tmp_path)
    root = tmp_path / "project"
    write_files(
        root / "docs",
        {f"{word}.txt": topic_text(word) for word in ("volcano", "honeybee", "violin")},
    )
    monkeypatch.chdir(root)
    return root


def rag(*args: str):
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("rag: error: ")
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in lines[0]


# --- where the index lives ---------------------------------------------------------------


def test_ingest_builds_default_index_and_status_finds_it_from_below(project, monkeypatch):
    result = rag("ingest", "docs")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("3 added, 0 updated, 0 removed, 0 unchanged, 0 skipped;")
    assert "index has 3 documents, 3 chunks" in result.stdout
    index_dir = project / ".rag" / "default"
    assert live_name(index_dir) == "gen-000001"

    (project / "docs" / "deeper").mkdir()
    monkeypatch.chdir(project / "docs" / "deeper")  # walks up like git
    info = json.loads(rag("status", "--json").stdout)
    assert info["index"] == str(index_dir)
    assert info["counts"] == {"files": 3, "documents": 3, "chunks": 3}
    assert info["embed_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert info["dimension"] == 384 and info["generation"] == 1
    assert info["kinds"] == {"text": 3}
    assert info["roots"] == [str(project / "docs")]
    assert info["updated_at"] and info["total_bytes"] == sum(info["bytes"].values()) > 0
    assert set(info["bytes"]) == {
        "catalog.sqlite",
        "checksums.json",
        "dense.faiss",
        "manifest.json",
        "sparse",
    }

    text = rag("status")
    assert text.exit_code == 0
    assert f"index       {index_dir} (generation 1)" in text.stdout
    assert "files       3  documents 3  chunks 3" in text.stdout
    assert "sentence-transformers/all-MiniLM-L6-v2 (384 dims)" in text.stdout

    # A second run from below also finds the project's index instead of making one.
    again = rag("ingest", str(project / "docs"))
    assert again.exit_code == 0 and "3 unchanged" in again.stdout
    assert not (project / "docs" / "deeper" / ".rag").exists()


def test_status_without_an_index_is_a_one_line_error(project):
    assert_one_line_error(rag("status"), "no .rag/ index found")


def test_index_option_env_and_names(project, monkeypatch):
    result = rag("ingest", "docs/volcano.txt", "--index", "elsewhere/idx")
    assert result.exit_code == 0, result.stderr
    assert (project / "elsewhere" / "idx" / "CURRENT").is_file()
    assert not (project / ".rag").exists()

    monkeypatch.setenv("RAG_INDEX", str(project / "elsewhere" / "idx"))
    info = json.loads(rag("status", "--json").stdout)
    assert info["index"] == str(project / "elsewhere" / "idx")
    assert info["counts"]["files"] == 1
    monkeypatch.delenv("RAG_INDEX")

    assert rag("ingest", "docs/honeybee.txt", "--name", "bees").exit_code == 0
    assert rag("ingest", "docs").exit_code == 0
    assert sorted(p.name for p in (project / ".rag").iterdir()) == ["bees", "default"]
    bees = json.loads(rag("status", "--name", "bees", "--json").stdout)
    default = json.loads(rag("status", "--json").stdout)
    assert bees["counts"]["files"] == 1 and default["counts"]["files"] == 3
    assert sparse_sources(project / ".rag" / "bees", "caldera") == []
    assert sparse_sources(project / ".rag" / "default", "caldera") == ["docs/volcano.txt"]
    assert_one_line_error(rag("status", "--name", "bees", "--index", "x"), "either --index")


# --- incremental runs and their summaries --------------------------------------------------


def test_incremental_summary_text_and_json(project):
    assert rag("ingest", "docs").exit_code == 0
    index_dir = project / ".rag" / "default"
    same = rag("ingest", "docs")
    assert same.exit_code == 0
    assert same.stdout.startswith("0 added, 0 updated, 0 removed, 3 unchanged, 0 skipped;")
    assert generations(index_dir) == ["gen-000001"]

    docs = project / "docs"
    (docs / "violin.txt").unlink()
    (docs / "volcano.txt").write_text(topic_text("sourdough"))
    write_files(docs, {"glacier.txt": topic_text("glacier"), "noise.txt": b"\x00\x9f\x92\x96"})
    result = rag("ingest", "docs", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["counts"] == {"added": 1, "updated": 1, "removed": 1, "unchanged": 1, "skipped": 1}
    assert data["added"] == ["docs/glacier.txt"] and data["updated"] == ["docs/volcano.txt"]
    assert data["removed"] == ["docs/violin.txt"] and data["unchanged"] == ["docs/honeybee.txt"]
    assert data["skipped"] == [{"path": "docs/noise.txt", "reason": "binary data, not text"}]
    assert data["generation"] == 2 and data["chunks"] == 3 and data["documents"] == 3
    assert data["index"] == str(index_dir)
    assert result.stderr == ""  # --json: reasons are in the JSON, not on stderr

    text = rag("ingest", "docs")
    assert text.exit_code == 0
    assert text.stdout.startswith("0 added, 0 updated, 0 removed, 3 unchanged, 1 skipped;")
    # nothing changed: the skipped file is not listed again, one line says where it is
    assert text.stderr.strip().splitlines() == [
        "rag: 1 file skipped, as before (rag status --files lists them with the reason)"
    ]
    assert check_consistent(index_dir) == {"files": 3, "documents": 3, "chunks": 3}


def test_old_model_flag_still_names_the_embedding_model(project):
    assert rag("ingest", "docs").exit_code == 0
    same = rag("ingest", "docs", "--model", "sentence-transformers/all-MiniLM-L6-v2")
    assert same.exit_code == 0, same.stderr
    note = "rag: warning: --model is deprecated here; use --embed-model (the embedding model)"
    assert same.stderr.splitlines() == [note]
    other = rag("ingest", "docs", "--model", "acme/other-model")
    assert other.exit_code != 0 and other.stderr.splitlines()[0] == note
    assert other.stderr.splitlines()[1].startswith("rag: error: ")
    assert "embed_model" in other.stderr.splitlines()[1]


def test_settings_mismatch_is_refused_and_rebuild_rebuilds(project):
    assert rag("ingest", "docs").exit_code == 0
    index_dir = project / ".rag" / "default"
    refused = rag("ingest", "docs", "--chunk-size", "64")
    assert_one_line_error(refused, "different settings", "chunking", "--rebuild")
    assert_one_line_error(rag("ingest", "docs", "--embed-model", "acme/other-model"), "embed_model")
    assert generations(index_dir) == ["gen-000001"]

    rebuilt = rag("ingest", "docs", "--chunk-size", "64", "--chunk-overlap", "8", "--rebuild")
    assert rebuilt.exit_code == 0, rebuilt.stderr
    assert rebuilt.stdout.startswith("3 added")
    info = json.loads(rag("status", "--json").stdout)
    assert info["chunking"] == {"size": 64, "overlap": 8} and info["generation"] == 2
    assert check_consistent(index_dir)["chunks"] == 3


# --- exit codes ------------------------------------------------------------------------------


def test_empty_folder_and_missing_path_fail_with_one_line(project):
    (project / "empty").mkdir()
    assert_one_line_error(rag("ingest", "empty"), "no supported files found under")
    assert_one_line_error(rag("ingest", "nowhere"), "nowhere: no such file or directory")
    assert_one_line_error(
        rag("ingest", "docs", "--include", "*.pdf"),
        "no supported files found matching --include/--exclude under",
    )
    assert not (project / ".rag").exists()
    assert rag("ingest", "docs").exit_code == 0
    assert_one_line_error(rag("ingest", "empty"), "no supported files found under")
    assert generations(project / ".rag" / "default") == ["gen-000001"]


def test_only_bad_files_exit_non_zero_with_reasons(project):
    write_files(project / "bad", {"empty.txt": "", "binary.txt": b"\x00\x01\x02"})
    result = rag("ingest", "bad")
    assert result.exit_code == 1
    assert "0 added" in result.stdout and "2 skipped" in result.stdout
    assert sorted(result.stderr.strip().splitlines()) == [
        "rag: skipped bad/binary.txt: binary data, not text",
        "rag: skipped bad/empty.txt: empty file",
    ]


def test_files_over_their_format_size_limit_are_skipped_with_one_line(project):
    big = project / "big"
    big.mkdir()
    sizes = {"notes.md": MAX_PLAIN_TEXT_BYTES + 1, "page.html": MAX_HTML_BYTES + 2**20}
    for name, size in sizes.items():
        with (big / name).open("wb") as handle:
            handle.truncate(size)  # sparse: nothing is written to disk
    result = rag("ingest", "big")
    assert result.exit_code == 1
    assert sorted(result.stderr.strip().splitlines()) == [
        "rag: skipped big/notes.md: file too large (129 MiB; the limit for this format is 128 MiB)",
        "rag: skipped big/page.html: file too large (17 MiB; the limit for this format is 16 MiB)",
    ]


# --- reliability: kill and lock, in real processes ---------------------------------------


@pytest.mark.slow  # runs `rag` as a process
def test_killed_ingest_leaves_previous_generation_working(project, tmp_path):
    assert rag("ingest", "docs").exit_code == 0
    index_dir = project / ".rag" / "default"
    extra = {
        f"extra/note{n:02d}.txt": f"Field note {n}: the quokka{n} colony was counted at dawn.\n"
        for n in range(40)
    }
    write_files(project / "docs", extra)

    child = subprocess.Popen(
        [*rag_command(), "ingest", "docs"],
        cwd=project,
        env=subprocess_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not list(index_dir.glob("gen-*.tmp")):
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "no gen-*.tmp appeared"
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL

    # The killed run published nothing; its half-written folder is just left over.
    assert live_name(index_dir) == "gen-000001"
    assert [p.name for p in index_dir.glob("gen-*.tmp")] == ["gen-000002.tmp"]
    assert check_consistent(index_dir) == {"files": 3, "documents": 3, "chunks": 3}
    assert sparse_sources(index_dir, "caldera") == ["docs/volcano.txt"]
    assert sparse_sources(index_dir, "quokka7") == []
    assert dense_top_source(index_dir, "stringed instrument played with a bow") == (
        "docs/violin.txt"
    )

    after = rag("ingest", "docs")  # the lock died with the process
    assert after.exit_code == 0, after.stderr
    assert after.stdout.startswith("40 added, 0 updated, 0 removed, 3 unchanged")
    assert list(index_dir.glob("*.tmp")) == []
    assert live_name(index_dir) == "gen-000002"
    assert check_consistent(index_dir) == {"files": 43, "documents": 43, "chunks": 43}
    # the whole name first; the other notes match its part "quokka" (issue 21)
    assert sparse_sources(index_dir, "quokka7")[0] == "docs/extra/note07.txt"


HOLD_LOCK = """
import sys, time
from pathlib import Path
from ragcli.store.generations import WriteLock
with WriteLock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(120)
"""


@pytest.mark.slow  # runs `rag` as a process
def test_second_writer_fails_at_once_while_the_lock_is_held(project, tmp_path):
    index_dir = project / ".rag" / "default"
    env = subprocess_env(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(index_dir)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        result = run_rag(["ingest", "docs"], cwd=project, env=env)
        elapsed = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait(timeout=30)
        holder.stdout.close()
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0] == (
        f"rag: error: {index_dir}: another ingest is writing this index "
        f"(pid {holder.pid}); wait for it to finish"
    )
    assert elapsed < 30  # no waiting for the lock: the time is the interpreter starting
    assert not (index_dir / "CURRENT").exists()

    done = rag("ingest", "docs")  # once the holder is gone
    assert done.exit_code == 0 and done.stdout.startswith("3 added")
