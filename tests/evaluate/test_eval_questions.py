"""`rag eval` on a question file kept beside an ingested folder that lies outside the
project: relevant paths relative to the question file, a gold ``answer`` string, and the
metrics per ``kind`` of question."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragcli.cli import app
from ragcli.cli.evaluate import print_rich
from ragcli.errors import UsageError
from ragcli.evaluate import EvalOptions, plain_table, render_html, run_eval
from ragcli.index import Index

DOCS = {
    "docs/glaciers.md": "# Glaciers\n\nThe FROBNICATE_LIMIT setting sets how far a glacier "
    "may slide before it calves into the sea. Ice sheets grow in cold winters.\n",
    "docs/volcanoes.md": "# Volcanoes\n\nThe magma_chamber_depth value is the depth of the "
    "molten rock under a volcano; eruptions follow when pressure builds.\n",
    "docs/bees.md": "# Bees\n\nBees make honey from flower nectar, which they store in wax "
    "combs inside the hive and fan dry with their wings.\n",
}
QUESTIONS = [
    {
        "id": "id-1",
        "question": "FROBNICATE_LIMIT",
        "relevant": {"docs/glaciers.md": 1},
        "answer": "how far a glacier may slide",
        "kind": "identifier",
    },
    {
        "id": "id-2",
        "question": "magma_chamber_depth",
        "relevant": ["docs/volcanoes.md"],
        "answer": "the depth of the molten rock",
        "kind": "identifier",
    },
    {
        "id": "how-1",
        "question": "how do bees make honey from nectar",
        "relevant": {"docs/bees.md": 1},
        "answer": "from flower nectar",
        "kind": "howto",
    },
    {  # deliberately judged against the wrong file: howto scores 0.5 at hit@1
        "id": "how-2",
        "question": "how do bees store honey in combs",
        "relevant": {"docs/volcanoes.md": 1, "docs/missing.md": 1},
        "kind": "howto",
    },
    {"id": "off-1", "question": "moon landing", "relevant": {}, "answer": "", "kind": "offtopic"},
]
SPARSE = {"mode": ["sparse"], "rerank": [False]}


def write_set(folder: Path) -> Path:
    for name, text in DOCS.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    questions = folder / "questions.jsonl"
    questions.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS), encoding="utf-8")
    return questions


@pytest.fixture(scope="module")
def layout(tmp_path_factory, embed_model_path) -> dict[str, Path]:
    """``project/.rag`` holding ``shared/set``, a folder outside the project (its
    sources are absolute paths), ingested from the project as ``rag ingest ../shared/set``."""
    root = tmp_path_factory.mktemp("outside")
    project = root / "project"
    project.mkdir()
    questions = write_set(root / "shared" / "set")
    index = Index.locate(cwd=project, create=True)
    report = index.ingest([root / "shared" / "set"])
    assert report.documents == 3  # questions.jsonl is not a corpus
    return {"root": root, "project": project, "questions": questions}


def test_relevant_paths_are_relative_to_the_question_file(layout, monkeypatch):
    monkeypatch.delenv("RAG_INDEX", raising=False)
    report = run_eval(
        layout["questions"], options=EvalOptions(sweep=dict(SPARSE)), cwd=layout["project"]
    )
    glaciers = str(layout["questions"].parent / "docs" / "glaciers.md")
    assert report["questions"]["id-1"]["relevant"] == {glaciers: 1}  # the index's source
    row = report["rows"][0]
    assert row["per_query"]["id-1"]["top"][0] == glaciers
    assert row["n_queries"] == 4
    # the one path that names no indexed file is dropped and reported with its line
    assert report["skipped"]["unknown_doc_ids"] == 1
    (problem,) = report["problems"]
    assert problem["line"] == 4 and "'docs/missing.md'" in problem["message"]


def _eval_copy(layout, tmp_path, *ingest: str, extra: str | None = None):
    """Questions read from the original folder, the index built elsewhere from a copy of
    it (``ingest``: the parts of the copy ingested; ``extra``: one more copy of
    glaciers.md at that path)."""
    copy = tmp_path / "copy"
    shutil.copytree(layout["questions"].parent, copy)
    if extra:
        (copy / extra).parent.mkdir(parents=True)
        shutil.copy(copy / "docs" / "glaciers.md", copy / extra)
    index = Index(tmp_path / "elsewhere" / ".rag" / "default")
    index.ingest([copy / part for part in ingest])
    options = EvalOptions(sweep=dict(SPARSE))
    report = run_eval(layout["questions"], index=index.path, options=options, cwd=tmp_path)
    return copy, report


def test_relevant_paths_resolve_against_the_ingested_folder(layout, tmp_path, monkeypatch):
    monkeypatch.delenv("RAG_INDEX", raising=False)
    # two indexed files end with docs/glaciers.md: the ingested folder decides
    copy, report = _eval_copy(layout, tmp_path, ".", extra="old/docs/glaciers.md")
    assert report["questions"]["id-1"]["relevant"] == {str(copy / "docs" / "glaciers.md"): 1}
    assert report["rows"][0]["by_kind"]["identifier"]["mean"]["hit@1"] == 1.0


def test_relevant_paths_match_the_one_file_ending_with_them(layout, tmp_path, monkeypatch):
    monkeypatch.delenv("RAG_INDEX", raising=False)
    copy, report = _eval_copy(layout, tmp_path, "docs")  # docs/ is the ingested folder
    assert report["questions"]["id-2"]["relevant"] == {str(copy / "docs" / "volcanoes.md"): 1}
    assert report["rows"][0]["by_kind"]["identifier"]["mean"]["hit@1"] == 1.0


def test_relevant_paths_ending_two_files_match_neither(layout, tmp_path, monkeypatch):
    monkeypatch.delenv("RAG_INDEX", raising=False)
    copy, report = _eval_copy(layout, tmp_path, "docs", "old/docs", extra="old/docs/glaciers.md")
    assert report["questions"]["id-1"]["relevant"] == {}  # copy/docs/ or copy/old/docs/?
    assert report["questions"]["id-2"]["relevant"] == {str(copy / "docs" / "volcanoes.md"): 1}
    assert any("'docs/glaciers.md'" in p["message"] for p in report["problems"])


def test_no_relevant_path_resolving_is_still_a_usage_error(layout, tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"question": "x", "relevant": ["docs/ants.md"]}) + "\n")
    with pytest.raises(UsageError, match=r"q\.jsonl:1: relevant id 'docs/ants.md'"):
        run_eval(questions, cwd=layout["project"])


def test_metrics_per_kind(layout, monkeypatch):
    monkeypatch.delenv("RAG_INDEX", raising=False)
    options = EvalOptions(sweep={"mode": ["sparse", "hybrid"], "rerank": [False]})
    report = run_eval(layout["questions"], options=options, cwd=layout["project"])
    assert report["kinds"] == ["identifier", "howto"]  # offtopic questions are not run
    for row in report["rows"]:
        by_kind = row["by_kind"]
        assert set(by_kind) == {"identifier", "howto"}
        assert by_kind["identifier"]["n_queries"] == 2
        assert by_kind["identifier"]["mean"]["hit@1"] == 1.0
        assert by_kind["howto"]["mean"]["hit@1"] == 0.5
        assert row["mean"]["hit@1"] == 0.75
    text = plain_table(report)
    lines = text.splitlines()
    assert "by kind:" in lines
    kind_lines = lines[lines.index("by kind:") + 1 :]
    assert kind_lines[0].split()[:3] == ["kind", "n", "#"]
    assert kind_lines[1].split()[:4] == ["identifier", "2", "1", "sparse"]
    assert kind_lines[1].split()[5] == "1.000"  # hit@1, after mode and alpha ("-")
    assert [line.split()[0] for line in kind_lines[1:]] == ["identifier"] * 2 + ["howto"] * 2
    assert "By kind of question" in render_html(report)


def test_terminal_table_has_the_kinds_as_written(layout, monkeypatch, capsys):
    """The rich table shows a kind as the file spells it, markup and all."""
    monkeypatch.delenv("RAG_INDEX", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    questions = layout["root"] / "marked.jsonl"
    line = {"question": "FROBNICATE_LIMIT", "relevant": ["docs/glaciers.md"], "kind": "[bold]id"}
    questions.write_text(json.dumps(line) + "\n", encoding="utf-8")
    report = run_eval(questions, options=EvalOptions(sweep=dict(SPARSE)), cwd=layout["project"])
    print_rich(report)
    shown = capsys.readouterr().out
    assert "by kind" in shown
    assert "[bold]id" in shown


def test_a_set_without_kinds_has_no_kind_table(layout, tmp_path, monkeypatch):
    monkeypatch.delenv("RAG_INDEX", raising=False)
    questions = tmp_path / "q.jsonl"
    plain = {
        "question": "FROBNICATE_LIMIT",
        "relevant": [str(layout["questions"].parent / "docs" / "glaciers.md")],
    }
    questions.write_text(json.dumps(plain) + "\n")
    report = run_eval(questions, options=EvalOptions(sweep=dict(SPARSE)), cwd=layout["project"])
    assert report["kinds"] == [] and report["rows"][0]["by_kind"] == {}
    assert "by kind" not in plain_table(report)


def test_answer_strings_are_gold_answers(layout, monkeypatch):
    monkeypatch.delenv("RAG_INDEX", raising=False)
    options = EvalOptions(sweep=dict(SPARSE), answers=True)
    report = run_eval(layout["questions"], options=options, cwd=layout["project"])
    assert report["collection"]["n_with_answers"] == 3
    row = report["rows"][0]
    assert row["n_answered"] == 3
    assert row["by_kind"]["identifier"]["mean"]["contains"] is not None
    assert row["by_kind"]["howto"]["mean"]["f1"] is not None


def test_cli_eval_of_a_folder_ingested_from_outside(layout, monkeypatch, tmp_path):
    """`rag ingest ../shared/set` then `rag eval ../shared/set/questions.jsonl`."""
    monkeypatch.chdir(layout["project"])
    monkeypatch.delenv("RAG_INDEX", raising=False)
    relative = Path("..") / "shared" / "set" / "questions.jsonl"
    html = tmp_path / "report.html"
    result = CliRunner().invoke(
        app, ["eval", str(relative), "--mode", "sparse", "--no-rerank", "--report", str(html)]
    )
    assert result.exit_code == 0, result.output
    assert "by kind:" in result.stdout
    assert "relevant id 'docs/missing.md'" in result.stderr
    assert "By kind of question" in html.read_text(encoding="utf-8")
    result = CliRunner().invoke(
        app, ["eval", str(relative), "--mode", "sparse", "--no-rerank", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["rows"][0]["by_kind"]["identifier"]["mean"]["hit@1"] == 1.0
    assert report["questions"]["id-1"]["kind"] == "identifier"


def test_relevant_paths_resolve_against_the_question_file_folder_first(layout, monkeypatch):
    """A question file in a subfolder naming `../docs/...`: only its own folder resolves it
    (the ingested folder does not, and a path with `..` is never matched by its ending)."""
    monkeypatch.delenv("RAG_INDEX", raising=False)
    sub = layout["questions"].parent / "eval"
    sub.mkdir(exist_ok=True)
    questions = sub / "questions.jsonl"
    line = {"question": "FROBNICATE_LIMIT", "relevant": ["../docs/glaciers.md"], "kind": "x"}
    questions.write_text(json.dumps(line) + "\n", encoding="utf-8")
    report = run_eval(questions, options=EvalOptions(sweep=dict(SPARSE)), cwd=layout["project"])
    glaciers = str(layout["questions"].parent / "docs" / "glaciers.md")
    assert report["questions"]["1"]["relevant"] == {glaciers: 1}
    assert report["rows"][0]["mean"]["hit@1"] == 1.0
