"""Search snippets show the passage that matched the query, cut on word boundaries."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ragcli.cli import app
from ragcli.text import ELLIPSIS, snippet

FILLER = " ".join(f"Sentence {n} talks about nothing in particular at all." for n in range(12))
MATCH = "The lighthouse keepers partnered with fishermen during storms."
TEXT = f"{FILLER} {MATCH} {FILLER}"


def test_the_window_holds_the_matching_sentence_not_the_chunk_start():
    shown = snippet(TEXT, "who did the lighthouse keeper partner with?", width=200)
    assert MATCH in shown.text  # "partner" matches "partnered", "keeper" "keepers"
    assert shown.text.startswith(ELLIPSIS) and shown.text.endswith(ELLIPSIS)
    assert shown.start > 0 and shown.end < len(TEXT)


def test_cuts_fall_on_word_boundaries_and_offsets_point_into_the_text():
    shown = snippet(TEXT, "fishermen storms", width=150)
    assert TEXT[shown.start - 1].isspace()
    assert shown.end == len(TEXT) or not TEXT[shown.end].isalnum()
    assert shown.end - shown.start <= 150
    inner = shown.text.removeprefix(ELLIPSIS).removesuffix(ELLIPSIS)
    assert inner == " ".join(TEXT[shown.start : shown.end].split())


def test_no_matching_term_shows_the_start():
    shown = snippet(TEXT, "zeppelin", width=120)
    assert shown.start == 0 and not shown.text.startswith(ELLIPSIS)
    assert shown.text.endswith(ELLIPSIS)


def test_a_short_text_is_shown_whole():
    shown = snippet("A short\n\nchunk.", "chunk")
    assert (shown.start, shown.end, shown.text) == (0, 15, "A short chunk.")


def test_more_distinct_terms_beat_more_repeats_of_one():
    text = f"storm storm storm storm. {FILLER} A storm hit the lighthouse. {FILLER}"
    shown = snippet(text, "storm lighthouse", width=80)
    assert "A storm hit the lighthouse." in shown.text


@pytest.fixture
def rag(examples_project, monkeypatch):
    monkeypatch.chdir(examples_project)
    monkeypatch.setenv("RAG_RERANK", "false")
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


QUESTION = "Who did Tesla partner with in 1886?"


def test_search_text_output_shows_the_matching_passage(rag):
    result = rag("search", QUESTION, "-k", "1")
    assert result.exit_code == 0, result.output
    assert "Tesla partnered with two businessmen in 1886" in result.stdout


def test_search_json_keeps_the_full_text_and_gives_the_snippet_offsets(rag):
    result = rag("search", QUESTION, "-k", "2", "--json")
    assert result.exit_code == 0, result.output
    for hit in json.loads(result.stdout)["results"]:
        shown = hit["snippet"]
        inner = shown["text"].removeprefix(ELLIPSIS).removesuffix(ELLIPSIS)
        assert inner == " ".join(hit["text"][shown["start"] : shown["end"]].split())
        assert "1886" in shown["text"]
