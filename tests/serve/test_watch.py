"""`rag watch` and the Watcher: a saved, added or deleted file is re-ingested by itself,
one ingest per burst of changes, each published as a whole generation."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
from helpers_ingest import clean_env, rag_command, run_rag, subprocess_env, write_files

from ragcli.index import Index
from ragcli.ingest.watch import Watcher


def default_sigint() -> None:
    """Ctrl-C reaches the child even when these tests run in a background job (where the
    shell starts processes with SIGINT ignored, and children inherit that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


pytestmark = pytest.mark.slow  # real embedding, file events, a `rag` process


@pytest.fixture
def project(tmp_path, monkeypatch):
    clean_env(monkeypatch, tmp_path)
    monkeypatch.setenv("RAG_RERANK", "false")
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "cache"))  # the model export made below
    root = tmp_path / "project"
    write_files(root, {"docs/a.md": "# Alpha\n\nThe aardvark digs.\n",
                       "docs/b.md": "# Beta\n\nThe bittern booms.\n"})  # fmt: skip
    env = subprocess_env(tmp_path)
    env.update(RAG_RERANK="false", RAG_CACHE_DIR=str(tmp_path / "cache"))
    done = run_rag(["ingest", "docs"], cwd=root, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return root, env


def sources(root, query: str) -> set[str]:
    hits = Index(root / ".rag" / "default").search(query, mode="sparse", rerank=False)
    return {hit.chunk.source for hit in hits}


def wait_for(condition, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("the change never became searchable")


def test_watcher_follows_saves_additions_and_deletions(project):
    root, _ = project
    reports = []
    watcher = Watcher(Index(root / ".rag" / "default"), on_ingest=reports.append).start()
    try:
        assert watcher.ready.wait(180)
        (root / "docs" / "c.md").write_text("# Gamma\n\nThe axolotl regrows limbs.\n")
        wait_for(lambda: sources(root, "axolotl") == {"docs/c.md"})
        (root / "docs" / "a.md").write_text("# Alpha\n\nThe aardvark sleeps; axolotl too.\n")
        (root / "docs" / "b.md").unlink()
        wait_for(lambda: sources(root, "axolotl") == {"docs/a.md", "docs/c.md"})
        wait_for(lambda: sources(root, "bittern") == set())
    finally:
        watcher.stop()
    assert reports and all(report.generation for report in reports)
    generations = [report.generation for report in reports]
    assert generations == sorted(set(generations))  # one ingest at a time, in order


def test_rag_watch_command(project):
    root, env = project
    watching = subprocess.Popen([*rag_command(), "watch"], cwd=root, env=env, text=True,
                                stderr=subprocess.PIPE, preexec_fn=default_sigint)  # fmt: skip
    try:
        assert "watching" in watching.stderr.readline()
        time.sleep(1.0)
        (root / "docs" / "d.md").write_text("# Delta\n\nThe dugong grazes.\n")
        line = watching.stderr.readline()
        assert line.startswith("rag: generation 2: 1 added"), line
        assert sources(root, "dugong") == {"docs/d.md"}
    finally:
        watching.send_signal(signal.SIGINT)
        rest = watching.communicate(timeout=180)[1]
    assert watching.returncode == 0 and "stopped watching" in rest
