"""Faults injected into a real local index (issue 16, defects 4, 5, 7, 9 and 14).

- every index file truncated, emptied, garbled or deleted (``corruptions.cases()``):
  a search either fails with one line naming the file or answers, with a warning, what
  the intact previous generation answers; `rag status --check` names the file; a
  no-change ingest notices and repairs the index (or says in one line that it cannot);
- a kill at each write and swap point of a commit (in-process: the step raises and the
  writer's own clean-up is skipped, as in a killed process): the previous generation
  answers byte-identical results and the next ingest matches a clean one;
- an orphan generation (renamed, never made live) never costs the live one;
- chunk ids are never reused; leftovers (``CURRENT.tmp``, half-deleted generations, a
  failed first ingest's folder) are cleaned up;
- disk full (a small tmpfs), read-only and unwritable index folders: one line each.

The index is the real thing: the real embedding model, FAISS, bm25s and SQLite.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

import pytest
from corruptions import cases
from helpers_ingest import (
    check_consistent,
    clean_env,
    generations,
    live_name,
    one_model_load,
    topic_text,
    write_files,
)
from privileges import public_dir, unprivileged

import ragcli
from ragcli.config import Settings
from ragcli.errors import IndexStateError, RagError
from ragcli.index import Index
from ragcli.ingest import ingest
from ragcli.store import local as local_store
from ragcli.store.local import LocalStore, LocalWriter

QUERY = "glowing lava from a volcano"


@pytest.fixture(scope="module", autouse=True)
def _shared_model():
    with one_model_load():
        yield


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    clean_env(monkeypatch, tmp_path)


def run_ingest(project: Path, index_dir: Path | None = None, **options):
    rebuild = options.pop("rebuild", False)
    return ingest(
        LocalWriter(index_dir or project / ".rag" / "default", rebuild=rebuild),
        [project / "docs"],
        Settings(),
        base_dir=project,
        **options,
    )


def answers(index_dir: Path) -> list[tuple[str, float]]:
    """Hybrid search results as (source, score): what a user sees."""
    index = Index(index_dir)
    try:
        index.encoder  # noqa: B018  (torch, shared: no ONNX export in these tests)
        hits = index.search(QUERY, k=4, mode="hybrid", rerank=False)
    finally:
        index.reader.close()
    return [(hit.chunk.source, round(hit.score, 5)) for hit in hits]


def first_docs(project: Path) -> None:
    write_files(
        project / "docs", {f"{w}.txt": topic_text(w) for w in ("volcano", "honeybee", "violin")}
    )


def second_docs(project: Path) -> None:
    write_files(
        project / "docs",
        {
            "glacier.txt": topic_text("glacier"),
            "volcano.txt": topic_text("volcano") + "Lava glows red.\n",
        },
    )


@pytest.fixture(scope="module")
def two_generations(tmp_path_factory, embed_model_path):
    """A project whose index has two generations; the results of each.

    Tests get it back at the same absolute path (``restore``), since the catalog keys
    files by absolute path: a copy elsewhere would be a different set of files.
    """
    project = tmp_path_factory.mktemp("faults") / "project"
    with pytest.MonkeyPatch.context() as patch:
        clean_env(patch, project)
        first_docs(project)
        run_ingest(project)
        first = answers(project / ".rag" / "default")
        second_docs(project)
        run_ingest(project)
        second = answers(project / ".rag" / "default")
    assert first != second
    pristine = project.parent / "pristine"
    shutil.copytree(project, pristine)
    return project, pristine, first, second


def restore(project: Path, pristine: Path) -> None:
    shutil.rmtree(project, ignore_errors=True)
    shutil.copytree(pristine, project)


@pytest.fixture
def damaged(two_generations):
    project, pristine, first, second = two_generations
    restore(project, pristine)
    return project, first, second


def one_line(err: BaseException) -> str:
    message = str(err)
    assert message and "\n" not in message and "Traceback" not in message
    return message


# --- damaged files ------------------------------------------------------------------


@pytest.mark.parametrize("case", cases(), ids=lambda case: case.name)
def test_a_damaged_file_is_named_and_never_answers_silently(case, damaged, capsys):
    project, first, second = damaged
    index_dir = project / ".rag" / "default"
    target = case.apply(index_dir)
    capsys.readouterr()
    try:
        found = answers(index_dir)
    except IndexStateError as err:
        assert target.name in one_line(err) or "CURRENT" in str(err)
    else:
        warning = capsys.readouterr().err
        # Either the damage is CURRENT itself and the named generation is intact, or the
        # previous generation answers; either way a warning names what is damaged.
        assert found == (second if case.file == "CURRENT" else first), warning
        assert "rag: warning:" in warning and (target.name in warning or "CURRENT" in warning)

    verdict = Index(index_dir).check()
    assert not verdict["ok"]
    assert verdict["problems"] and all(one_line(line) for line in verdict["problems"])
    assert target.name in verdict["problems"][0] or "CURRENT" in verdict["problems"][0]
    assert "rag ingest" in verdict["problems"][0]

    capsys.readouterr()
    report = run_ingest(project)  # nothing changed on disk: the damage alone is repaired
    assert "rag: warning:" in capsys.readouterr().err
    assert report.generation == 3
    assert Index(index_dir).check()["ok"]
    check_consistent(index_dir)
    assert answers(index_dir) == second
    manifest = json.loads((index_dir / "gen-000003" / "manifest.json").read_text())
    # The damaged generation is gone; the one the repair started from is kept.
    assert generations(index_dir) == sorted({"gen-000003", manifest["previous"]})


def test_no_intact_generation_is_one_line_saying_rebuild(damaged):
    project, _, _ = damaged
    index_dir = project / ".rag" / "default"
    for gen in ("gen-000001", "gen-000002"):
        (index_dir / gen / "dense.faiss").write_bytes(b"")
    with pytest.raises(IndexStateError) as err:
        answers(index_dir)
    assert "dense.faiss" in one_line(err.value) and "--rebuild" in str(err.value)
    with pytest.raises(IndexStateError) as err:
        run_ingest(project)
    assert "--rebuild" in one_line(err.value)
    report = run_ingest(project, rebuild=True)
    assert report.chunks and Index(index_dir).check()["ok"]


def test_status_check_passes_an_intact_index_and_names_the_fallback(damaged):
    project, _, _ = damaged
    verdict = Index(project / ".rag" / "default").check()
    assert verdict["ok"] and verdict["problems"] == []
    assert verdict["generation"] == "gen-000002" and verdict["previous"] == "gen-000001"
    assert verdict["previous_ok"] and verdict["files"] > 20


def test_garbled_vectors_are_caught_before_a_search_answers(damaged, capsys):
    """64 bytes changed in dense.faiss gave different results with exit 0."""
    project, first, _ = damaged
    index_dir = project / ".rag" / "default"
    path = index_dir / "gen-000002" / "dense.faiss"
    data = bytearray(path.read_bytes())
    data[-200:-136] = bytes(64)  # inside the vectors: FAISS reads it without complaint
    path.write_bytes(bytes(data))
    assert answers(index_dir) == first
    assert "dense.faiss: damaged (checksum mismatch)" in capsys.readouterr().err


def test_an_index_written_before_checksums_is_read_and_gains_them(damaged):
    """Indexes written by the previous ragcli (no checksums.json, no counter) keep working."""
    project, _, second = damaged
    index_dir = project / ".rag" / "default"
    for gen in ("gen-000001", "gen-000002"):
        (index_dir / gen / "checksums.json").unlink()
        manifest_path = index_dir / gen / "manifest.json"
        manifest = json.loads(manifest_path.read_text())
        for key in ("next_chunk_id", "previous"):
            manifest.pop(key)
        manifest_path.write_text(json.dumps(manifest))
    assert answers(index_dir) == second
    assert Index(index_dir).check()["ok"]
    (project / "docs" / "honeybee.txt").unlink()
    run_ingest(project)
    assert (index_dir / "gen-000003" / "checksums.json").is_file()
    assert json.loads((index_dir / "gen-000003" / "manifest.json").read_text())["previous"] == (
        "gen-000002"
    )
    assert Index(index_dir).check()["ok"]
    # An old generation without checksums is still checked by its structure.
    (index_dir / "gen-000002" / "sparse" / "seg-000002.ids.npy").write_bytes(b"\x93NUMPY junk")
    verdict = Index(index_dir).check()
    assert verdict["ok"] and not verdict["previous_ok"]


# --- kills at each write and swap point -----------------------------------------------


class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so nothing on the way catches it."""


RAGCLI = Path(ragcli.__file__).parent


def _killed_at(point: str, monkeypatch) -> list[str]:
    """Make the commit step ``point`` raise Killed, and skip every clean-up a killed
    process would not run (the lock is still released, as the kernel does).

    Returns where the step was killed (filled when it is): ``file:function`` of the
    ragcli code that made the call. ``os.rename``, ``os.replace`` and
    ``sqlite3.connect`` are process-wide (checkpoints, caches and readers call them
    too), so those steps are killed only at the call whose paths are the step's own.
    """
    import ragcli.store.generations as gens
    from ragcli.store import dense
    from ragcli.store.catalog import Catalog
    from ragcli.store.sparse import SparseIndex

    where: list[str] = []

    def die() -> NoReturn:
        where.append(_ragcli_caller())
        raise Killed(point)

    def kill(*args, **kwargs):
        die()

    def at_rename(matches, done_first: bool):
        """os.rename and os.replace, killed before (or after) the one matching call."""

        def wrap(original):
            def rename(src, dst, *args, **kwargs):
                if not matches(Path(src), Path(dst)):
                    return original(src, dst, *args, **kwargs)
                if done_first:
                    original(src, dst, *args, **kwargs)
                die()

            return rename

        monkeypatch.setattr(os, "rename", wrap(os.rename))
        monkeypatch.setattr(os, "replace", wrap(os.replace))

    def generation_made_complete(src: Path, dst: Path) -> bool:
        return src.name.startswith("gen-") and src.name == dst.name + ".tmp"

    def current_swapped(src: Path, dst: Path) -> bool:
        return src.name == "CURRENT.tmp" and dst.name == "CURRENT"

    def new_catalog_opened(original):
        def connect(target, *args, **kwargs):
            if str(target).endswith(".tmp/catalog.sqlite"):
                die()
            return original(target, *args, **kwargs)

        return connect

    patches = {
        "start generation": (local_store, "start_generation", kill),
        "catalog copy": (sqlite3, "connect", new_catalog_opened(sqlite3.connect)),
        "dense write": (dense, "write_index", kill),
        "catalog commit": (Catalog, "commit", kill),
        "sparse save": (SparseIndex, "save", kill),
        "checksums": (gens, "write_checksums", kill),
        "fsync": (gens, "_fsync_tree", kill),
        "old generations removed": (gens, "remove_unreferenced", kill),
    }
    renames = {
        "rename generation": (generation_made_complete, False),
        "renamed, CURRENT not replaced": (generation_made_complete, True),
        "replace CURRENT": (current_swapped, False),
        "CURRENT replaced": (current_swapped, True),
    }
    if point in renames:
        at_rename(*renames[point])
    else:
        monkeypatch.setattr(*patches[point])

    def exit_as_killed(self, *exc):
        self._lock.__exit__(None, None, None)  # the kernel drops a dead process's flock

    monkeypatch.setattr(local_store.LocalWriter, "__exit__", exit_as_killed)
    return where


def _ragcli_caller() -> str:
    """``store/local.py:commit``: the innermost ragcli function on the stack."""
    frame = sys._getframe(1)
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if path.is_relative_to(RAGCLI):
            return f"{path.relative_to(RAGCLI).as_posix()}:{frame.f_code.co_name}"
        frame = frame.f_back
    return "outside ragcli"


# The index folder after a kill at each point: (CURRENT, CURRENT.tmp, generation folders).
NOT_STARTED = ("gen-000001", None, ["gen-000001"])
BUILDING = ("gen-000001", None, ["gen-000001", "gen-000002.tmp"])
COMPLETE_NOT_LIVE = ("gen-000001", None, ["gen-000001", "gen-000002"])
POINTER_WRITTEN = ("gen-000001", "gen-000002", ["gen-000001", "gen-000002"])
LIVE = ("gen-000002", None, ["gen-000001", "gen-000002"])

# point -> (where the kill must happen, the index folder it must leave)
KILL_POINTS = {
    "start generation": ("store/local.py:_writable", NOT_STARTED),
    "catalog copy": ("store/local.py:_writable", BUILDING),
    "dense write": ("store/local.py:_write_dense", BUILDING),
    "catalog commit": ("store/local.py:commit", BUILDING),
    "sparse save": ("store/local.py:commit", BUILDING),
    "checksums": ("store/generations.py:publish_generation", BUILDING),
    "fsync": ("store/generations.py:publish_generation", BUILDING),
    "rename generation": ("store/generations.py:publish_generation", BUILDING),
    "renamed, CURRENT not replaced": (
        "store/generations.py:publish_generation",
        COMPLETE_NOT_LIVE,
    ),
    "replace CURRENT": ("store/generations.py:publish_generation", POINTER_WRITTEN),
    "CURRENT replaced": ("store/generations.py:publish_generation", LIVE),
    "old generations removed": ("store/generations.py:publish_generation", LIVE),
}


def _commit_state(index_dir: Path) -> tuple[str, str | None, list[str]]:
    pointer = index_dir / "CURRENT.tmp"
    written = pointer.read_text().strip() if pointer.exists() else None
    return live_name(index_dir), written, generations(index_dir)


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_kill_at_each_commit_step_leaves_a_working_index(point, tmp_path, monkeypatch):
    project = tmp_path / "project"
    first_docs(project)
    index_dir = project / ".rag" / "default"
    run_ingest(project)
    before = answers(index_dir)
    second_docs(project)
    with monkeypatch.context() as patch:
        where = _killed_at(point, patch)
        with pytest.raises(Killed):
            run_ingest(project)
    caller, state = KILL_POINTS[point]
    assert where == [caller]  # killed at the step the point names, not elsewhere
    assert _commit_state(index_dir) == state
    after_kill = answers(index_dir)
    if state != LIVE:
        assert after_kill == before
    check_consistent(index_dir)
    run_ingest(project)  # the next ingest finishes the job and cleans up
    clean = tmp_path / "clean"
    first_docs(clean)
    second_docs(clean)
    run_ingest(clean)
    assert answers(index_dir) == answers(clean / ".rag" / "default")
    check_consistent(index_dir)
    assert Index(index_dir).check()["ok"]
    leftovers = [p.name for p in index_dir.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    live = live_name(index_dir)
    previous = json.loads((index_dir / live / "manifest.json").read_text())["previous"]
    assert generations(index_dir) == sorted({live, previous} - {None})


def test_an_orphan_generation_never_costs_the_live_one(tmp_path, monkeypatch):
    """A kill between renaming gen-N.tmp and replacing CURRENT left a never-live gen-N;
    the next publish deleted the live generation under a reader that had it open."""
    project = tmp_path / "project"
    first_docs(project)
    index_dir = project / ".rag" / "default"
    run_ingest(project)
    second_docs(project)
    with monkeypatch.context() as patch:
        _killed_at("renamed, CURRENT not replaced", patch)
        with pytest.raises(Killed):
            run_ingest(project)
    assert generations(index_dir) == ["gen-000001", "gen-000002"]
    assert live_name(index_dir) == "gen-000001"
    reader = LocalStore(index_dir)  # opened before the next ingest; FAISS not loaded yet
    (project / "docs" / "honeybee.txt").unlink()
    run_ingest(project)
    assert live_name(index_dir) == "gen-000003"
    assert generations(index_dir) == ["gen-000001", "gen-000003"]
    import numpy as np

    ids, _ = reader.dense_search(np.ones(384, dtype=np.float32) / 384**0.5, 2)
    assert len(ids) == 2  # its files are still there
    reader.close()


# --- chunk ids and leftovers ----------------------------------------------------------


def test_chunk_ids_are_never_reused_after_a_removal(tmp_path):
    project = tmp_path / "project"
    write_files(project / "docs", {"a.txt": topic_text("volcano"), "b.txt": topic_text("violin")})
    index_dir = project / ".rag" / "default"
    run_ingest(project)
    seen = {row[0]: row[1] for row in _chunk_rows(index_dir)}
    (project / "docs" / "b.txt").unlink()
    run_ingest(project)
    write_files(project / "docs", {"c.txt": topic_text("glacier")})
    run_ingest(project)
    now = {row[0]: row[1] for row in _chunk_rows(index_dir)}
    reused = {cid for cid in now if cid in seen and seen[cid] != now[cid]}
    assert not reused
    assert min(cid for cid, doc in now.items() if doc == "docs/c.txt") > max(seen)
    manifest = json.loads((index_dir / live_name(index_dir) / "manifest.json").read_text())
    assert manifest["next_chunk_id"] == max(now) + 1


def _chunk_rows(index_dir: Path) -> list[tuple[int, str]]:
    from helpers_ingest import catalog_rows

    return catalog_rows(index_dir, "SELECT chunk_id, doc_id FROM chunks")


def test_leftovers_of_killed_runs_go_at_the_next_no_change_ingest(damaged):
    project, _, second = damaged
    index_dir = project / ".rag" / "default"
    (index_dir / "CURRENT.tmp").write_text("gen-000009\n")
    shutil.copytree(index_dir / "gen-000001", index_dir / "gen-000000")  # an old one ...
    (index_dir / "gen-000000" / "dense.faiss").unlink()  # ... half deleted by a kill
    shutil.copytree(index_dir / "gen-000001", index_dir / "gen-000004.tmp")
    report = run_ingest(project)
    assert report.generation == 2  # nothing changed: nothing written
    assert sorted(p.name for p in index_dir.iterdir()) == [
        "CURRENT",
        "cache",  # the skipped files of the last ingest (ingest.skipped)
        "gen-000001",
        "gen-000002",
        "lock",
    ]
    assert answers(index_dir) == second


def test_a_failed_first_ingest_leaves_no_index_folder(tmp_path, monkeypatch):
    project = tmp_path / "project"
    first_docs(project)

    def broken(self, texts, progress=None):
        raise RagError("the encoder failed")

    from ragcli.embed.onnx import OnnxEncoder
    from ragcli.embed.sentence_transformer import SentenceTransformerEncoder

    for encoder in (SentenceTransformerEncoder, OnnxEncoder):  # whichever is the default
        monkeypatch.setattr(encoder, "encode", broken)
    with pytest.raises(RagError, match="encoder failed"):
        run_ingest(project)
    assert not (project / ".rag").exists()


# --- disk full, read-only, unwritable -------------------------------------------------


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs (root only), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill needs root")
    where = tmp_path / "disk"
    where.mkdir()
    try:
        _mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where))
    except (subprocess.CalledProcessError, FileNotFoundError) as err:
        pytest.skip(f"cannot mount a tmpfs here ({err})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(disk: Path, leave: int) -> Path:
    filler = disk / "filler"
    stat = os.statvfs(disk)
    free = stat.f_bavail * stat.f_frsize
    with filler.open("wb") as handle:
        handle.write(b"\0" * max(0, free - leave))
    return filler


@pytest.mark.parametrize("leave", [0, 8 << 10, 24 << 10, 48 << 10, 96 << 10, 160 << 10])
def test_a_full_disk_is_one_line_and_the_index_stays_as_it_was(leave, small_disk, tmp_path):
    project = tmp_path / "project"
    first_docs(project)
    index_dir = small_disk / "index"
    run_ingest(project, index_dir)
    before = answers(index_dir)
    second_docs(project)
    filler = _fill(small_disk, leave)
    try:
        report = run_ingest(project, index_dir)
    except IndexStateError as err:
        message = one_line(err)
        assert "No space left on device" in message or "disk is full" in message
        assert live_name(index_dir) == "gen-000001"
        assert answers(index_dir) == before
    else:  # enough room after all: then it must be complete
        assert report.generation == 2
    filler.unlink()
    run_ingest(project, index_dir)
    check_consistent(index_dir)
    assert Index(index_dir).check()["ok"]
    assert [p.name for p in index_dir.iterdir() if p.name.endswith(".tmp")] == []


@pytest.fixture
def read_only(two_generations):
    """The index folder bind-mounted read-only over itself (root ignores chmod)."""
    if os.geteuid() != 0:
        pytest.skip("a read-only bind mount needs root (chmod does not stop root)")
    project, pristine, first, second = two_generations
    restore(project, pristine)
    index_dir = project / ".rag" / "default"
    try:
        _mount("--bind", str(index_dir), str(index_dir))
    except (subprocess.CalledProcessError, FileNotFoundError) as err:
        pytest.skip(f"cannot bind-mount here ({err})")
    try:
        _mount("-o", "remount,bind,ro", str(index_dir))
        yield project, second
    finally:
        subprocess.run(["umount", "-l", str(index_dir)], check=False)


def test_a_read_only_index_answers_and_refuses_writes_in_one_line(read_only):
    project, second = read_only
    index_dir = project / ".rag" / "default"
    with pytest.raises(OSError):
        (index_dir / "probe").write_text("x")  # it really is read-only, even for root
    assert answers(index_dir) == second
    assert Index(index_dir).check()["ok"]
    assert Index(index_dir).status()["counts"]["files"] == 4
    with pytest.raises(IndexStateError) as err:
        run_ingest(project)
    assert "Read-only file system" in one_line(err.value) and str(index_dir) in str(err.value)


def test_an_unwritable_index_folder_is_one_line(two_generations):
    _, pristine, _, second = two_generations
    with public_dir() as public:
        project = public / "project"
        shutil.copytree(pristine, project)
        index_dir = project / ".rag" / "default"
        for path in [index_dir, *index_dir.rglob("*")]:
            path.chmod(0o555 if path.is_dir() else 0o444)
        with unprivileged() as enforced:
            if not enforced:
                pytest.skip("root cannot drop privileges here: permissions are not enforced")
            with pytest.raises(IndexStateError) as err:
                run_ingest(project)
        assert "Permission denied" in one_line(err.value)
        assert answers(index_dir) == second
