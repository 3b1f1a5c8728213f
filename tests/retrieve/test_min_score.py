"""``min_score``: hits whose raw cosine with the query is below it are dropped, in the
library, the CLI and the served API; out-of-range values and sparse mode are refused."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ragcli.cli import app
from ragcli.config import Settings
from ragcli.errors import UsageError
from ragcli.index import Index

OFF_TOPIC = "a recipe for chocolate chip cookies"


@pytest.fixture
def index(examples_project) -> Index:
    return Index(examples_project / ".rag" / "default")


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_hits_below_the_cosine_are_dropped(index, mode):
    everything = index.search("steam engine pressure", k=10, mode=mode, rerank=False)
    bar = sorted(h.dense for h in everything)[len(everything) // 2]
    kept = index.search("steam engine pressure", k=10, mode=mode, rerank=False, min_score=bar)
    assert kept and all(h.dense >= bar for h in kept)
    assert {h.chunk.chunk_id for h in kept} >= {
        h.chunk.chunk_id for h in everything if h.dense >= bar
    }
    assert [h.rank for h in kept] == list(range(1, len(kept) + 1))


def test_off_topic_query_keeps_nothing_at_the_answer_bar(index):
    assert index.search(OFF_TOPIC, k=5, rerank=False)  # min-max still ranks something
    assert index.search(OFF_TOPIC, k=5, rerank=False, min_score=0.25) == []


def test_sparse_mode_refuses_min_score(index):
    with pytest.raises(UsageError, match="--min-score is a cosine"):
        index.search("steam", mode="sparse", rerank=False, min_score=0.2)


@pytest.mark.parametrize("value", [1.5, -2.0, float("nan")])
def test_out_of_range_is_a_usage_error(value):
    with pytest.raises(UsageError, match="--min-score: min_score"):
        Settings().with_overrides(min_score=value)


def test_settings_carry_it_into_search_params():
    assert Settings().search_params().min_score is None
    assert Settings().with_overrides(min_score=0.3).search_params().min_score == 0.3


def test_cli_search_flag(examples_project, monkeypatch):
    monkeypatch.chdir(examples_project)
    monkeypatch.setenv("RAG_RERANK", "false")
    runner = CliRunner()
    off = runner.invoke(app, ["search", OFF_TOPIC, "--min-score", "0.25", "--json"])
    assert off.exit_code == 1 and json.loads(off.stdout)["results"] == []
    on = runner.invoke(app, ["search", "steam engine", "--min-score", "0.3", "--json"])
    results = json.loads(on.stdout)["results"]
    assert results and all(r["scores"]["dense"] >= 0.3 for r in results)
    bad = runner.invoke(app, ["search", "x", "--min-score", "2"])
    assert bad.exit_code == 2 and "min_score = 2.0 is out of range" in bad.stderr
