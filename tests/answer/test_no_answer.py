"""`rag ask` and `rag chat` say the index has no answer when no hit is relevant (its raw
cosine below the bar), and then send no prompt to a model."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from llm_servers import FakeServer, free_port, openai_stream
from typer.testing import CliRunner

from ragcli.answer import ask
from ragcli.answer.ask import ANSWER_MIN_SCORE, NO_ANSWER
from ragcli.cli import app
from ragcli.generate import make_backend
from ragcli.index import Index

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
OFF_TOPIC = "a recipe for chocolate chip cookies"
OFF_TOPIC_MORE = (
    OFF_TOPIC,
    "how do I bake sourdough bread",
    "symptoms of the common cold",
    "how to configure nginx reverse proxy",
    "who won the 2018 world cup",
)
TESLA = "What year did Tesla die?"


@pytest.fixture
def cli(examples_project, monkeypatch, tmp_path):
    monkeypatch.chdir(examples_project)
    for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "RAG_INDEX", "RAG_LLM", "RAG_MIN_SCORE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("RAG_RERANK", "false")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    runner = CliRunner()
    return lambda *args, input=None: runner.invoke(app, list(args), input=input)


@pytest.fixture
def index(examples_project) -> Index:
    return Index(examples_project / ".rag" / "default")


def extractive(index: Index, **overrides):
    settings = index.settings.with_overrides(rerank=False, llm="extractive", **overrides)
    return settings, make_backend(settings)


def test_off_topic_question_abstains_with_its_best_cosine(index):
    settings, backend = extractive(index)
    result = ask(index, OFF_TOPIC, settings, backend=backend, cache=False)
    assert result.no_answer is True
    assert result.text.startswith(NO_ANSWER)
    assert result.sources == [] and result.citations.cited == []
    best = result.relevance["best_cosine"]
    assert best == max(h.dense for h in result.hits) and best < ANSWER_MIN_SCORE
    assert result.to_dict()["no_answer"] is True


def test_on_topic_question_answers_and_reports_its_relevance(index):
    settings, backend = extractive(index)
    result = ask(index, TESLA, settings, backend=backend, cache=False)
    assert result.no_answer is False
    assert "1943" in result.text
    assert result.relevance["best_cosine"] >= ANSWER_MIN_SCORE
    assert result.relevance["min_score"] == ANSWER_MIN_SCORE


def test_example_questions_answer_and_off_topic_ones_abstain(index):
    settings, backend = extractive(index)
    lines = (EXAMPLES / "questions.jsonl").read_text().splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()]
    assert len(questions) == 24
    for question in questions:
        assert not ask(index, question, settings, backend=backend, cache=False).no_answer
    for question in OFF_TOPIC_MORE:
        assert ask(index, question, settings, backend=backend, cache=False).no_answer


def test_min_score_raises_the_bar_and_sparse_mode_never_abstains(index):
    settings, backend = extractive(index, min_score=0.99)
    assert ask(index, TESLA, settings, backend=backend, cache=False).no_answer is True
    settings, backend = extractive(index, mode="sparse")
    sparse = ask(index, "Tesla chocolate cookies", settings, backend=backend, cache=False)
    assert sparse.no_answer is False and sparse.relevance["best_cosine"] is None


def test_min_score_that_leaves_no_hit_abstains_rather_than_failing(index):
    settings, backend = extractive(index, min_score=0.5)
    result = ask(index, OFF_TOPIC, settings, backend=backend, cache=False)
    assert result.no_answer is True and result.hits == []
    assert "no passage passed --min-score" in result.text


def test_cli_ask_says_so_plainly_with_exit_0(cli):
    plain = cli("ask", OFF_TOPIC)
    assert plain.exit_code == 0, plain.stderr
    assert plain.stdout.startswith(NO_ANSWER)
    assert "Sources" not in plain.stdout
    record = json.loads(cli("ask", OFF_TOPIC, "--json").stdout)
    assert record["no_answer"] is True and record["sources"] == []
    assert record["answer"].startswith(NO_ANSWER)
    answered = json.loads(cli("ask", TESLA, "--json").stdout)
    assert answered["no_answer"] is False and "1943" in answered["answer"]


def test_llm_gets_no_prompt_when_nothing_is_relevant(cli):
    with FakeServer(default=openai_stream(["Cookies need flour [1]."])) as server:
        args = ("--llm", "openai", "--base-url", server.url + "/v1", "--model", "m", "--json")
        off = cli("ask", OFF_TOPIC, *args, "--no-cache")
        assert off.exit_code == 0, off.stderr
        assert json.loads(off.stdout)["no_answer"] is True
        assert server.posts() == []
        on = cli("ask", TESLA, *args, "--no-cache")
        assert json.loads(on.stdout)["no_answer"] is False
        assert len(server.posts()) == 1


def test_chat_turn_abstains_and_the_next_one_answers(cli):
    result = cli("chat", "--new", "--json", input=f"{OFF_TOPIC}\n{TESLA}\n")
    assert result.exit_code == 0, result.stderr
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["no_answer"] is True and second["no_answer"] is False


def test_min_score_from_the_environment_is_range_checked(cli, monkeypatch):
    monkeypatch.setitem(os.environ, "RAG_MIN_SCORE", "1.5")
    bad = cli("ask", TESLA)
    assert bad.exit_code == 2
    assert bad.stderr.startswith("rag: error: RAG_MIN_SCORE: min_score = 1.5 is out of range")
