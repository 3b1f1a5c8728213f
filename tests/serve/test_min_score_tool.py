"""The served ``search`` tool takes ``min_score`` like ``rag search --min-score``."""

from __future__ import annotations

import json

from helpers_serve import tools_for
from typer.testing import CliRunner

from ragcli.cli import app


def test_search_tool_min_score_equals_the_cli(examples_project, monkeypatch):
    monkeypatch.chdir(examples_project)
    monkeypatch.setenv("RAG_RERANK", "false")
    tools = tools_for(examples_project)
    record = tools.call("search", {"query": "steam engine", "min_score": 0.3})
    assert record["results"] and all(r["scores"]["dense"] >= 0.3 for r in record["results"])
    cli = CliRunner().invoke(app, ["search", "steam engine", "--min-score", "0.3", "--json"])
    assert record == json.loads(cli.stdout)
    off = tools.call("search", {"query": "a recipe for chocolate chip cookies", "min_score": 0.25})
    assert off["results"] == []
