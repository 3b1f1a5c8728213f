"""A no-op ingest prints one line for the skipped files; `rag status --files` lists the
indexed and the skipped files with the reason (JSON too)."""

from __future__ import annotations

import json

import pytest
from helpers_ingest import clean_env, one_model_load, topic_text, write_files
from typer.testing import CliRunner

from ragcli.cli import app


@pytest.fixture(scope="module", autouse=True)
def _shared_model():
    with one_model_load():
        yield


@pytest.mark.slow  # a real ingest with the model, twice
def test_skips_are_listed_once_and_kept_for_status(tmp_path, monkeypatch):
    clean_env(monkeypatch, tmp_path)
    root = tmp_path / "project"
    write_files(root / "docs", {
        "volcano.txt": topic_text("volcano"),
        "solver.f90": "program solver\n  print *, 'walrus'\nend program solver\n",
        "toc.rst": ".. toctree::\n\n   volcano\n",
        "empty.md": "",
    })  # fmt: skip
    monkeypatch.chdir(root)
    runner = CliRunner()
    first = runner.invoke(app, ["ingest", "docs"])
    assert first.exit_code == 0, first.output
    assert "rag: skipped docs/toc.rst: no text in the reStructuredText" in first.stderr
    again = runner.invoke(app, ["ingest", "docs"])
    assert again.exit_code == 0
    assert again.stderr.strip().splitlines() == [
        "rag: 2 files skipped, as before (rag status --files lists them with the reason)"
    ]
    status = runner.invoke(app, ["status", "--files"])
    assert status.exit_code == 0
    listed = [
        line for line in status.stdout.splitlines() if line.startswith(("indexed", "skipped"))
    ]
    assert listed[:2] == ["indexed  docs/solver.f90  (code)", "indexed  docs/volcano.txt  (text)"]
    assert "skipped  docs/toc.rst  no text in the reStructuredText" in listed
    assert any(line.startswith("skipped  docs/empty.md  ") for line in listed)
    record = json.loads(runner.invoke(app, ["status", "--files", "--json"]).stdout)
    assert [e["path"] for e in record["files"]["indexed"]] == [
        "docs/solver.f90",
        "docs/volcano.txt",
    ]
    assert {e["path"] for e in record["files"]["skipped"]} == {"docs/toc.rst", "docs/empty.md"}
