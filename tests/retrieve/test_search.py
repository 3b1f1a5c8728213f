"""`rag search` and Index.search on a real index: modes, filters, stdin, batch, JSON, exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragcli.cli import app
from ragcli.index import Index
from ragcli.types import SearchFilter

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "docs"


@pytest.fixture(scope="session")
def project(tmp_path_factory, embed_model_path) -> Path:
    """A project folder with the example corpus ingested once."""
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(EXAMPLES, root / "docs")
    index = Index(root / ".rag" / "default")
    report = index.ingest([root / "docs"])
    assert report.chunks > 20
    return root


@pytest.fixture
def index(project) -> Index:
    return Index(project / ".rag" / "default")


@pytest.fixture
def cli(project, monkeypatch):
    monkeypatch.chdir(project)
    monkeypatch.delenv("RAG_INDEX", raising=False)
    runner = CliRunner()

    def run(*args: str, input: str | None = None):
        return runner.invoke(app, list(args), input=input)

    return run


def test_modes_report_their_own_score_parts(index):
    dense = index.search("steam engine pressure", k=3, mode="dense", rerank=False)
    sparse = index.search("steam engine pressure", k=3, mode="sparse", rerank=False)
    hybrid = index.search("steam engine pressure", k=3, mode="hybrid", rerank=False)
    assert all(h.dense is not None and h.sparse is None for h in dense)
    assert all(h.sparse is not None and h.sparse > 0 and h.dense is None for h in sparse)
    assert all(h.dense is not None and h.sparse is not None for h in hybrid)
    assert [h.rank for h in hybrid] == [1, 2, 3]
    assert hybrid[0].chunk.source == "docs/steam_engine.md"
    assert hybrid[0].chunk.location.heading[0] == "Steam engine"


def test_alpha_edges_match_the_pure_modes(index):
    query = "which plague killed a third of Europe"
    dense = [h.chunk.chunk_id for h in index.search(query, k=4, mode="dense", rerank=False)]
    sparse = [h.chunk.chunk_id for h in index.search(query, k=4, mode="sparse", rerank=False)]
    alpha1 = [h.chunk.chunk_id for h in index.search(query, k=4, alpha=1.0, rerank=False)]
    alpha0 = [h.chunk.chunk_id for h in index.search(query, k=4, alpha=0.0, rerank=False)]
    assert alpha1 == dense
    assert alpha0 == sparse


def test_sparse_with_no_matching_term_returns_nothing(index):
    assert index.search("zzyzx qwertyuiop", mode="sparse", rerank=False) == []
    # hybrid still answers from the dense side
    assert len(index.search("zzyzx qwertyuiop", k=2, rerank=False)) == 2


def test_path_filter_still_returns_k_results(index):
    hits = index.search(
        "energy", k=5, rerank=False, filters=SearchFilter(paths=["docs/steam_engine.md"])
    )
    assert len(hits) == 5
    assert {h.chunk.source for h in hits} == {"docs/steam_engine.md"}


def test_type_and_doc_filters(index):
    html = index.search("moon landing", k=3, rerank=False, filters=SearchFilter(kinds=["html"]))
    assert html and all(h.chunk.source.endswith(".html") for h in html)
    one = index.search(
        "oxygen", k=3, rerank=False, filters=SearchFilter(doc_ids=["docs/prime_number.html"])
    )
    assert one and {h.chunk.doc_id for h in one} == {"docs/prime_number.html"}
    none = index.search("x", rerank=False, filters=SearchFilter(doc_ids=["no/such/doc"]))
    assert none == []


def test_cli_json_schema(cli):
    result = cli("search", "Tesla patents", "-k", "2", "--no-rerank", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert set(record) == {
        "query",
        "k",
        "mode",
        "alpha",
        "fusion",
        "reranked",
        "results",
        "freshness",
    }
    assert record["query"] == "Tesla patents" and record["reranked"] is False
    hit = record["results"][0]
    assert set(hit) == {
        "rank",
        "score",
        "scores",
        "chunk_id",
        "doc_id",
        "source",
        "title",
        "location",
        "text",
        "snippet",
    }
    assert set(hit["snippet"]) == {"start", "end", "text"}
    assert set(hit["scores"]) == {"dense", "sparse", "fused", "rerank"}
    assert set(hit["location"]) == {"page", "heading", "line_start", "line_end"}
    assert hit["source"] == "docs/nikola_tesla.txt"
    assert hit["location"]["line_start"] >= 1


def test_cli_plain_output_when_piped(cli):
    result = cli("search", "Tesla patents", "-k", "1", "--no-rerank")
    assert result.exit_code == 0
    assert result.stdout.startswith("1. docs/nikola_tesla.txt (lines ")
    assert "\x1b[" not in result.stdout  # no colour codes in a pipe


def test_cli_query_from_stdin(cli):
    result = cli("search", "-", "--mode", "sparse", "--json", input="prime numbers\n")
    assert result.exit_code == 0
    record = json.loads(result.stdout)
    assert record["query"] == "prime numbers"
    assert record["results"][0]["source"] == "docs/prime_number.html"


def test_cli_batch_streams_jsonl_with_ids(cli, tmp_path):
    batch = tmp_path / "queries.jsonl"
    batch.write_text(
        '{"id": "q1", "query": "Apollo moon missions"}\n\n{"id": 2, "question": "oxygen"}\n'
    )
    result = cli("search", "--batch", str(batch), "-k", "2", "--no-rerank")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["id"] for line in lines] == ["q1", "2"]
    assert all(len(line["results"]) == 2 for line in lines)


def test_cli_batch_plain_lines_from_stdin(cli):
    result = cli("search", "--batch", "-", "--mode", "sparse", input="oxygen\nsteam\n")
    assert result.exit_code == 0
    queries = [json.loads(line)["query"] for line in result.stdout.splitlines()]
    assert queries == ["oxygen", "steam"]


def test_cli_exit_codes(cli):
    nothing = cli("search", "zzyzx", "--mode", "sparse")
    assert nothing.exit_code == 1
    assert "no results" in nothing.stderr
    bad_alpha = cli("search", "x", "--alpha", "1.5")
    assert bad_alpha.exit_code == 2
    assert bad_alpha.stderr.startswith("rag: error: --alpha: alpha = 1.5 is out of range")
    bad_mode = cli("search", "x", "--mode", "semantic")
    assert bad_mode.exit_code == 2
    assert cli("search").exit_code == 2
    both = cli("search", "x", "--batch", "-")
    assert both.exit_code == 2


def test_cli_bad_batch_line_names_the_line(cli, tmp_path):
    batch = tmp_path / "bad.jsonl"
    batch.write_text('{"query": "ok"}\n{"query": \n')
    result = cli("search", "--batch", str(batch), "--no-rerank")
    assert result.exit_code == 2
    assert f"{batch}: line 2: invalid JSON" in result.stderr
    assert "Traceback" not in result.output


def test_empty_index_exits_1(tmp_path, monkeypatch, embed_model_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "empty.txt").write_text("")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    runner.invoke(app, ["ingest", "docs"])
    result = runner.invoke(app, ["search", "anything", "--no-rerank"])
    assert result.exit_code == 1
    assert "the index is empty" in result.stderr


def test_no_index_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RAG_INDEX", raising=False)
    result = CliRunner().invoke(app, ["search", "anything"])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "no .rag/ index found" in result.stderr


@pytest.mark.slow  # a fresh interpreter
def test_query_path_embeds_with_onnx_and_never_imports_torch(project):
    """After an ingest has exported the model, a search process stays clear of torch."""
    import subprocess
    import sys

    script = (
        "import sys, json\n"
        "from ragcli.index import Index\n"
        f"index = Index({str(project / '.rag' / 'default')!r})\n"
        "hits = index.search('Tesla patents', k=3, rerank=False)\n"
        "print(json.dumps({'encoder': type(index.query_encoder).__name__,\n"
        "    'source': hits[0].chunk.source,\n"
        "    'heavy': sorted(m for m in ('torch', 'transformers', 'sentence_transformers')\n"
        "                    if m in sys.modules)}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    result = json.loads(out)
    assert result == {"encoder": "OnnxEncoder", "source": "docs/nikola_tesla.txt", "heavy": []}
