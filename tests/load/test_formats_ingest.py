"""`rag ingest` and `rag search --json` on a folder of office, ebook, notebook and mail
files: every file indexed, each hit located by slide, sheet and rows, cell or heading."""

from __future__ import annotations

import json
import sys

import pytest
from formats_corpus import WRITERS, make_corpus, make_pptx
from typer.testing import CliRunner

from ragcli.cli import app


@pytest.fixture(scope="module")
def project(tmp_path_factory, embed_model_path):
    root = tmp_path_factory.mktemp("formats")
    make_corpus(root / "docs")
    return root


@pytest.fixture(scope="module")
def ingested(project):
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        patch.delenv("RAG_INDEX", raising=False)
        result = CliRunner().invoke(app, ["ingest", "docs", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def search(project, ingested, monkeypatch):
    monkeypatch.chdir(project)
    monkeypatch.delenv("RAG_INDEX", raising=False)

    def run(query: str, *flags: str) -> dict:
        args = ["search", query, "--mode", "sparse", "--no-rerank", "-k", "1", "--json", *flags]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)["results"][0]

    return run


def test_every_file_of_the_folder_is_indexed(ingested):
    assert sorted(ingested["added"]) == sorted(f"docs/{name}" for name in WRITERS)
    assert ingested["skipped"] == []


@pytest.mark.parametrize(
    ("query", "source", "location"),
    [
        ("brass scissors", "docs/manual.docx", {"heading": ["Lamp", "Wick care"]}),
        (
            "mention the winter storms",
            "docs/report.pptx",
            {"slide": 2, "heading": ["Oil consumption"]},
        ),
        ("paraffin barrel", "docs/stores.xlsx", {"sheet": "Stores", "row_start": 43}),
        ("Skerryvore", "docs/stations.csv", {"row_start": 1, "row_end": 3}),
        ("red lantern", "docs/signals.odt", {"heading": ["Signals", "Night"]}),
        ("Tuesday", "docs/tides.ods", {"sheet": "Tides", "row_start": 1, "row_end": 3}),
        ("rescue boat launch", "docs/drill.odp", {"slide": 2}),
        ("whitewashed", "docs/year.epub", {"heading": ["Spring", "Painting"]}),
        ("full moon", "docs/tides.ipynb", {"cell": 3}),
        ("calm seas", "docs/delay.eml", {"heading": ["Relief boat delayed"]}),
    ],
)
def test_search_json_shows_where_each_hit_is(search, query, source, location):
    hit = search(query)
    assert hit["source"] == source
    for key, value in location.items():
        found = hit["location"][key]
        assert found == value or (key == "heading" and found[: len(value)] == value), hit


def test_plain_output_names_the_slide_and_the_rows(project, ingested, monkeypatch):
    monkeypatch.chdir(project)
    monkeypatch.delenv("RAG_INDEX", raising=False)
    runner = CliRunner()
    args = ["--mode", "sparse", "--no-rerank", "-k", "1"]
    slide = runner.invoke(app, ["search", "mention the winter storms", *args])
    assert "docs/report.pptx (slide 2, Oil consumption)" in slide.stdout
    rows = runner.invoke(app, ["search", "paraffin barrel", *args])
    assert "docs/stores.xlsx (sheet Stores, row 43)" in rows.stdout


def test_a_missing_library_skips_the_file_with_the_hint(tmp_path, monkeypatch, embed_model_path):
    (tmp_path / "docs").mkdir()
    make_pptx(tmp_path / "docs" / "report.pptx")
    (tmp_path / "docs" / "notes.txt").write_text("The keeper logs the weather.\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RAG_INDEX", raising=False)
    # What an install without python-pptx looks like, here and in the parse worker
    monkeypatch.setitem(sys.modules, "pptx", None)
    (tmp_path / "shadow" / "pptx").mkdir(parents=True)
    (tmp_path / "shadow" / "pptx" / "__init__.py").write_text("raise ImportError('no pptx')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "shadow"))
    from ragcli.load._isolate import close_workers

    close_workers()  # the next worker starts with the shadow on its path
    result = CliRunner().invoke(app, ["ingest", "docs", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["added"] == ["docs/notes.txt"]
    hint = "install python-pptx to index .pptx files (pip install python-pptx)"
    assert report["skipped"] == [{"path": "docs/report.pptx", "reason": hint}]


def test_rag_get_serves_a_presentation_by_slide(project, ingested, monkeypatch):
    monkeypatch.chdir(project)
    monkeypatch.delenv("RAG_INDEX", raising=False)
    result = CliRunner().invoke(app, ["get", "docs/report.pptx:2", "--json"])
    assert result.exit_code == 0, result.output
    served = json.loads(result.stdout)
    assert (served["unit"], served["start"], served["end"], served["total"]) == ("slide", 2, 2, 2)
    assert "Consumption fell by a third" in served["text"]
    assert "Northern station" not in served["text"]  # slide 1
