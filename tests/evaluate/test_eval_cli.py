"""`rag eval` from the command line: BEIR and question sets, sweeps, JSON, HTML, exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragcli.cli import app
from ragcli.config import Settings
from ragcli.index import Index

DATA = Path(__file__).resolve().parents[1] / "data" / "eval"
TINY = DATA / "tiny_beir"


@pytest.fixture(scope="module")
def cache_home(tmp_path_factory, embed_model_path) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def project(tmp_path_factory, embed_model_path) -> Path:
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(DATA / "project_docs", root / "docs")
    Index(root / ".rag" / "default").ingest([root / "docs"])
    return root


@pytest.fixture
def cli(tmp_path, cache_home, monkeypatch):
    """Run `rag` in an empty folder (no project): BEIR eval indexes go to the cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    monkeypatch.delenv("RAG_INDEX", raising=False)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, ["eval", *map(str, args)])

    return run


def test_beir_json_report_shape(cli):
    result = cli("--beir", TINY, "--mode", "sparse,hybrid", "--no-rerank", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) >= {
        "collection",
        "indexes",
        "metrics",
        "sort_by",
        "sweep",
        "rows",
        "best",
        "questions",
        "skipped",
        "problems",
        "timings",
    }
    assert (
        report["collection"] | {"kind": "beir", "name": "tiny_beir", "split": "test"}
        == (report["collection"])
    )
    assert report["sort_by"] == "ndcg@10"
    assert report["sweep"] == {"mode": ["sparse", "hybrid"], "rerank": [False]}
    assert len(report["rows"]) == 2
    row = report["rows"][0]
    assert row["settings"] == {
        "chunk_size": 200,
        "mode": "sparse",
        "k": 100,
        "pool_factor": Settings().pool_factor,
        "fusion": Settings().fusion,
        "alpha": Settings().alpha,
        "rerank": False,
    }
    assert set(row["mean"]) == set(report["metrics"])
    assert set(row["per_query"]["c"]) == {"top", *report["metrics"]}
    assert set(row["timings"]) >= {"search_s", "ms_per_query"}
    assert report["questions"]["c"]["relevant"] == {"t4": 2}
    assert set(report["timings"]) >= {"load_s", "index_s", "encode_queries_s", "total_s"}
    assert Path(report["indexes"][0]["path"]).is_dir()


def test_sweep_table_marks_the_best_row(cli):
    result = cli(
        "--beir", TINY, "--alpha", "0,0.5,1", "--rerank", "off", "--metrics", "ndcg@10,recall@100"
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("tiny_beir (test): 5 judged questions")
    header = lines[1].split()
    assert header[:3] == ["#", "mode", "alpha"] and "ndcg@10" in header
    rows = lines[2:5]
    cells = [line.replace("*", " ", 1).split() for line in rows]
    assert [(c[0], c[1], c[2]) for c in cells] == [
        ("1", "hybrid", "0"),
        ("2", "hybrid", "0.5"),
        ("3", "hybrid", "1"),
    ]
    assert sum(line.startswith("*") for line in rows) == 1
    assert lines[5].startswith("best by ndcg@10: row ")


def test_html_report_has_an_svg_chart(cli, tmp_path):
    out = tmp_path / "report.html"
    result = cli("--beir", TINY, "--mode", "sparse,dense", "--no-rerank", "--report", out)
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "<svg" in page and "</svg>" in page and "<rect" in page
    assert "ndcg@10" in page and "recall@100" in page
    assert "tiny_beir" in page and "mode=dense" in page
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_answers_columns(cli):
    result = cli("--beir", TINY, "--mode", "sparse", "--answers", "--json", "--sort-by", "f1")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["sort_by"] == "f1"
    assert {"em", "f1", "contains"} <= set(report["rows"][0]["mean"])


def test_question_set_against_the_located_index(project, monkeypatch, cache_home):
    monkeypatch.chdir(project / "docs")  # the index is found by walking up
    monkeypatch.delenv("RAG_INDEX", raising=False)
    result = CliRunner().invoke(
        app,
        ["eval", str(DATA / "project_questions.jsonl"), "--no-rerank", "--mode", "sparse,dense"],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("project_questions: 4 judged questions")
    assert "project_questions.jsonl:5: relevant id 'docs/missing.md'" in result.stderr


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (["bad/malformed.jsonl"], "malformed.jsonl:2: invalid JSON"),
        (["bad/empty.jsonl"], "empty.jsonl: no questions"),
        (["bad/unknown_ids.jsonl"], "unknown_ids.jsonl:1: relevant id 'rivers'"),
        (["--beir", "bad_beir"], "qrels/test.tsv:2: corpus id 'nope1' not in corpus.jsonl"),
        (["--beir", "bad_beir_line"], "qrels/test.tsv:3: expected 3 tab-separated columns"),
        (["--beir", "tiny_beir", "--split", "train"], "no qrels for split 'train'"),
    ],
)
def test_bad_input_exits_2_naming_file_and_line(project, monkeypatch, cache_home, args, where):
    monkeypatch.chdir(project)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    args = [str(DATA / a) if not a.startswith("-") and a != "train" else a for a in args]
    result = CliRunner().invoke(app, ["eval", *args, "--no-rerank"])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("rag: error: ")
    assert where in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give a JSONL question file or --beir"),
        (["q.jsonl", "--beir", "x"], "not both"),
        (["--beir", "x", "--alpha", "0,2"], "between 0 and 1"),
        (["--beir", "x", "--rerank", "on", "--no-rerank"], "not both"),
        (["--beir", "x", "--metrics", "nope@3"], "unknown metric"),
    ],
)
def test_usage_errors_exit_2(cli, args, message):
    result = cli(*args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_sort_by_an_unmeasured_metric_is_a_usage_error(cli):
    result = cli("--beir", TINY, "--mode", "sparse", "--metrics", "ndcg@10", "--sort-by", "map")
    assert result.exit_code == 2
    assert "--sort-by 'map' is not a measured metric" in result.stderr


def test_no_index_is_exit_1(cli):
    result = cli(str(DATA / "project_questions.jsonl"))
    assert result.exit_code == 1
    assert "no .rag/ index found" in result.stderr
