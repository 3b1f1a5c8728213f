"""`rag get` and `rag search --files` in-process through the typer app."""

from __future__ import annotations

import json

import pytest
from helpers_ingest import clean_env
from helpers_serve import build_project, long_text
from typer.testing import CliRunner

from ragcli.cli import app


@pytest.fixture
def run(tmp_path, monkeypatch):
    clean_env(monkeypatch, tmp_path)
    root = build_project(tmp_path / "project")
    monkeypatch.chdir(root)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def test_get_range_plain_numbered_and_json(run):
    plain = run("get", "docs/long.txt:10:2")
    assert plain.exit_code == 0
    assert plain.stdout == "".join(long_text().splitlines(True)[9:11])
    numbered = run("get", "docs/long.txt:10:2", "-N")
    assert numbered.stdout.splitlines()[1] == "11  line 11 of the long notes mentions walrus11"
    record = json.loads(run("get", "docs/long.txt:10:2", "--json").stdout)
    assert {k: record[k] for k in ("source", "unit", "start", "end", "total", "origin")} == {
        "source": "docs/long.txt", "unit": "line", "start": 10, "end": 11, "total": 400,
        "origin": "file",
    }  # fmt: skip


def test_get_glob_prints_headers_and_json_lists(run):
    result = run("get", "docs/*", "--max-bytes", "40")
    assert result.exit_code == 0
    assert "==> docs/guide.md" in result.stdout and "==> docs/long.txt" in result.stdout
    assert "cut at --max-bytes" in result.stderr
    record = json.loads(run("get", "docs/*", "src/*", "--json").stdout)
    assert [d["source"] for d in record["documents"]] == [
        "docs/guide.md", "docs/long.txt", "src/tool.py",
    ]  # fmt: skip


def test_get_errors_are_one_line(run):
    missing = run("get", "../../etc/passwd")
    assert missing.exit_code == 1
    assert missing.stderr.strip().splitlines() == [
        "rag: error: ../../etc/passwd: not in the index (rag get serves indexed documents only)"
    ]
    bad = run("get", "docs/long.txt:0:3")
    assert bad.exit_code == 2 and "start at 1" in bad.stderr


def test_search_files_one_path_per_line(run):
    result = run("search", "walrus5 quokka pangolin", "--mode", "sparse", "--no-rerank", "--files")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert sorted(lines) == ["docs/guide.md", "docs/long.txt", "src/tool.py"]
    assert len(lines) == len(set(lines))
    nothing = run("search", "zzzunknownzzz", "--mode", "sparse", "--no-rerank", "--files")
    assert nothing.exit_code == 1 and nothing.stdout == ""
    both = run("search", "x", "--files", "--json")
    assert both.exit_code == 2
